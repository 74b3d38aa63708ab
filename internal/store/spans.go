package store

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/predicate"
	"github.com/clewtrace/clew/internal/store/block"
)

// headBatch is how many head spans ScanSpans hands over at once.
const headBatch = 4096

// ScanSpans calls fn with every stored span that matches p, in batches,
// with at least the fields asked for filled (head spans come whole; block
// spans with only those fields, see block.Fields): one pass over each
// block's matching row groups, reading only the columns needed, instead of
// one read per trace. spans[i] stands for len(starts[i]) spans alike in
// the fields asked for, starting at starts[i]; alike lets blocks skip
// reading start times (see block.ScanSpans). It is the bulk path of TraceQL metrics. Spans of one
// trace may come in several batches, and a span stored twice (a client's
// retry) comes twice: Trace's de-duplication is not applied.
//
// fn is called from one goroutine at a time, never concurrently, while up
// to maxQueryReaders blocks are read at once; it must not keep the slice
// (the spans' pointers and strings may be kept). An error from fn, or ctx
// ending, stops the scan and is returned.
func (s *Store) ScanSpans(ctx context.Context, p *predicate.Compiled, fields block.Fields, alike func(lo, hi int64) bool, fn func([]model.Span, [][]int64) error) error {
	snap := s.snapshot()
	defer snap.release()
	s.notePartial(ctx)
	return snap.scanSpans(ctx, p, fields, alike, fn)
}

func (snap *snapshot) scanSpans(ctx context.Context, p *predicate.Compiled, fields block.Fields, alike func(lo, hi int64) bool, fn func([]model.Span, [][]int64) error) error {
	for _, h := range snap.heads {
		if err := h.scanSpans(ctx, p, fn); err != nil {
			return err
		}
	}
	var blocks []*liveBlock
	for _, b := range snap.blocks {
		if m := b.Meta(); block.MetaMayMatch(&m, p) {
			blocks = append(blocks, b)
		}
	}
	if len(blocks) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex // held while fn runs; guards next and firstErr
		next     int
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	take := func() *liveBlock {
		mu.Lock()
		defer mu.Unlock()
		if next >= len(blocks) || firstErr != nil {
			return nil
		}
		next++
		return blocks[next-1]
	}
	// fnErr marks an error of fn, returned as it is rather than as a
	// block's read error.
	type fnErr struct{ error }
	locked := func(spans []model.Span, starts [][]int64) error {
		mu.Lock()
		defer mu.Unlock()
		if err := fn(spans, starts); err != nil {
			return fnErr{err}
		}
		return nil
	}
	worker := func() {
		defer wg.Done()
		for b := take(); b != nil; b = take() {
			err := b.store.readBlock(ctx, b, func() error {
				err := b.ScanSpans(ctx, p, fields, alike, locked)
				if _, ok := err.(fnErr); ok {
					return err
				}
				return asDamage(ctx, err)
			})
			if fe, ok := err.(fnErr); ok {
				fail(fe.error)
				return
			}
			if err != nil {
				fail(fmt.Errorf("block %s: %w", b.Meta().ID, err))
				return
			}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), maxQueryReaders, len(blocks))
	wg.Add(workers)
	for range workers {
		go worker()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// scanSpans calls fn with the head's spans that match p, copied out in
// batches so that fn runs without the head's lock, each its own group.
func (h *head) scanSpans(ctx context.Context, p *predicate.Compiled, fn func([]model.Span, [][]int64) error) error {
	buf := make([]model.Span, 0, headBatch)
	for b := 0; ; b++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		h.mu.RLock()
		if b >= len(h.batches) {
			h.mu.RUnlock()
			break
		}
		if p.Never() || !p.OverlapsStart(h.minStart, h.maxStart) {
			h.mu.RUnlock()
			return nil
		}
		for i := range h.batches[b] {
			if sp := &h.batches[b][i]; p.Match(sp) {
				buf = append(buf, *sp)
			}
		}
		h.mu.RUnlock()
		if len(buf) >= headBatch {
			if err := fn(buf, alone(buf)); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		return fn(buf, alone(buf))
	}
	return nil
}

// alone gives each span a group of its own: its start alone.
func alone(spans []model.Span) [][]int64 {
	all := make([]int64, len(spans))
	out := make([][]int64, len(spans))
	for i := range spans {
		all[i] = spans[i].StartUnixNano
		out[i] = all[i : i+1 : i+1]
	}
	return out
}
