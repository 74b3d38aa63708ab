package sampling

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/consumer"
)

// benchBatch is 100 spans of 10 traces (10 spans each) with 8 attributes.
func benchBatch(base uint64) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	ss := rs.ScopeSpans().AppendEmpty()
	for i := range 100 {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(traceID(base + uint64(i%10)))
		s.SetSpanID(pcommon.SpanID{0: byte(i), 7: 1})
		s.SetName("GET /api/orders/{id}")
		s.SetStartTimestamp(1_000_000)
		s.SetEndTimestamp(50_000_000)
		a := s.Attributes()
		a.PutStr("http.request.method", "GET")
		a.PutStr("http.route", "/api/orders/{id}")
		a.PutInt("http.response.status_code", 200)
		a.PutStr("server.address", "orders.internal")
		a.PutInt("server.port", 8443)
		a.PutStr("enduser.id", "u-42")
		a.PutStr("url.path", "/api/orders/12345")
		a.PutStr("network.protocol.version", "1.1")
	}
	return td
}

// BenchmarkTailSampling feeds 100-span batches through the stage with the
// docs recipe, deciding on a fake clock that advances 1 ms per batch
// (decision_wait 100 ms, so about 1,000 traces are held at any time), and
// reports spans/s and the heap held per held span.
func BenchmarkTailSampling(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Enabled = true
	cfg.DecisionWait = 100 * time.Millisecond
	cfg.Policies = []PolicyConfig{
		{SubPolicyConfig: SubPolicyConfig{Name: "errors", Type: "status_code", StatusCode: StatusCodeConfig{StatusCodes: []string{"ERROR"}}}},
		{SubPolicyConfig: SubPolicyConfig{Name: "slow", Type: "latency", Latency: LatencyConfig{ThresholdMs: 1000}}},
		{SubPolicyConfig: SubPolicyConfig{Name: "flagged", Type: "string_attribute", StringAttribute: StringAttributeConfig{Key: "enduser.id", Values: []string{"u-1337"}}}},
		{SubPolicyConfig: SubPolicyConfig{Name: "rest", Type: "probabilistic", Probabilistic: ProbabilisticConfig{SamplingPercentage: 5}}},
	}
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	next := consumer.TracesFunc(func(context.Context, ptrace.Traces) (consumer.Result, error) { return consumer.Result{}, nil })
	p, err := New(cfg, next, prometheus.NewRegistry(), nil, clock)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("throughput", func(b *testing.B) {
		batches := make([]ptrace.Traces, b.N)
		for i := range batches {
			batches[i] = benchBatch(uint64(i) * 10)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := p.ConsumeTraces(ctx, batches[i]); err != nil {
				b.Fatal(err)
			}
			clock.t = clock.t.Add(time.Millisecond)
			p.decideExpired(ctx)
		}
		b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "spans/s")
	})
	// Memory: the whole heap a held span costs (its pdata, the per-trace
	// copies of resource and scope, the maps and lists), measured once.
	// Run with -benchtime 1x.
	b.Run("memory", func(b *testing.B) {
		const n = 200 // batches held: 20,000 spans in 2,000 traces
		for range b.N {
			q, _ := New(cfg, next, nil, nil, clock)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for j := range n {
				q.ConsumeTraces(ctx, benchBatch(uint64(j)*10))
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(q.spans), "B/held-span")
			runtime.KeepAlive(q)
		}
	})
}
