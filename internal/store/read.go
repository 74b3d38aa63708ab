package store

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/store/block"
)

// snapshot is a consistent view of everything readable: the head, heads
// being flushed, and blocks. Its parts are immutable or internally locked.
type snapshot struct {
	heads  []*head // newest first
	blocks []*block.Block
}

func (s *Store) snapshot() snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	snap := snapshot{heads: make([]*head, 0, 1+len(s.flushing)), blocks: append([]*block.Block(nil), s.blocks...)}
	snap.heads = append(snap.heads, s.head)
	for i := len(s.flushing) - 1; i >= 0; i-- {
		snap.heads = append(snap.heads, s.flushing[i].h)
	}
	return snap
}

// Trace returns every stored span of one trace, de-duplicated, ordered by
// start time. It returns no spans and no error for an unknown trace.
func (s *Store) Trace(ctx context.Context, id model.TraceID) ([]model.Span, error) {
	snap := s.snapshot()
	var spans []model.Span
	for _, h := range snap.heads {
		spans = h.trace(spans, id)
	}
	for _, b := range snap.blocks {
		if !b.MayContain(id) {
			continue
		}
		got, err := b.Trace(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("block %s: %w", b.Meta().ID, err)
		}
		spans = append(spans, got...)
	}
	return dedupe(spans), nil
}

// dedupe drops repeated copies of a span (a client that retried a batch the
// store had already acknowledged) and sorts by start time. Two spans with
// one ID but different kinds (Zipkin's shared client/server spans) are kept.
func dedupe(spans []model.Span) []model.Span {
	type key struct {
		id    model.SpanID
		kind  model.SpanKind
		start int64
	}
	seen := make(map[key]struct{}, len(spans))
	out := spans[:0]
	for _, sp := range spans {
		k := key{sp.SpanID, sp.Kind, sp.StartUnixNano}
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		out = append(out, sp)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].StartUnixNano < out[j].StartUnixNano })
	return out
}

// FindTraceIDs returns up to limit IDs of traces with a span matching p, the
// most recently started first. Sources are read newest first and reading
// stops as soon as no older source can change the answer.
func (s *Store) FindTraceIDs(ctx context.Context, p block.Predicate, limit int) ([]model.TraceID, error) {
	if limit <= 0 {
		limit = 20
	}
	snap := s.snapshot()
	best := map[model.TraceID]int64{} // trace -> latest matching span start
	collect := func(id model.TraceID, start int64) bool {
		if cur, ok := best[id]; !ok || start > cur {
			best[id] = start
		}
		return true
	}
	for _, h := range snap.heads {
		h.scan(&p, collect)
	}
	blocks := append([]*block.Block(nil), snap.blocks...)
	sort.Slice(blocks, func(i, j int) bool { return blocks[i].Meta().MaxStartUnixNano > blocks[j].Meta().MaxStartUnixNano })
	for _, b := range blocks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m := b.Meta()
		if len(best) >= limit && m.MaxStartUnixNano < kthNewest(best, limit) {
			break // every remaining block is older than the answer we have
		}
		if !blockMayMatch(&m, &p) {
			continue
		}
		if err := b.Scan(ctx, p, collect); err != nil {
			return nil, fmt.Errorf("block %s: %w", m.ID, err)
		}
	}
	ids := make([]model.TraceID, 0, len(best))
	for id := range best {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		if best[ids[i]] != best[ids[j]] {
			return best[ids[i]] > best[ids[j]]
		}
		return string(ids[i][:]) < string(ids[j][:])
	})
	if len(ids) > limit {
		ids = ids[:limit]
	}
	return ids, nil
}

// kthNewest is the k-th latest start among the matches found so far.
func kthNewest(best map[model.TraceID]int64, k int) int64 {
	starts := make([]int64, 0, len(best))
	for _, st := range best {
		starts = append(starts, st)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] > starts[j] })
	return starts[k-1]
}

// blockMayMatch uses a block's metadata to skip it without reading data.
func blockMayMatch(m *block.Meta, p *block.Predicate) bool {
	if p.StartMax != 0 && m.MinStartUnixNano > p.StartMax || p.StartMin != 0 && m.MaxStartUnixNano < p.StartMin {
		return false
	}
	if p.Service == "" {
		return true
	}
	ops, ok := m.Operations[p.Service]
	if !ok {
		return false
	}
	if p.Operation == "" {
		return true
	}
	for _, op := range ops {
		if op.Name == p.Operation {
			return true
		}
	}
	return false
}

// Operations returns every service with the operations seen for it.
func (s *Store) Operations(ctx context.Context) (map[string][]block.OperationInfo, error) {
	snap := s.snapshot()
	all := map[string]map[block.OperationInfo]struct{}{}
	for _, h := range snap.heads {
		h.operations(all)
	}
	for _, b := range snap.blocks {
		for svc, ops := range b.Meta().Operations {
			d := all[svc]
			if d == nil {
				d = map[block.OperationInfo]struct{}{}
				all[svc] = d
			}
			for _, op := range ops {
				d[op] = struct{}{}
			}
		}
	}
	out := make(map[string][]block.OperationInfo, len(all))
	for svc, ops := range all {
		list := make([]block.OperationInfo, 0, len(ops))
		for op := range ops {
			list = append(list, op)
		}
		sort.Slice(list, func(i, j int) bool {
			if list[i].Name != list[j].Name {
				return list[i].Name < list[j].Name
			}
			return list[i].Kind < list[j].Kind
		})
		out[svc] = list
	}
	return out, nil
}

// Dependencies sums the service edges of every head and block whose time
// range overlaps [from, to].
func (s *Store) Dependencies(ctx context.Context, from, to time.Time) ([]block.Edge, error) {
	lo, hi := from.UnixNano(), to.UnixNano()
	snap := s.snapshot()
	sum := map[[2]string]*block.Edge{}
	add := func(edges []block.Edge) {
		for _, e := range edges {
			k := [2]string{e.Parent, e.Child}
			if cur := sum[k]; cur != nil {
				cur.Calls += e.Calls
				cur.Errors += e.Errors
			} else {
				e := e
				sum[k] = &e
			}
		}
	}
	for _, h := range snap.heads {
		if minStart, maxEnd := h.timeRange(); maxEnd >= lo && minStart <= hi {
			add(h.edgeList())
		}
	}
	for _, b := range snap.blocks {
		if m := b.Meta(); m.MaxEndUnixNano >= lo && m.MinStartUnixNano <= hi {
			add(m.Edges)
		}
	}
	out := make([]block.Edge, 0, len(sum))
	for _, e := range sum {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Parent != out[j].Parent {
			return out[i].Parent < out[j].Parent
		}
		return out[i].Child < out[j].Child
	})
	return out, nil
}
