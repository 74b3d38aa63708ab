package query

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/predicate"
	"github.com/clewtrace/clew/internal/store/block"
)

type fakeStore struct {
	traces map[model.TraceID][]model.Span
	ids    []model.TraceID
	fail   model.TraceID
}

func (f *fakeStore) Trace(_ context.Context, id model.TraceID) ([]model.Span, error) {
	if id == f.fail {
		return nil, errors.New("disk on fire")
	}
	return f.traces[id], nil
}

func (f *fakeStore) FindTraceIDs(context.Context, *predicate.Compiled, int) ([]model.TraceID, error) {
	return f.ids, nil
}

func (f *fakeStore) Operations(context.Context) (map[string][]block.OperationInfo, error) {
	return nil, nil
}

func (f *fakeStore) Dependencies(context.Context, time.Time, time.Time) ([]block.Edge, error) {
	return nil, nil
}

// Traces are fetched in parallel but come back in the store's order, gone
// ones are left out, and a failed read fails the search.
func TestFindTracesKeepsOrderAndSkipsExpired(t *testing.T) {
	st := &fakeStore{traces: map[model.TraceID][]model.Span{}}
	for i := range 30 {
		id := model.TraceID{0: 1, 15: byte(i)}
		st.ids = append(st.ids, id)
		if i%7 != 3 { // some expired between search and fetch
			st.traces[id] = []model.Span{{TraceID: id}}
		}
	}
	got, err := NewService(st).FindTraces(context.Background(), TraceQuery{Limit: 30})
	if err != nil {
		t.Fatal(err)
	}
	var want []model.TraceID
	for _, id := range st.ids {
		if st.traces[id] != nil {
			want = append(want, id)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d traces, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i][0].TraceID != want[i] {
			t.Fatalf("trace %d is %x, want %x", i, got[i][0].TraceID, want[i])
		}
	}
	st.fail = st.ids[20]
	if _, err := NewService(st).FindTraces(context.Background(), TraceQuery{Limit: 30}); err == nil {
		t.Fatal("a failed trace read did not fail the search")
	}
}

// bulkStore adds BulkTraces to a Store, and records the batches asked.
type bulkStore struct {
	Store
	batches []int
}

func (b *bulkStore) Traces(ctx context.Context, ids []model.TraceID, fn func(model.TraceID, []model.Span) error) error {
	b.batches = append(b.batches, len(ids))
	for _, id := range ids {
		spans, err := b.Trace(ctx, id)
		if err != nil {
			return err
		}
		if len(spans) > 0 {
			if err := fn(id, spans); err != nil {
				return err
			}
		}
	}
	return nil
}

// A store that reads traces in bulk gives a search the same answer, read a
// batch at a time, and a span budget stops the reading at the batch that
// fills it.
func TestFindTracesInBulk(t *testing.T) {
	st := &fakeStore{traces: map[model.TraceID][]model.Span{}}
	for i := range 50 {
		id := model.TraceID{0: 1, 15: byte(i)}
		st.ids = append(st.ids, id)
		if i%7 != 3 {
			st.traces[id] = []model.Span{{TraceID: id}, {TraceID: id}}
		}
	}
	ctx := context.Background()
	want, err := NewService(st).FindTraces(ctx, TraceQuery{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	bulk := &bulkStore{Store: st}
	got, err := NewService(bulk).FindTraces(ctx, TraceQuery{Limit: 50})
	if err != nil || len(got) != len(want) {
		t.Fatalf("bulk: %d traces, err %v; one by one: %d", len(got), err, len(want))
	}
	for i := range got {
		if got[i][0].TraceID != want[i][0].TraceID {
			t.Fatalf("bulk trace %d is %x, want %x", i, got[i][0].TraceID, want[i][0].TraceID)
		}
	}
	if !slices.Equal(bulk.batches, []int{20, 20, 10}) {
		t.Fatalf("batches %v, want [20 20 10]", bulk.batches)
	}
	bulk.batches = nil
	got, err = NewService(bulk).FindTraces(ctx, TraceQuery{Limit: 50, MaxSpans: 25})
	if err != nil || len(got) != 13 || !slices.Equal(bulk.batches, []int{20}) {
		t.Fatalf("MaxSpans 25 over 2-span traces: %d traces (want 13), batches %v (want [20]), err %v", len(got), bulk.batches, err)
	}
	st.fail = st.ids[30]
	if _, err := NewService(bulk).FindTraces(ctx, TraceQuery{Limit: 50}); err == nil {
		t.Fatal("a failed bulk read did not fail the search")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := NewService(bulk).FindTraces(cancelled, TraceQuery{Limit: 50}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled bulk search: %v, want context.Canceled", err)
	}
}
