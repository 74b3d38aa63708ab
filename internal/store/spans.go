package store

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/partial"
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
// reading start times (see block.ScanSpans). It is the bulk path of TraceQL
// metrics. Spans of one trace may come in several batches.
//
// A span stored twice (a client's retry) comes once, as Trace
// de-duplicates it (same trace ID, span ID, kind and start), when the
// copies are in one head, in two heads, in a head and a block, or here and
// in counted: spans whose start lies in the time range of such another
// source, and whose trace it may hold, are identified and remembered for
// this (see block.Copies) — at most maxCopyKeys of them; past that,
// further copies may count twice and the answer is marked partial. A block
// holds each span once (heads are de-duplicated when written, blocks when
// compacted). Copies in two blocks are not found: they count twice until
// compaction merges the blocks (blocks written before this version may
// also hold copies of their own spans until then).
//
// fn is called from one goroutine at a time, never concurrently, while up
// to maxQueryReaders blocks are read at once; it must not keep the slice
// (the spans' pointers and strings may be kept). An error from fn, or ctx
// ending, stops the scan and is returned.
func (s *Store) ScanSpans(ctx context.Context, p *predicate.Compiled, fields block.Fields, alike func(lo, hi int64) bool, fn func([]model.Span, [][]int64) error) error {
	return s.ScanSpansExcept(ctx, p, fields, alike, nil, fn)
}

// ScanSpansExcept is ScanSpans without the spans in counted: spans another
// source (a peer node's recent data) counts, whose copies here are skipped.
func (s *Store) ScanSpansExcept(ctx context.Context, p *predicate.Compiled, fields block.Fields, alike func(lo, hi int64) bool, counted *SpanKeys, fn func([]model.Span, [][]int64) error) error {
	snap := s.snapshot()
	defer snap.release()
	s.notePartial(ctx)
	return snap.scanSpans(ctx, p, fields, alike, counted, fn)
}

// RecentScanSpans is ScanSpans over what peers cannot see yet, each
// block's spans apart from the heads' (source: the block's ID, "" for the
// heads), so that a peer can skip the blocks it lists itself.
func (s *Store) RecentScanSpans(ctx context.Context, p *predicate.Compiled, fields block.Fields, fn func(source string, spans []model.Span, starts [][]int64) error) error {
	snap := s.recentSnapshot()
	defer snap.release()
	return snap.scanSpansBySource(ctx, p, fields, nil, nil, fn)
}

func (snap *snapshot) scanSpans(ctx context.Context, p *predicate.Compiled, fields block.Fields, alike func(lo, hi int64) bool, counted *SpanKeys, fn func([]model.Span, [][]int64) error) error {
	return snap.scanSpansBySource(ctx, p, fields, alike, counted, func(_ string, spans []model.Span, starts [][]int64) error {
		return fn(spans, starts)
	})
}

func (snap *snapshot) scanSpansBySource(ctx context.Context, p *predicate.Compiled, fields block.Fields, alike func(lo, hi int64) bool, counted *SpanKeys, fn func(string, []model.Span, [][]int64) error) error {
	var blocks []*liveBlock
	for _, b := range snap.blocks {
		if m := b.Meta(); block.MetaMayMatch(&m, p) {
			blocks = append(blocks, b)
		}
	}
	seen := &seenSpans{keys: map[spanKey]struct{}{}, counted: counted}
	defer func() {
		if seen.full {
			partial.Add(ctx, "more spans may be stored twice than a metrics query de-duplicates; some may count twice")
		}
	}()
	// Every head and block of the scan, for finding where a span may have
	// a copy.
	var sources []copySource
	var heads []*head // the heads scanned: sources[i] for heads[i]
	for _, h := range snap.heads {
		if lo, hi, ok := h.startRange(); ok && p.OverlapsStart(lo, hi) {
			sources = append(sources, copySource{lo: lo, hi: hi, mayHave: h.hasTrace})
			heads = append(heads, h)
		}
	}
	firstBlock := len(sources)
	for _, b := range blocks {
		m := b.Meta()
		sources = append(sources, copySource{lo: m.MinStartUnixNano, hi: m.MaxStartUnixNano, mayHave: b.MayContain})
	}
	if counted != nil && len(counted.traces) > 0 {
		sources = append(sources, copySource{lo: counted.minStart, hi: counted.maxStart, mayHave: counted.hasTrace})
	}
	// A head's spans are checked against every source; a block's only
	// against the heads and the spans counted elsewhere (exact sets): two
	// blocks are not checked against each other — blocks overlap in time
	// as a rule, and without an index of span IDs that would mean reading
	// the trace and span IDs of every row group (a copy in two blocks
	// counts twice until compaction merges them).
	copiesOf := func(self int) *sourceCopies {
		c := &sourceCopies{seen: seen}
		for i, o := range sources {
			if i == self || self >= firstBlock && i >= firstBlock && i < firstBlock+len(blocks) {
				continue
			}
			if o.lo <= sources[self].hi && sources[self].lo <= o.hi {
				c.others = append(c.others, o)
			}
		}
		return c
	}
	for i, h := range heads {
		if err := h.scanSpans(ctx, p, copiesOf(i), func(spans []model.Span, starts [][]int64) error { return fn("", spans, starts) }); err != nil {
			return err
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
	take := func() (*liveBlock, int) {
		mu.Lock()
		defer mu.Unlock()
		if next >= len(blocks) || firstErr != nil {
			return nil, 0
		}
		next++
		return blocks[next-1], next - 1
	}
	// fnErr marks an error of fn, returned as it is rather than as a
	// block's read error.
	type fnErr struct{ error }
	worker := func() {
		defer wg.Done()
		for {
			b, i := take()
			if b == nil {
				return
			}
			var copies block.Copies
			if c := copiesOf(firstBlock + i); len(c.others) > 0 {
				copies = c
			}
			id := b.Meta().ID
			locked := func(spans []model.Span, starts [][]int64) error {
				mu.Lock()
				defer mu.Unlock()
				if err := fn(id, spans, starts); err != nil {
					return fnErr{err}
				}
				return nil
			}
			err := b.store.readBlock(ctx, b, func() error {
				err := b.ScanSpans(ctx, p, fields, alike, copies, locked)
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
// A span that copies has seen, or a second copy within the head, is left
// out.
func (h *head) scanSpans(ctx context.Context, p *predicate.Compiled, copies *sourceCopies, fn func([]model.Span, [][]int64) error) error {
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
			sp := &h.batches[b][i]
			if !p.Match(sp) {
				continue
			}
			if h.twinLocked(sp) || len(copies.others) > 0 && copies.Overlaps(sp.StartUnixNano, sp.StartUnixNano) && copies.MayHave(sp.TraceID) {
				if copies.Seen(sp.TraceID, sp.SpanID, sp.Kind, sp.StartUnixNano) {
					continue
				}
			}
			buf = append(buf, *sp)
		}
		h.mu.RUnlock()
		if len(buf) >= headBatch {
			if err := fn(buf, block.StartsAlone(buf)); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		return fn(buf, block.StartsAlone(buf))
	}
	return nil
}

// twinLocked reports whether the head may hold another copy of sp (a span
// of its trace with its span ID). Call with h.mu held.
func (h *head) twinLocked(sp *model.Span) bool {
	refs := h.traces[sp.TraceID]
	if len(refs) > maxTwinCheck {
		return true
	}
	n := 0
	for _, r := range refs {
		if h.batches[r.batch][r.idx].SpanID == sp.SpanID {
			n++
		}
	}
	return n > 1
}

// maxTwinCheck is the trace size above which a head span is checked for
// copies by key rather than by walking its trace.
const maxTwinCheck = 64

// hasTrace reports whether the head holds spans of the trace.
func (h *head) hasTrace(id model.TraceID) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	_, ok := h.traces[id]
	return ok
}

// startRange is the range of the head's span starts; ok is false for an
// empty head.
func (h *head) startRange() (lo, hi int64, ok bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.minStart, h.maxStart, h.count > 0
}

// maxCopyKeys bounds the spans one scan remembers to find their copies.
const maxCopyKeys = 1 << 21

// spanKey identifies a span as Trace's de-duplication does.
type spanKey struct {
	trace model.TraceID
	span  model.SpanID
	kind  model.SpanKind
	start int64
}

// seenSpans is the spans a scan has identified (those that may have a copy
// elsewhere), and the spans counted elsewhere.
type seenSpans struct {
	mu      sync.Mutex
	keys    map[spanKey]struct{}
	full    bool
	counted *SpanKeys
}

// seen records k and reports whether it was seen (or counted) before.
func (s *seenSpans) seen(k spanKey) bool {
	if s.counted != nil {
		if _, ok := s.counted.keys[k]; ok {
			return true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[k]; ok {
		return true
	}
	if len(s.keys) >= maxCopyKeys {
		s.full = true
		return false
	}
	s.keys[k] = struct{}{}
	return false
}

// copySource is a head or block of a scan, or the spans counted
// elsewhere: its start range and a test for whether it may hold a trace.
type copySource struct {
	lo, hi  int64
	mayHave func(model.TraceID) bool
}

// sourceCopies is block.Copies for one source of a scan: the other sources
// whose start ranges overlap its own.
type sourceCopies struct {
	others []copySource
	seen   *seenSpans
}

func (c *sourceCopies) Overlaps(lo, hi int64) bool {
	for _, o := range c.others {
		if o.lo <= hi && lo <= o.hi {
			return true
		}
	}
	return false
}

func (c *sourceCopies) MayHave(id model.TraceID) bool {
	for _, o := range c.others {
		if o.mayHave(id) {
			return true
		}
	}
	return false
}

func (c *sourceCopies) Seen(id model.TraceID, span model.SpanID, kind model.SpanKind, start int64) bool {
	return c.seen.seen(spanKey{id, span, kind, start})
}

// SpanKeys is a set of spans counted from another source (a peer's recent
// data), for ScanSpansExcept. Add spans before the scan; it is read-only
// during it.
type SpanKeys struct {
	keys               map[spanKey]struct{}
	traces             map[model.TraceID]struct{}
	minStart, maxStart int64
}

// NewSpanKeys returns an empty set.
func NewSpanKeys() *SpanKeys {
	return &SpanKeys{keys: map[spanKey]struct{}{}, traces: map[model.TraceID]struct{}{}}
}

// Add adds sp and reports whether it was new (false: a copy of a span
// added before).
func (k *SpanKeys) Add(sp *model.Span) bool {
	key := spanKey{sp.TraceID, sp.SpanID, sp.Kind, sp.StartUnixNano}
	if _, ok := k.keys[key]; ok {
		return false
	}
	if len(k.traces) == 0 || sp.StartUnixNano < k.minStart {
		k.minStart = sp.StartUnixNano
	}
	if len(k.traces) == 0 || sp.StartUnixNano > k.maxStart {
		k.maxStart = sp.StartUnixNano
	}
	k.keys[key] = struct{}{}
	k.traces[sp.TraceID] = struct{}{}
	return true
}

func (k *SpanKeys) hasTrace(id model.TraceID) bool {
	_, ok := k.traces[id]
	return ok
}

// uniqueSpans drops repeated copies of a span (same trace ID, span ID,
// kind and start) from a head's spans before they are written as a block,
// so that a block holds each span once.
func uniqueSpans(spans []model.Span) []model.Span {
	seen := make(map[spanKey]struct{}, len(spans))
	out := spans[:0]
	for i := range spans {
		k := spanKey{spans[i].TraceID, spans[i].SpanID, spans[i].Kind, spans[i].StartUnixNano}
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		out = append(out, spans[i])
	}
	return out
}
