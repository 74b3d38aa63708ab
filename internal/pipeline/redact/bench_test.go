package redact

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/consumer"
)

// realisticBatch builds n HTTP server spans with 13 attributes each, as an
// instrumented service sends them; one span in ten carries an auth header and
// a token in its URL, the rest are clean.
func realisticBatch(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.Resource().Attributes().PutStr("service.version", "1.4.2")
	rs.Resource().Attributes().PutStr("deployment.environment.name", "prod")
	ss := rs.ScopeSpans().AppendEmpty()
	for i := range n {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{0: byte(i), 15: 1})
		s.SetSpanID(pcommon.SpanID{0: byte(i), 7: 1})
		s.SetName("GET /api/orders/{id}")
		a := s.Attributes()
		a.PutStr("http.request.method", "GET")
		a.PutStr("http.route", "/api/orders/{id}")
		a.PutStr("url.path", fmt.Sprintf("/api/orders/%d", 100000+i))
		a.PutStr("url.scheme", "https")
		a.PutInt("http.response.status_code", 200)
		a.PutStr("server.address", "orders.internal.example")
		a.PutInt("server.port", 8443)
		a.PutStr("network.protocol.version", "1.1")
		a.PutStr("client.address", "10.1.2.3")
		a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36")
		a.PutStr("enduser.id", fmt.Sprintf("u-%d", i))
		a.PutInt("thread.id", 17)
		if i%10 == 0 {
			a.PutStr("url.full", "https://orders.internal.example/api/orders/1?access_token=abcdef&page=2")
			a.PutEmptySlice("http.request.header.authorization").AppendEmpty().SetStr("Bearer abcdefghijklmnop")
		} else {
			a.PutStr("url.full", fmt.Sprintf("https://orders.internal.example/api/orders/%d?page=2&sort=desc", 100000+i))
		}
	}
	return td
}

// BenchmarkRedact measures the stage per span with the default rules, on
// fresh copies of the batch (copying is excluded from the timing).
func BenchmarkRedact(b *testing.B) {
	const spans = 1000
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
	}{
		{"default", func(*Config) {}},
		{"emails_hash", func(c *Config) { c.Emails, c.EmailHashKey = EmailHash, hashKey }},
		{"blocked_patterns", func(c *Config) {
			c.BlockedKeyPatterns = []string{`(?i)ssn`}
			c.BlockedValues = []string{`\b\d{3}-\d{2}-\d{4}\b`}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := DefaultConfig()
			tc.cfg(&cfg)
			p, err := New(cfg, consumer.TracesFunc(func(context.Context, ptrace.Traces) (consumer.Result, error) {
				return consumer.Result{}, nil
			}), nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			src := realisticBatch(spans)
			copies := make([]ptrace.Traces, 16)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%len(copies) == 0 {
					b.StopTimer()
					for j := range copies {
						copies[j] = ptrace.NewTraces()
						src.CopyTo(copies[j])
					}
					b.StartTimer()
				}
				if _, err := p.ConsumeTraces(context.Background(), copies[i%len(copies)]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
		})
	}
}
