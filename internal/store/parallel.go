package store

import (
	"context"
	"sync"
)

// forEach calls fn(ctx, i) for i in [0, n) on up to workers goroutines. The
// first error cancels the ctx the others get and stops handing out work; it
// is returned, or else the parent ctx's error. Reads of several blocks or
// traces at once share it.
func forEach(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex // guards next and firstErr
		next     int
		firstErr error
		wg       sync.WaitGroup
	)
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next >= n || firstErr != nil || ctx.Err() != nil {
			return 0, false
		}
		next++
		return next - 1, true
	}
	workers = max(min(workers, n), 0)
	wg.Add(workers)
	for range workers {
		go func() {
			defer wg.Done()
			for i, ok := take(); ok; i, ok = take() {
				if err := fn(ctx, i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}
