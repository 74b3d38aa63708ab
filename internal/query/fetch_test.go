package query

import (
	"context"
	"errors"
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
