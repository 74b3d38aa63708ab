package traceql_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query"
	"github.com/clewtrace/clew/internal/store"
	"github.com/clewtrace/clew/internal/traceql"
)

// openFilledStore stores the traces so that the store's every reading path
// is used: the first half in blocks, the third quarter split between a
// block and the head, the rest in the head.
func openFilledStore(t *testing.T, traces [][]model.Span) *store.Store {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC) // after every generated span
	st, err := store.Open(ctx, store.Options{Dir: t.TempDir(), DisableRunLoop: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	add := func(spans []model.Span) {
		if len(spans) == 0 {
			return
		}
		if _, err := st.ConsumeTraces(ctx, model.ToTraces(spans)); err != nil {
			t.Fatal(err)
		}
	}
	n := len(traces)
	for i, sp := range traces[:n/2] {
		add(sp)
		if i == n/4 { // two blocks
			if err := st.Maintain(ctx, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	var later [][]model.Span
	for _, sp := range traces[n/2 : 3*n/4] {
		add(sp[:len(sp)/2])
		later = append(later, sp[len(sp)/2:])
	}
	if err := st.Maintain(ctx, true); err != nil {
		t.Fatal(err)
	}
	for _, sp := range later {
		add(sp)
	}
	for _, sp := range traces[3*n/4:] {
		add(sp)
	}
	return st
}

// Every query of the evaluator's table (TestEvalAgainstBruteForce) finds
// through a store — whose search narrows candidates with the conditions it
// can check, comparisons included — exactly the traces the evaluator
// matches when given every trace.
func TestSearchThroughStoreFindsEveryMatch(t *testing.T) {
	traces := traceql.GenTraces(7, 100)
	svc := query.NewService(openFilledStore(t, traces))
	ctx := context.Background()
	for _, src := range traceql.EvalCaseQueries(traces) {
		q, err := traceql.Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, sp := range traces {
			if len(q.Eval(traceql.NewTrace(sp))) > 0 {
				want = append(want, sp[0].TraceID.String())
			}
		}
		got, _, err := svc.SearchTraceQL(ctx, q, time.Time{}, time.Time{}, len(traces)+1)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		var ids []string
		for _, m := range got {
			ids = append(ids, m.Trace.Spans[0].TraceID.String())
		}
		slices.Sort(want)
		slices.Sort(ids)
		if !slices.Equal(ids, want) {
			t.Errorf("%s: store search found %d traces, the evaluator %d", src, len(ids), len(want))
		}
	}
}

// A metrics query answered through a store — span-local ones by the bulk
// span scan, reading only the columns they need, the others trace by
// trace — gives the series that observing every whole trace gives.
func TestMetricsThroughStoreMatchWholeTraces(t *testing.T) {
	traces := traceql.GenTraces(5, 160)
	svc := query.NewService(openFilledStore(t, traces))
	base := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	// Steps shorter than a block's time span (start times are read per
	// span), one step over everything (whole row groups count in it
	// unread), and a range beginning inside the data (row groups
	// straddling its start are read).
	for _, r := range []struct {
		start, end time.Time
		step       time.Duration
	}{
		{base, base.Add(time.Hour + time.Minute), 5 * time.Minute},
		{base, base.Add(2 * time.Hour), 2 * time.Hour},
		{base.Add(20 * time.Minute), base.Add(3 * time.Hour), time.Hour},
	} {
		checkMetrics(t, svc, traces, r.start, r.end, r.step)
	}
}

func checkMetrics(t *testing.T, svc *query.Service, traces [][]model.Span, start, end time.Time, step time.Duration) {
	t.Helper()
	ctx := context.Background()
	for _, c := range []struct {
		q     string
		local bool
	}{
		{`{ } | rate()`, true},
		{`{ } | rate() by (resource.service.name)`, true},
		{`{ kind = server && duration < 1500ms } | quantile_over_time(duration, .5, .9) by (name, instrumentation:name)`, true},
		{`{ status = error } | count_over_time() by (trace:id)`, true},
		{`{ status = error } | count_over_time() by (name)`, true},
		{`{ span.http.status_code >= 500 && kind != client } | count_over_time() by (kind, resource.deployment.environment)`, true},
		{`{ .deployment.environment = "prod" } | quantile_over_time(duration, .5, .99) by (resource.service.name)`, true},
		{`{ duration > 500ms } | histogram_over_time(duration)`, true},
		{`{ span.ratio > 2 } | avg_over_time(span.ratio) by (span.http.method)`, true},
		{`{ span.http.method =~ "P.*" } | max_over_time(duration) by (.deployment.environment)`, true},
		{`{ event:name = "exception" } | count_over_time() by (instrumentation:name)`, true},
		{`{ statusMessage = "boom" } | rate()`, true},
		{`{ span:parentID = nil } | count_over_time() by (resource.service.name)`, true},
		{`{ link.link.kind = "follows" } | sum_over_time(duration)`, true},
		{`{ .service.name = "gateway" } >> { status = error } | rate()`, false},
		{`{ } | count_over_time() by (trace:rootService)`, false},
		{`{ status = error } | count() > 1 | rate()`, false},
	} {
		q, err := traceql.Parse(c.q)
		if err != nil {
			t.Fatal(err)
		}
		if _, local := q.SpanLocal(); local != c.local {
			t.Errorf("%s: span-local %v, want %v", c.q, local, c.local)
		}
		m, err := q.NewMetrics(start.UnixNano(), end.UnixNano(), int64(step))
		if err != nil {
			t.Fatal(err)
		}
		for _, sp := range traces {
			tr := traceql.NewTrace(sp)
			if err := m.Observe(tr, q.Eval(tr)); err != nil {
				t.Fatal(err)
			}
		}
		want, err := m.Series()
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := svc.MetricsTraceQL(ctx, q, start, end, step)
		if err != nil {
			t.Fatalf("%s: %v", c.q, err)
		}
		if len(want) == 0 {
			t.Fatalf("%s: no series; the query tests nothing", c.q)
		}
		if !sameSeries(got, want) {
			t.Errorf("%s, step %s:\n got %v\nwant %v", c.q, step, got, want)
		}
	}
}

// sameSeries compares series, values within float rounding (sums are
// added in another order).
func sameSeries(a, b []traceql.Series) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].PromLabels() != b[i].PromLabels() || len(a[i].Values) != len(b[i].Values) {
			return false
		}
		for k, x := range a[i].Values {
			y := b[i].Values[k]
			if x != y && !(math.IsNaN(x) && math.IsNaN(y)) && math.Abs(x-y) > 1e-9*math.Max(math.Abs(x), math.Abs(y)) {
				return false
			}
		}
	}
	return true
}

// A span stored twice — a client's retry landing in the same head, in one
// head before it was written as a block, or in a head and a block — counts
// once in metrics, as Trace reads it once: every query
// gives the series of each trace observed once.
func TestMetricsCountRetriedSpansOnce(t *testing.T) {
	traces := traceql.GenTraces(11, 160)
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)
	st, err := store.Open(ctx, store.Options{Dir: t.TempDir(), DisableRunLoop: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	add := func(group [][]model.Span) {
		for _, spans := range group {
			if _, err := st.ConsumeTraces(ctx, model.ToTraces(spans)); err != nil {
				t.Fatal(err)
			}
		}
	}
	flush := func() {
		if err := st.Maintain(ctx, true); err != nil {
			t.Fatal(err)
		}
	}
	n := len(traces)
	a, b, c, d := traces[:n/4], traces[n/4:n/2], traces[n/2:3*n/4], traces[3*n/4:]
	add(a)
	add(a) // twice in one head: the block written from it holds them once
	add(b)
	flush()
	add(b) // b again, in the head
	add(c)
	add(d)
	add(d[:len(d)/2]) // half of d twice in the head
	add(c[len(c)/2:]) // half of c twice in the head
	svc := query.NewService(st)
	base := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, r := range []struct {
		start, end time.Time
		step       time.Duration
	}{
		{base, base.Add(time.Hour + time.Minute), 5 * time.Minute},
		{base, base.Add(2 * time.Hour), 2 * time.Hour}, // whole row groups in one step
	} {
		checkMetrics(t, svc, traces, r.start, r.end, r.step)
	}
}

// The store's bulk read gives every trace as Trace does — traces split
// between blocks and the head included — in the order asked, once each.
func TestStoreTracesReadsAsTraceDoes(t *testing.T) {
	traces := traceql.GenTraces(3, 120)
	st := openFilledStore(t, traces)
	ctx := context.Background()
	var ids []model.TraceID
	for i := len(traces) - 1; i >= 0; i-- {
		ids = append(ids, traces[i][0].TraceID)
	}
	ids = append(ids, ids[3], model.TraceID{0xee})
	var got []model.TraceID
	err := st.Traces(ctx, ids, func(id model.TraceID, spans []model.Span) error {
		got = append(got, id)
		want, err := st.Trace(ctx, id)
		if err != nil {
			return err
		}
		if len(want) == 0 || fmt.Sprint(spans) != fmt.Sprint(want) {
			t.Errorf("trace %s: Traces gave %d spans, Trace %d (or they differ)", id, len(spans), len(want))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, ids[:len(ids)-2]) {
		t.Errorf("Traces called back for %d traces, want the %d asked for, in order, once each", len(got), len(ids)-2)
	}
}
