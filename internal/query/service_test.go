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

// spansPerTrace is a Store whose every trace has n spans and whose search
// returns as many trace IDs as asked for.
type spansPerTrace struct{ n int }

func (s spansPerTrace) Trace(_ context.Context, id model.TraceID) ([]model.Span, error) {
	return make([]model.Span, s.n), nil
}

func (s spansPerTrace) FindTraceIDs(_ context.Context, _ *predicate.Compiled, limit int) ([]model.TraceID, error) {
	ids := make([]model.TraceID, limit)
	for i := range ids {
		ids[i][0] = byte(i)
	}
	return ids, nil
}

func (spansPerTrace) Operations(context.Context) (map[string][]block.OperationInfo, error) {
	return nil, nil
}

func (spansPerTrace) Dependencies(context.Context, time.Time, time.Time) ([]block.Edge, error) {
	return nil, nil
}

// TestFindTracesBoundedBySpans: MaxSpans stops a search once its traces
// hold that many spans (keeping the one that crosses it), and a cancelled
// context stops it with the context's error.
func TestFindTracesBoundedBySpans(t *testing.T) {
	s := NewService(spansPerTrace{n: 10})
	got, err := s.FindTraces(t.Context(), TraceQuery{Limit: 100, MaxSpans: 35})
	if err != nil || len(got) != 4 {
		t.Fatalf("MaxSpans 35 over 10-span traces: %d traces, %v; want 4", len(got), err)
	}
	got, err = s.FindTraces(t.Context(), TraceQuery{Limit: 100})
	if err != nil || len(got) != 100 {
		t.Fatalf("no MaxSpans: %d traces, %v; want 100", len(got), err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.FindTraces(ctx, TraceQuery{Limit: 100}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled search: %v, want context.Canceled", err)
	}
}
