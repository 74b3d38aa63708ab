package logstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/segment"
)

// Search returns the records matching q, newest first, or oldest first when
// q.TraceID is set (a trace's logs read top to bottom), at most q.Limit.
// Blocks are read in order of their time range, so once Limit records are
// found, blocks that cannot hold better ones are not read at all.
func (s *Store) Search(ctx context.Context, q LogQuery) ([]Record, error) {
	m := newMatcher(q)
	top := &topN{limit: m.limit, asc: m.asc}
	sn := s.core.Snapshot(ctx)
	defer sn.Release()
	for _, h := range sn.Heads {
		h.search(m, top.add)
	}
	top.trim()

	blocks := sn.Blocks // sorted by MinTime
	if !m.asc {
		blocks = slices.Clone(blocks)
		slices.SortFunc(blocks, func(a, b *segment.Live[*logBlock]) int { return cmp.Compare(b.Meta().MaxTime, a.Meta().MaxTime) })
	}
	for _, b := range blocks {
		if top.full() {
			// Blocks are ordered by their best possible record, so none of
			// the rest can improve on the worst record kept.
			worst := top.recs[len(top.recs)-1].Time.UnixNano()
			if (m.asc && b.Meta().MinTime > worst) || (!m.asc && b.Meta().MaxTime < worst) {
				break
			}
		}
		if err := s.core.ReadBlock(ctx, b, func() error { return b.Block.search(ctx, m, top.add) }); err != nil {
			return nil, fmt.Errorf("logstore: search: %w", err)
		}
		top.trim()
	}
	return top.recs, nil
}

// topN keeps the best limit records in order. It lets the buffer grow to
// twice the limit between trims, so sorting is amortised.
type topN struct {
	limit int
	asc   bool
	recs  []Record
}

func (t *topN) add(r *Record) {
	t.recs = append(t.recs, *r)
	if len(t.recs) >= 2*t.limit {
		t.trim()
	}
}

func (t *topN) full() bool { return len(t.recs) >= t.limit }

func (t *topN) trim() {
	slices.SortStableFunc(t.recs, func(a, b Record) int {
		if t.asc {
			return a.Time.Compare(b.Time)
		}
		return b.Time.Compare(a.Time)
	})
	if len(t.recs) > t.limit {
		clear(t.recs[t.limit:]) // let the dropped records' strings go
		t.recs = t.recs[:t.limit]
	}
}

// CountByTrace returns how many records each trace has; traces without any
// are absent from the map. Blocks whose bloom filter rules out every ID are
// skipped, and the others read only their trace_id column.
func (s *Store) CountByTrace(ctx context.Context, ids []model.TraceID) (map[model.TraceID]int, error) {
	counts := make(map[model.TraceID]int, len(ids))
	if len(ids) == 0 {
		return counts, nil
	}
	want := make(map[model.TraceID]struct{}, len(ids))
	for _, id := range ids {
		if !id.IsZero() { // records without a trace are not "the zero trace's"
			want[id] = struct{}{}
		}
	}
	sn := s.core.Snapshot(ctx)
	defer sn.Release()
	for _, h := range sn.Heads {
		for id := range want {
			if n := h.countTrace(id); n > 0 {
				counts[id] += n
			}
		}
	}
	for _, b := range sn.Blocks {
		if err := s.core.ReadBlock(ctx, b, func() error { return b.Block.countTraces(ctx, want, counts) }); err != nil {
			return nil, fmt.Errorf("logstore: count: %w", err)
		}
	}
	return counts, nil
}
