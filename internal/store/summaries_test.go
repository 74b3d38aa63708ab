package store

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/clewtrace/clew/internal/model"
)

// A trace's summary from TraceSummaries equals the summary of the spans
// Trace returns, whether it comes from a block's summary row, a head's
// spans, or (a trace in several blocks or in a head and a block, copies of
// spans included) the whole trace.
func TestTraceSummariesEqualSpans(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir(), &clock{now: t0}, func(o *Options) { o.CompactBlocks = 1000 })
	defer s.Close(ctx)
	rng := rand.New(rand.NewPCG(5, 5))
	ids := map[model.TraceID]bool{}
	for blk := range 8 {
		spans := randomSpans(rng, 150)
		for i := range spans {
			sp := &spans[i]
			if blk%3 == 0 {
				sp.TraceID[1] = byte(blk) // this block's traces are its own; the others' overlap
			}
			// Parents within the trace (or missing), so the root matters.
			if j := rng.IntN(i + 1); j < i && spans[j].TraceID == sp.TraceID && rng.IntN(4) > 0 {
				sp.ParentSpanID = spans[j].SpanID
			} else if rng.IntN(5) == 0 {
				sp.ParentSpanID = model.SpanID{0xee, byte(i)}
			}
			ids[sp.TraceID] = true
		}
		// Copies of spans: a retried batch.
		for i := 0; i < len(spans); i += 13 {
			spans = append(spans, spans[i])
		}
		s.core.Head().Add(slices.Clone(spans))
		if blk < 7 { // the last stays in the head
			if err := s.flush(ctx, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	list := make([]model.TraceID, 0, len(ids)+1)
	for id := range ids {
		list = append(list, id)
	}
	list = append(list, model.TraceID{0xff, 0xfe}) // stored nowhere: left out
	got, err := s.TraceSummaries(ctx, list)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) {
		t.Fatalf("%d summaries for %d stored traces", len(got), len(ids))
	}
	for i, sum := range got {
		spans, err := s.Trace(ctx, list[i])
		if err != nil {
			t.Fatal(err)
		}
		if want := model.Summarize(spans); !reflect.DeepEqual(sum, want) {
			t.Fatalf("trace %x:\n got %+v\nwant %+v", list[i], sum, want)
		}
	}
	for from, name := range summarySourceNames {
		if s.summaries[from].Load() == 0 {
			t.Errorf("no summary came from %s (block %d, head %d, trace %d): the test covers each source",
				name, s.summaries[0].Load(), s.summaries[1].Load(), s.summaries[2].Load())
		}
	}
}

// A block whose summaries.bin is gone (or damaged) still answers every
// summary: the trace is read instead, and nothing fails.
func TestTraceSummariesWithoutSummaryRows(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clk := &clock{now: t0}
	s := openStore(t, dir, clk)
	rng := rand.New(rand.NewPCG(6, 6))
	spans := randomSpans(rng, 200)
	s.core.Head().Add(slices.Clone(spans))
	if err := s.flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	metas := blockMetas(s)
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if len(metas) != 1 {
		t.Fatalf("%d blocks", len(metas))
	}
	if err := os.Remove(filepath.Join(dir, "blocks", metas[0].ID, "summaries.bin")); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, clk)
	defer s.Close(ctx)
	var ids []model.TraceID
	seen := map[model.TraceID]bool{}
	for _, sp := range spans {
		if !seen[sp.TraceID] {
			seen[sp.TraceID] = true
			ids = append(ids, sp.TraceID)
		}
	}
	got, err := s.TraceSummaries(ctx, ids)
	if err != nil || len(got) != len(ids) {
		t.Fatalf("%d summaries of %d traces, err %v", len(got), len(ids), err)
	}
	for i, sum := range got {
		trace, err := s.Trace(ctx, ids[i])
		if err != nil {
			t.Fatal(err)
		}
		if want := model.Summarize(trace); !reflect.DeepEqual(sum, want) {
			t.Fatalf("trace %x:\n got %+v\nwant %+v", ids[i], sum, want)
		}
	}
	if n := s.summaries[summaryFromTrace].Load(); n != int64(len(ids)) || s.summaries[summaryFromBlock].Load() != 0 {
		t.Errorf("summaries from traces %d, from blocks %d; want all %d from traces", n, s.summaries[summaryFromBlock].Load(), len(ids))
	}
}
