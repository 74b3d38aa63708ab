package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/clewtrace/clew/internal/store/block"
)

// liveBlock is an opened block with a count of who holds it: one reference
// for the store's block list while the block is in it, plus one per snapshot
// (query) and per compaction reading it. A block that leaves the list
// (compacted into another, or expired) is closed and its objects deleted only
// when the last holder lets go, so a query never reads a deleted file and
// nothing relies on an unlinked file staying readable (it does not on object
// storage). Prometheus TSDB does the same with its pendingReaders.
type liveBlock struct {
	*block.Block
	refs    atomic.Int64
	dropped atomic.Bool // out of the block list for good: delete when unread
	// keepObjects: when dropped, only close it; in a shared bucket the
	// compactor deletes blocks, later (see syncBucket).
	keepObjects atomic.Bool
	// quarantine: found damaged; when unread, move to quarantine/ instead
	// of deleting (see damage.go).
	quarantine atomic.Bool
	store      *Store
}

func (s *Store) newLiveBlock(b *block.Block) *liveBlock {
	lb := &liveBlock{Block: b, store: s}
	lb.refs.Store(1) // the block list's reference
	return lb
}

// acquire adds a holder. Callers acquire only blocks that are in the block
// list, under s.mu, so the count is never zero here.
func (lb *liveBlock) acquire() { lb.refs.Add(1) }

// release drops a holder; the last one hands the block to the garbage list,
// which maintenance closes and deletes (deleting can be slow on object
// storage, and a query should not pay for it).
func (lb *liveBlock) release() {
	if n := lb.refs.Add(-1); n == 0 {
		if !lb.dropped.Load() || lb.keepObjects.Load() {
			_ = lb.Close() // the store closed while a query held the block, or the block is not ours to delete
			return
		}
		lb.store.garbageMu.Lock()
		lb.store.garbage = append(lb.store.garbage, lb)
		lb.store.garbageMu.Unlock()
	} else if n < 0 {
		panic("store: block released more often than acquired")
	}
}

// holders is the number of references (for tests and diagnostics).
func (lb *liveBlock) holders() int64 { return lb.refs.Load() }

// collectGarbage closes and deletes blocks that left the block list and
// that nobody reads any more. A block whose delete fails stays listed and is
// tried again on the next pass; a restart also finds it (see openBlocks).
func (s *Store) collectGarbage(ctx context.Context) error {
	s.garbageMu.Lock()
	todo := s.garbage
	s.garbage = nil
	s.garbageMu.Unlock()
	var errs []error
	var retry []*liveBlock
	for _, lb := range todo {
		_ = lb.Close()
		if lb.quarantine.Load() {
			if _, err := s.quarantineBlock(ctx, lb.Meta().ID); err != nil {
				errs = append(errs, fmt.Errorf("quarantine block %s: %w", lb.Meta().ID, err))
				retry = append(retry, lb)
			}
			continue
		}
		if err := block.Delete(ctx, s.bucket, lb.Meta().ID); err != nil {
			errs = append(errs, fmt.Errorf("delete block %s: %w", lb.Meta().ID, err))
			retry = append(retry, lb)
		}
	}
	if len(retry) > 0 {
		s.garbageMu.Lock()
		s.garbage = append(s.garbage, retry...)
		s.garbageMu.Unlock()
	}
	return errors.Join(errs...)
}

// compactionWindows are the aligned time ranges that blocks are merged
// within: level-1 blocks hold at most one 15-minute window of span starts,
// level-2 blocks one 2-hour window. Merging only inside a window keeps
// merged blocks narrow in time, so retention (which drops whole blocks)
// never keeps old spans alive inside a block that also holds new ones, and
// a narrow /api/dependencies window does not count a day of edges.
func compactionWindows() []time.Duration { return []time.Duration{15 * time.Minute, 2 * time.Hour} }

// maxMergesPerPass bounds one compaction pass, so retention is not held up
// behind a long backlog of merges.
const maxMergesPerPass = 8

// compact merges small blocks — those cut by age while traffic was light —
// whose span starts lie in one aligned time window (see compactionWindows),
// levelled as in Prometheus TSDB: blocks up to level L are merged within
// level L+1's window. A window's blocks are merged once CompactBlocks of
// them are there, or, with two or more, once the window is over (its end
// plus BlockMaxAge is past). Only blocks below half of BlockMaxSpans take
// part, and a merged block never exceeds BlockMaxSpans, which bounds the
// memory a compaction needs to about one head. Full blocks, cut by size
// under load, are already narrow in time and are left alone.
func (s *Store) compact(ctx context.Context) error {
	for range maxMergesPerPass {
		if !s.mayCompact(ctx) {
			return nil // the compactor lease was lost: another node compacts now
		}
		inputs, level := s.pickCompaction()
		if inputs == nil {
			return nil
		}
		err := s.merge(ctx, inputs, level)
		for _, b := range inputs {
			if err != nil && ctx.Err() == nil {
				// One of them may be damaged: verification finds out
				// (and otherwise every pass would fail on it again).
				s.suspect(b.Meta().ID)
			}
			b.release()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// pickCompaction chooses the next group to merge and acquires its blocks,
// or returns nil.
func (s *Store) pickCompaction() ([]*liveBlock, int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	now := s.opts.Now().UnixNano()
	for lvl, window := range compactionWindows() {
		w := window.Nanoseconds()
		groups := map[int64][]*liveBlock{} // window start -> its candidate blocks
		var order []int64
		for _, b := range s.blocks { // sorted by MinStartUnixNano
			m := b.Meta()
			if m.CompactionLevel > lvl || m.SpanCount*2 >= s.opts.BlockMaxSpans {
				continue
			}
			start := floorDiv(m.MinStartUnixNano, w) * w
			if m.MaxStartUnixNano >= start+w {
				continue // straddles a window boundary: stays as it is
			}
			if _, ok := groups[start]; !ok {
				order = append(order, start)
			}
			groups[start] = append(groups[start], b)
		}
		for _, start := range order {
			g := groups[start]
			total, n := 0, 0
			for _, b := range g {
				if total+b.Meta().SpanCount > s.opts.BlockMaxSpans {
					break
				}
				total += b.Meta().SpanCount
				n++
			}
			g = g[:n]
			over := start+w+s.opts.BlockMaxAge.Nanoseconds() < now
			if len(g) >= s.opts.CompactBlocks || (over && len(g) >= 2) {
				if len(g) > s.opts.CompactBlocks && !over {
					g = g[:s.opts.CompactBlocks]
				}
				for _, b := range g {
					b.acquire()
				}
				return g, lvl + 1
			}
		}
	}
	return nil, 0
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// merge writes the inputs as one block of the given level and swaps it in.
func (s *Store) merge(ctx context.Context, inputs []*liveBlock, level int) error {
	blocks := make([]*block.Block, len(inputs))
	for i, b := range inputs {
		blocks[i] = b.Block
	}
	meta, err := block.Compact(ctx, s.bucket, blocks, level)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	merged, err := block.Open(ctx, s.bucket, meta.ID)
	if err != nil {
		return fmt.Errorf("open compacted block %s: %w", meta.ID, err)
	}
	s.replaceBlocks(inputs, merged)
	s.metrics.compactions.Inc()
	return nil
}

// replaceBlocks swaps old blocks for a new one (nil: just remove them) and
// drops the block list's references to the old ones.
func (s *Store) replaceBlocks(old []*liveBlock, with *block.Block) {
	drop := map[*liveBlock]bool{}
	for _, b := range old {
		drop[b] = true
	}
	s.mu.Lock()
	kept := s.blocks[:0:0]
	var dropped []*liveBlock
	for _, b := range s.blocks {
		if drop[b] {
			dropped = append(dropped, b)
		} else {
			kept = append(kept, b)
		}
	}
	if with != nil {
		kept = append(kept, s.newLiveBlock(with))
	}
	sortBlocks(kept)
	s.blocks = kept
	s.mu.Unlock()
	for _, b := range dropped {
		b.keepObjects.Store(s.opts.Shared)
		b.dropped.Store(true)
		b.release()
	}
}

// futureSkew bounds how long after a block was written one of its spans
// can have ended: the pipeline refuses spans more than this ahead of the
// clock (limits.MaxFutureSkew).
const futureSkew = time.Hour

// retentionEnd is the end of a block's real time range: its newest span's
// end, but never later than the block's creation plus futureSkew, so a
// span stamped 158 years ahead (stored before the pipeline bounded
// timestamps, or by a writer that bypasses it) cannot keep the block and
// every real span in it forever.
func retentionEnd(m block.Meta) int64 {
	end := m.MaxEndUnixNano
	if created, ok := block.IDTime(m.ID); ok {
		end = min(end, created.Add(futureSkew).UnixNano())
	}
	return end
}

// applyRetention drops whole blocks whose real time range (retentionEnd)
// ended before the retention horizon; they are deleted once no query holds
// them.
func (s *Store) applyRetention() {
	horizon := s.opts.Now().Add(-s.opts.Retention).UnixNano()
	s.mu.RLock()
	var expired []*liveBlock
	for _, b := range s.blocks {
		if retentionEnd(b.Meta()) < horizon {
			expired = append(expired, b)
		}
	}
	s.mu.RUnlock()
	if len(expired) == 0 {
		return
	}
	s.replaceBlocks(expired, nil)
	s.metrics.blocksExpired.Add(float64(len(expired)))
}

func sortBlocks(bs []*liveBlock) {
	sort.Slice(bs, func(i, j int) bool { return bs[i].Meta().MinStartUnixNano < bs[j].Meta().MinStartUnixNano })
}

// compactedAway returns the IDs of blocks that some other complete block
// was merged from. They are left over when a crash came between writing the
// merged block and deleting its inputs (or while a query still held them),
// and would otherwise be read twice.
func compactedAway(metas []block.Meta) map[string]bool {
	out := map[string]bool{}
	for _, m := range metas {
		for _, id := range m.Compacted {
			out[id] = true
		}
	}
	return out
}
