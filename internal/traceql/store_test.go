package traceql_test

import (
	"context"
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
