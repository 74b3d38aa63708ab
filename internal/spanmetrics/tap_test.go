package spanmetrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/minutes"
)

// TestTapCountsBeforeSampling feeds a known workload through a tap whose
// next stage drops everything: the counts are still exact.
func TestTapCountsBeforeSampling(t *testing.T) {
	clock := &fakeClock{t: t0.Add(10 * time.Second)}
	s, _ := newTestStore(t, clock, nil)
	var forwarded int
	next := consumer.TracesFunc(func(_ context.Context, td ptrace.Traces) (consumer.Result, error) {
		forwarded += td.SpanCount()
		return consumer.Result{}, nil // sampled out
	})
	tap := NewTap(s, next)
	// orders: 100 GET /orders server spans of 1..100 ms, every 10th an error;
	// 50 client spans; gateway: 20 server spans.
	for i := 1; i <= 100; i++ {
		consume(t, tap, batch(sp{service: "orders", name: "GET /orders", kind: ptrace.SpanKindServer,
			dur: time.Duration(i) * time.Millisecond, err: i%10 == 0, trace: byte(i), id: 1}))
	}
	for i := 1; i <= 50; i++ {
		consume(t, tap, batch(sp{service: "orders", name: "SELECT", kind: ptrace.SpanKindClient,
			dur: time.Millisecond, trace: byte(i), id: 2, parent: 1}))
	}
	for i := 1; i <= 20; i++ {
		consume(t, tap, batch(sp{service: "gateway", name: "proxy", kind: ptrace.SpanKindServer, dur: 5 * time.Millisecond, trace: byte(i), id: 3}))
	}
	if forwarded != 170 {
		t.Errorf("forwarded %d spans, want 170", forwarded)
	}
	clock.Set(t0.Add(60 * time.Second))
	svcs, err := s.Services(context.Background(), t0, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 2 || svcs[1].Service != "orders" {
		t.Fatalf("services %+v", svcs)
	}
	o := svcs[1]
	// Entry spans only: the 50 client spans do not count at service level.
	if o.Calls != 100 || o.Errors != 10 || o.ErrorRate != 0.1 {
		t.Errorf("orders calls/errors/rate %d/%d/%v, want 100/10/0.1", o.Calls, o.Errors, o.ErrorRate)
	}
	if o.RatePerSec != 100.0/60 {
		t.Errorf("rate %v, want %v", o.RatePerSec, 100.0/60)
	}
	for _, c := range []struct {
		got  time.Duration
		want time.Duration
	}{{o.P50, 50 * time.Millisecond}, {o.P95, 95 * time.Millisecond}, {o.P99, 99 * time.Millisecond}} {
		if rel := float64(c.got-c.want) / float64(c.want); rel > QuantileRelativeError || rel < -QuantileRelativeError {
			t.Errorf("quantile %v, want %v ± %.1f%%", c.got, c.want, 100*QuantileRelativeError)
		}
	}
	ops, err := s.Operations(context.Background(), "orders", t0, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 || ops[0].Operation != "GET /orders" || ops[0].SpanKind != "server" || ops[0].Calls != 100 ||
		ops[1].Operation != "SELECT" || ops[1].SpanKind != "client" || ops[1].Calls != 50 {
		t.Errorf("operations %+v", ops)
	}
}

func TestTapDoesNotCountOverloadedBatches(t *testing.T) {
	clock := &fakeClock{t: t0}
	s, _ := newTestStore(t, clock, nil)
	over := consumer.TracesFunc(func(context.Context, ptrace.Traces) (consumer.Result, error) {
		return consumer.Result{}, consumer.ErrOverloaded
	})
	_, err := NewTap(s, over).ConsumeTraces(context.Background(), batch(sp{service: "a", name: "x", kind: ptrace.SpanKindServer, id: 1, trace: 1}))
	if !errors.Is(err, consumer.ErrOverloaded) {
		t.Fatalf("err %v", err)
	}
	svcs, _ := s.Services(context.Background(), t0, t0.Add(time.Minute))
	if len(svcs) != 0 {
		t.Errorf("overloaded batch counted (the client will retry it): %+v", svcs)
	}
}

// A client-only service (the demo's loadgen) is measured by its root spans:
// one per action. Counting every span counted each action once per HTTP call
// it made (issue 13: 1,172 calls for 586 actions).
func TestClientOnlyServiceCountsEachActionOnce(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: t0.Add(time.Second)}
	s, b := newTestStore(t, clock, nil)
	tap := NewTap(s, dropAll)
	for a := range byte(3) {
		failed := a == 2
		consume(t, tap, batch(
			sp{service: "loadgen", name: "GET /orders", kind: ptrace.SpanKindClient, trace: a + 1, id: 2, parent: 1, dur: 10 * time.Millisecond, err: failed},
			sp{service: "orders", name: "GET /orders", kind: ptrace.SpanKindServer, trace: a + 1, id: 3, parent: 2, dur: 9 * time.Millisecond, err: failed},
			sp{service: "loadgen", name: "POST /login", kind: ptrace.SpanKindClient, trace: a + 1, id: 4, parent: 1, dur: 5 * time.Millisecond},
			sp{service: "loadgen", name: "browse", kind: ptrace.SpanKindInternal, trace: a + 1, id: 1, dur: 20 * time.Millisecond, err: failed},
		))
	}
	check := func(s *Store, when string) {
		t.Helper()
		svcs, err := s.Services(ctx, t0, t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][2]uint64{"loadgen": {3, 1}, "orders": {3, 1}}
		for _, sv := range svcs {
			if w := want[sv.Service]; sv.Calls != w[0] || sv.Errors != w[1] {
				t.Errorf("%s: %s has %d calls, %d errors; want %d, %d", when, sv.Service, sv.Calls, sv.Errors, w[0], w[1])
			}
		}
		if len(svcs) != 2 {
			t.Errorf("%s: services %+v", when, svcs)
		}
		if p95 := svcs[0].P95; p95 < 19*time.Millisecond || p95 > 21*time.Millisecond {
			t.Errorf("%s: loadgen p95 %v, want the action's 20ms", when, p95)
		}
		series, err := s.Series(ctx, SeriesQuery{Service: "loadgen", From: t0, To: t0.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if len(series) != 1 || series[0].Points[0].Calls != 3 || series[0].Points[0].Errors != 1 {
			t.Errorf("%s: loadgen series %+v, want 3 calls, 1 error", when, series)
		}
		// All spans stay visible per operation.
		ops, _ := s.Operations(ctx, "loadgen", t0, t0.Add(time.Minute))
		if len(ops) != 3 {
			t.Errorf("%s: loadgen operations %+v", when, ops)
		}
	}
	check(s, "in memory")
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Add(3 * time.Hour) // past the memory window: read back from the bucket
	s2, err := Open(ctx, Config{Storage: minutes.Storage{Bucket: b}, Clock: clock}, nil)
	if err != nil {
		t.Fatal(err)
	}
	check(s2, "after reopen")
}

// A service naming spans after raw paths gets at most MaxOperations
// operations; the rest are counted under __overflow__, in the API and in
// /metrics, and other services are unaffected.
func TestOperationsCapPerService(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: t0}
	s, _ := newTestStore(t, clock, func(c *Config) { c.MaxOperations = 3 })
	tap := NewTap(s, dropAll)
	for i := range 10 {
		consume(t, tap, batch(
			sp{service: "shipping", name: fmt.Sprintf("GET /v2/parcels/PX%06d", i), kind: ptrace.SpanKindServer, trace: 1, id: byte(i + 1)},
			sp{service: "orders", name: "GET /orders/{id}", kind: ptrace.SpanKindServer, trace: 2, id: byte(i + 1)},
		))
	}
	ops, _ := s.Operations(ctx, "shipping", t0, t0.Add(time.Minute))
	if len(ops) != 4 || ops[3].Operation != OverflowOperation || ops[3].Calls != 7 {
		t.Errorf("shipping operations %+v, want 3 and __overflow__ with 7 calls", ops)
	}
	ops, _ = s.Operations(ctx, "orders", t0, t0.Add(time.Minute))
	if len(ops) != 1 || ops[0].Calls != 10 {
		t.Errorf("orders operations %+v", ops)
	}
	text := scrape(t, s)
	for _, want := range []string{
		`clew_spanmetrics_calls_total{operation="__overflow__",service="shipping",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"} 7`,
		`clew_spanmetrics_calls_total{operation="GET /v2/parcels/PX000002",service="shipping",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"} 1`,
		`clew_spanmetrics_overflow_spans_total{kind="operations"} 7`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(text, "PX000003") {
		t.Error("/metrics has a fourth shipping operation")
	}
}

func TestSeriesAndStep(t *testing.T) {
	clock := &fakeClock{t: t0}
	s, _ := newTestStore(t, clock, nil)
	tap := NewTap(s, dropAll)
	for m := range 5 {
		clock.Set(t0.Add(time.Duration(m)*time.Minute + time.Second))
		for i := 0; i <= m; i++ {
			consume(t, tap, batch(sp{service: "a", name: "op" + string(rune('0'+i%2)), kind: ptrace.SpanKindServer, trace: 1, id: byte(i + 1), dur: time.Millisecond}))
		}
	}
	clock.Set(t0.Add(10 * time.Minute))
	series, err := s.Series(context.Background(), SeriesQuery{Service: "a", From: t0, To: t0.Add(6 * time.Minute), Step: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 1 || len(series[0].Points) != 3 {
		t.Fatalf("series %+v", series)
	}
	want := []uint64{1 + 2, 3 + 4, 5}
	for i, p := range series[0].Points {
		if p.Calls != want[i] || !p.Time.Equal(t0.Add(time.Duration(2*i)*time.Minute)) {
			t.Errorf("point %d: %v calls %d, want %d", i, p.Time, p.Calls, want[i])
		}
	}
	if r := series[0].Points[0].RatePerSec; r != 3.0/120 {
		t.Errorf("rate %v", r)
	}
	grouped, err := s.Series(context.Background(), SeriesQuery{Service: "a", From: t0, To: t0.Add(5 * time.Minute), GroupByOperation: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(grouped) != 2 || grouped[0].Operation != "op0" || grouped[0].Points[4].Calls != 3 || grouped[1].Points[4].Calls != 2 {
		t.Errorf("grouped %+v", grouped)
	}
	if _, err := s.Series(context.Background(), SeriesQuery{Service: "a", From: t0, To: t0.Add(time.Minute), SpanKind: "sideways"}); !errors.Is(err, ErrBadQuery) {
		t.Errorf("bad kind: %v", err)
	}
}

func TestCardinalityCap(t *testing.T) {
	clock := &fakeClock{t: t0}
	s, _ := newTestStore(t, clock, func(c *Config) { c.MaxSeries = 10 })
	tap := NewTap(s, dropAll)
	for i := range 200 {
		consume(t, tap, batch(sp{service: "a", name: "op" + string(rune('A'+i%50)), kind: ptrace.SpanKindServer, trace: 1, id: byte(i + 1)}))
	}
	s.mu.Lock()
	n := len(s.open.Series)
	s.mu.Unlock()
	if n > 10+overflowReserve(10)+18 {
		t.Errorf("%d series, cap 10", n)
	}
	ops, _ := s.Operations(context.Background(), "a", t0, t0.Add(time.Minute))
	var total, overflow uint64
	for _, o := range ops {
		total += o.Calls
		if o.Operation == OverflowOperation {
			overflow = o.Calls
		}
	}
	if total != 200 || overflow != 200-4*10 {
		t.Errorf("total %d overflow %d, want 200 and 160 (ops)", total, overflow)
	}
}

func BenchmarkTap(b *testing.B) {
	clock := &fakeClock{t: t0}
	s, _ := newTestStoreB(b, clock)
	tap := NewTap(s, dropAll)
	const n = 100
	spans := make([]sp, 0, n)
	for i := range n {
		kind := ptrace.SpanKindServer
		if i%2 == 1 {
			kind = ptrace.SpanKindClient
		}
		spans = append(spans, sp{service: "svc" + string(rune('a'+i%5)), name: "op" + string(rune('a'+i%20)), kind: kind,
			dur: time.Duration(i+1) * time.Millisecond, trace: byte(i / 10), id: byte(i + 1), parent: byte(i)})
	}
	td := batch(spans...)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := tap.ConsumeTraces(context.Background(), td); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "spans/s")
}
