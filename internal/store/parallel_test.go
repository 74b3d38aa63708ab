package store

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

func TestForEachCallsEachIndexOnce(t *testing.T) {
	const n = 1000
	var calls [n]atomic.Int32
	if err := forEach(context.Background(), n, 4, func(_ context.Context, i int) error {
		calls[i].Add(1)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := range calls {
		if c := calls[i].Load(); c != 1 {
			t.Fatalf("index %d called %d times", i, c)
		}
	}
	if err := forEach(context.Background(), 0, 4, func(context.Context, int) error { t.Fatal("called"); return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestForEachStopsAtTheFirstError(t *testing.T) {
	boom := errors.New("boom")
	var after atomic.Int32
	err := forEach(context.Background(), 1000, 1, func(ctx context.Context, i int) error {
		if i == 10 {
			return boom
		}
		if i > 10 {
			after.Add(1)
		}
		return nil
	})
	if !errors.Is(err, boom) || after.Load() != 0 {
		t.Fatalf("err %v, %d calls after the error; want boom and none", err, after.Load())
	}
	// With several workers, the others see their ctx cancelled.
	err = forEach(context.Background(), 2, 2, func(ctx context.Context, i int) error {
		if i == 0 {
			return boom
		}
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom (the first error, not the cancellation it caused)", err)
	}
}

func TestForEachReturnsTheCallersCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var calls atomic.Int32
	err := forEach(ctx, 10, 2, func(context.Context, int) error { calls.Add(1); return nil })
	if !errors.Is(err, context.Canceled) || calls.Load() != 0 {
		t.Fatalf("err %v after %d calls; want context.Canceled and none", err, calls.Load())
	}
}
