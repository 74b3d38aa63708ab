package query

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/predicate"
)

// blockingStore's searches report that they started, then wait for release.
type blockingStore struct {
	fakeStore
	started chan int // the limit of each search that reached the store
	release chan struct{}
}

func (b *blockingStore) FindTraceIDs(ctx context.Context, _ *predicate.Compiled, limit int) ([]model.TraceID, error) {
	b.started <- limit
	select {
	case <-b.release:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestHeavySearchesRunOneAtATime: while a search for more than
// HeavySearchLimit traces runs, another such search waits before it reads
// anything (and gives up when its context ends), while a small search does
// not wait.
func TestHeavySearchesRunOneAtATime(t *testing.T) {
	st := &blockingStore{started: make(chan int, 4), release: make(chan struct{})}
	s := NewService(st)
	heavy := TraceQuery{ServiceName: "a", Limit: 1500}

	first := make(chan error, 1)
	go func() { _, err := s.FindTraces(t.Context(), heavy); first <- err }()
	if got := <-st.started; got != 1500 {
		t.Fatalf("first search reached the store with limit %d", got)
	}

	// A second heavy search waits without reaching the store, until its
	// context ends.
	ctx, cancel := context.WithCancel(t.Context())
	second := make(chan error, 1)
	go func() { _, err := s.FindTraces(ctx, heavy); second <- err }()

	// A small search goes through meanwhile.
	small := make(chan error, 1)
	go func() { _, err := s.FindTraces(t.Context(), TraceQuery{ServiceName: "a", Limit: 20}); small <- err }()
	if got := <-st.started; got != 20 {
		t.Fatalf("a search with limit %d reached the store while the heavy one ran; want only the small one", got)
	}
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Errorf("waiting heavy search: %v, want context.Canceled", err)
	}
	select {
	case got := <-st.started:
		t.Fatalf("the cancelled heavy search reached the store (limit %d)", got)
	default:
	}

	close(st.release)
	if err := <-first; err != nil {
		t.Errorf("first search: %v", err)
	}
	if err := <-small; err != nil {
		t.Errorf("small search: %v", err)
	}
	// The slot is free again.
	ctx, cancel = context.WithTimeout(t.Context(), 30*time.Second) // only catches a hang
	defer cancel()
	if _, err := s.FindTraces(ctx, heavy); err != nil {
		t.Errorf("heavy search after the first ended: %v", err)
	}
}
