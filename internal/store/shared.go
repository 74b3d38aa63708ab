package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/predicate"
	"github.com/clewtrace/clew/internal/store/block"
)

// Gate says whether this node may compact and delete blocks in a shared
// bucket right now. The compactor lease (package cluster) implements it;
// Held is asked before every merge and every round of deletes.
type Gate interface {
	Held(ctx context.Context) bool
}

// mayCompact reports whether this node compacts and deletes: always with a
// bucket of its own, only while holding the gate with a shared one.
func (s *Store) mayCompact(ctx context.Context) bool {
	if !s.opts.Shared {
		return true
	}
	return s.opts.Compactor != nil && s.opts.Compactor.Held(ctx)
}

// syncBucket brings the block list of a shared bucket up to date: blocks
// other nodes wrote are opened, blocks that were deleted, compacted into
// another or expired leave the list (they are closed once no query holds
// them; objects are never deleted here). Holding the compactor gate, it
// then deletes what every node has had time to let go of.
//
// It runs under compactMu, so it never races a compaction or retention
// pass. Flushes run concurrently: only blocks that were in the list when
// the listing started can leave it, so a block written meanwhile stays.
func (s *Store) syncBucket(ctx context.Context) error {
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	s.mu.RLock()
	before := make(map[string]*liveBlock, len(s.blocks))
	for _, b := range s.blocks {
		before[b.Meta().ID] = b
	}
	s.mu.RUnlock()

	l, err := block.List(ctx, s.bucket)
	if err != nil {
		return err
	}
	if s.known == nil {
		s.known, s.badMetas, s.firstSeen = map[string]block.Meta{}, map[string]bool{}, map[string]time.Time{}
	}
	now := s.opts.Now()
	listed := make(map[string]bool, len(l.Complete))
	var errs []error
	for _, id := range l.Complete {
		if _, ok := s.known[id]; ok {
			listed[id] = true
			continue
		}
		if s.badMetas[id] {
			continue // found unreadable before: not asked for again
		}
		if b := before[id]; b != nil {
			s.known[id], listed[id], s.firstSeen[id] = b.Meta(), true, now
			continue
		}
		m, err := block.ReadMeta(ctx, s.bucket, id)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since the listing
		}
		if err != nil {
			if permanent(err) {
				s.badMetas[id] = true
				s.log.Error("cannot read block meta in the shared bucket, skipping the block", "block", id, "err", err)
				continue
			}
			errs = append(errs, err) // the bucket failed: try again next poll
			continue
		}
		s.known[id], listed[id], s.firstSeen[id] = m, true, now
	}
	for id := range s.known {
		if !listed[id] {
			delete(s.known, id)
			delete(s.firstSeen, id)
		}
	}
	for id := range s.badMetas {
		if !slices.Contains(l.Complete, id) {
			delete(s.badMetas, id) // gone from the bucket
		}
	}
	horizon := now.Add(-s.opts.Retention).UnixNano()
	hidden := hiddenBlocks(s.known, horizon)

	var added []*liveBlock
	for _, id := range l.Complete {
		if _, ok := s.known[id]; !ok || hidden[id].hidden() || before[id] != nil {
			continue
		}
		b, err := block.Open(ctx, s.bucket, id)
		if err != nil {
			switch {
			case errors.Is(err, fs.ErrNotExist): // deleted since the listing
			case permanent(err):
				s.badMetas[id] = true
				delete(s.known, id)
				s.log.Error("cannot open block in the shared bucket, skipping it", "block", id, "err", err)
			default:
				errs = append(errs, err) // the bucket failed: try again next poll
			}
			continue
		}
		added = append(added, s.newLiveBlock(b))
	}
	drop := map[*liveBlock]bool{}
	for id, b := range before {
		if _, ok := s.known[id]; !ok || hidden[id].hidden() {
			drop[b] = true
		}
	}
	var extra, dropped []*liveBlock
	s.mu.Lock()
	kept := s.blocks[:0:0]
	for _, b := range s.blocks {
		if drop[b] {
			dropped = append(dropped, b)
		} else {
			kept = append(kept, b)
		}
	}
	s.blocks = kept
	for _, b := range added {
		if s.hasBlockLocked(b.Meta().ID) {
			extra = append(extra, b) // this node's flush added it meanwhile
		} else {
			s.blocks = append(s.blocks, b)
		}
	}
	sortBlocks(s.blocks)
	s.mu.Unlock()
	for _, b := range extra {
		b.release() // closes it: never in the list
	}
	for _, b := range dropped {
		b.keepObjects.Store(true)
		b.dropped.Store(true)
		b.release()
	}
	s.mu.Lock()
	expired := s.pruneRecentLocked()
	s.mu.Unlock()
	for _, b := range expired {
		b.release()
	}
	if len(added)+len(dropped) > 0 {
		s.log.Debug("shared bucket polled", "blocks_added", len(added)-len(extra), "blocks_dropped", len(dropped))
	}
	if s.metrics != nil { // nil during Open
		errs = append(errs, s.deleteShared(ctx, l, hidden, now))
	}
	return errors.Join(errs...)
}

// PollBucket lists a shared bucket now (it is also done every PollEvery),
// so that blocks other nodes wrote or removed are seen at once.
func (s *Store) PollBucket(ctx context.Context) error {
	if !s.opts.Shared {
		return nil
	}
	return s.syncBucket(ctx)
}

// permanent reports whether a block read failed for good (a damaged or
// too-new block) rather than because the bucket failed this time.
func permanent(err error) bool {
	return errors.Is(err, block.ErrCorrupt) || errors.Is(err, block.ErrUnsupportedVersion)
}

// hideReason says why a complete block is not read.
type hideReason struct {
	by      string // a block that holds all of its spans (a compaction's output)
	expired bool   // past the retention
}

func (r hideReason) hidden() bool { return r.by != "" || r.expired }

// hiddenBlocks finds the complete blocks a query must not read: inputs of
// a compaction whose output is complete (their spans are in it), outputs of
// a compaction that raced another over the same inputs and lost (the
// winner's inputs include all of theirs; equal sets keep the lowest ID),
// and blocks past the retention horizon.
func hiddenBlocks(known map[string]block.Meta, horizon int64) map[string]hideReason {
	out := map[string]hideReason{}
	mergersOf := map[string][]string{} // input ID -> IDs of blocks merged from it
	for id, m := range known {
		for _, in := range m.Compacted {
			mergersOf[in] = append(mergersOf[in], id)
		}
	}
	for in, mergers := range mergersOf {
		if _, ok := known[in]; !ok {
			continue
		}
		// Any merger will do; the oldest decides when the input may go.
		oldest := slices.MinFunc(mergers, func(a, b string) int {
			return cmp.Or(cmp.Compare(known[a].CreatedUnixNano, known[b].CreatedUnixNano), cmp.Compare(a, b))
		})
		out[in] = hideReason{by: oldest}
	}
	for id, m := range known {
		if len(m.Compacted) == 0 || out[id].by != "" {
			continue
		}
		for _, other := range mergersOf[m.Compacted[0]] {
			o := known[other]
			if other == id || !containsAll(o.Compacted, m.Compacted) {
				continue
			}
			if len(o.Compacted) > len(m.Compacted) || other < id {
				out[id] = hideReason{by: other}
				break
			}
		}
	}
	for id, m := range known {
		if retentionEnd(m) < horizon {
			r := out[id]
			r.expired = true
			out[id] = r
		}
	}
	return out
}

// containsAll reports whether sorted set a holds every element of sorted b.
func containsAll(a, b []string) bool {
	for _, x := range b {
		if _, ok := slices.BinarySearch(a, x); !ok {
			return false
		}
	}
	return true
}

// deleteShared deletes, on the compactor only, what no node reads any
// more: blocks hidden by a merge this node has seen for DeleteDelay (its
// own clock, not the writer's), blocks expired
// for longer than DeleteDelay (every node drops them from its list at the
// horizon, at its next retention pass), and meta-less blocks older than
// PartialUploadAge (uploads a crash cut short; a node that restarts writes
// its WAL's spans as a new block). The delay is what keeps a query on
// another node, which holds a block only in its own memory, from finding
// the objects gone.
func (s *Store) deleteShared(ctx context.Context, l block.Listing, hidden map[string]hideReason, now time.Time) error {
	var doomed []string
	delay := s.opts.DeleteDelay.Nanoseconds()
	for id, r := range hidden {
		if seen, ok := s.firstSeen[r.by]; ok && r.by != "" && now.Sub(seen).Nanoseconds() > delay {
			doomed = append(doomed, id)
		} else if r.expired && retentionEnd(s.known[id]) < now.Add(-s.opts.Retention).UnixNano()-delay {
			doomed = append(doomed, id)
		}
	}
	for _, id := range l.Incomplete {
		if t, ok := block.IDTime(id); ok && now.Sub(t) > s.opts.PartialUploadAge {
			doomed = append(doomed, id)
		}
	}
	if len(doomed) == 0 || !s.mayCompact(ctx) {
		return nil
	}
	slices.Sort(doomed)
	var errs []error
	for _, id := range doomed {
		if err := block.Delete(ctx, s.bucket, id); err != nil {
			errs = append(errs, err)
			continue
		}
		_, complete := s.known[id]
		delete(s.known, id)
		delete(s.firstSeen, id)
		s.metrics.sharedDeletes.Inc()
		s.log.Info("deleted block from the shared bucket", "block", id, "complete", complete,
			"reason", deleteReason(hidden[id], complete))
	}
	return errors.Join(errs...)
}

func deleteReason(r hideReason, complete bool) string {
	switch {
	case !complete:
		return "upload left incomplete"
	case r.by != "":
		return "compacted into " + r.by
	default:
		return "retention"
	}
}

func (s *Store) hasBlockLocked(id string) bool { return s.blockLocked(id) != nil }

func (s *Store) blockLocked(id string) *liveBlock {
	for _, b := range s.blocks {
		if b.Meta().ID == id {
			return b
		}
	}
	return nil
}

// HasBlock reports whether the block is in this node's block list.
func (s *Store) HasBlock(id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.hasBlockLocked(id)
}

// recentBlock is a block this node wrote lately, held open (one reference)
// for as long as peers may not have listed it.
type recentBlock struct {
	lb      *liveBlock
	written time.Time
}

// recentWindow is how long a block this node wrote counts as recent: its
// peers list it at their next poll (PollEvery, plus time for a slow
// listing); until then they ask this node for it. The block is held for
// that long even if it leaves this node's list (compacted by another node
// into a block the peers have not listed either), and never longer than
// DeleteDelay, after which the compactor may delete its objects.
func (s *Store) recentWindow() time.Duration {
	return min(2*s.opts.PollEvery+30*time.Second, s.opts.DeleteDelay)
}

// noteWrittenLocked holds a block this node just wrote as recent and
// returns the recent blocks that aged out, for the caller to release
// outside s.mu.
func (s *Store) noteWrittenLocked(lb *liveBlock) []*liveBlock {
	if !s.opts.Shared {
		return nil
	}
	lb.acquire()
	s.recent = append(s.recent, recentBlock{lb: lb, written: s.opts.Now()})
	return s.pruneRecentLocked()
}

func (s *Store) pruneRecentLocked() []*liveBlock {
	now := s.opts.Now()
	var expired []*liveBlock
	kept := s.recent[:0]
	for _, r := range s.recent {
		if now.Sub(r.written) > s.recentWindow() {
			expired = append(expired, r.lb)
		} else {
			kept = append(kept, r)
		}
	}
	s.recent = kept
	return expired
}

// recentSnapshot is what other nodes sharing the bucket cannot see yet:
// this node's heads and the blocks it wrote within recentWindow.
func (s *Store) recentSnapshot() *snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	snap := &snapshot{heads: make([]*head, 0, 1+len(s.flushing))}
	now := s.opts.Now()
	horizon := now.Add(-s.opts.Retention).UnixNano()
	for _, r := range s.recent {
		if now.Sub(r.written) <= s.recentWindow() && retentionEnd(r.lb.Meta()) >= horizon {
			r.lb.acquire()
			snap.blocks = append(snap.blocks, r.lb)
		}
	}
	snap.heads = append(snap.heads, s.head)
	for i := len(s.flushing) - 1; i >= 0; i-- {
		snap.heads = append(snap.heads, s.flushing[i].h)
	}
	return snap
}

// RecentTrace is Trace over what peers cannot see yet (see recentSnapshot).
func (s *Store) RecentTrace(ctx context.Context, id model.TraceID) ([]model.Span, error) {
	snap := s.recentSnapshot()
	defer snap.release()
	return snap.trace(ctx, id)
}

// RecentFindTraces is FindTraces over what peers cannot see yet.
func (s *Store) RecentFindTraces(ctx context.Context, p *predicate.Compiled, limit int) ([]Match, error) {
	if limit <= 0 {
		limit = 20
	}
	snap := s.recentSnapshot()
	defer snap.release()
	found, err := snap.find(ctx, p, limit)
	if err != nil {
		return nil, fmt.Errorf("recent: %w", err)
	}
	return found.matches(), nil
}

// RecentOperations is Operations over what peers cannot see yet.
func (s *Store) RecentOperations(ctx context.Context) (map[string][]block.OperationInfo, error) {
	snap := s.recentSnapshot()
	defer snap.release()
	return snap.operations(), nil
}

// RecentDependencies lists, by source, the edges of what peers cannot see
// yet; a peer adds a block's edges only if the block is not in its own list.
func (s *Store) RecentDependencies(ctx context.Context, from, to time.Time) ([]EdgeSource, error) {
	snap := s.recentSnapshot()
	defer snap.release()
	return snap.dependencies(ctx, from, to)
}
