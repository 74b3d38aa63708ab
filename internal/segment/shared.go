package segment

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"time"
)

// syncBucket brings the block list of a shared bucket up to date: blocks
// other nodes wrote are opened; blocks that were deleted, compacted into
// another or expired leave the list (they are closed once no query holds
// them; objects are never deleted here). Holding the compactor gate, it
// then deletes what every node has had time to let go of.
//
// It runs under compactMu, so it never races a compaction or retention
// pass. Flushes run concurrently: only blocks that were in the list when
// the listing started can leave it, so a block written meanwhile stays.
func (c *Core[R, H, B]) syncBucket(ctx context.Context) error {
	c.compactMu.Lock()
	defer c.compactMu.Unlock()
	c.mu.RLock()
	before := make(map[string]*Live[B], len(c.blocks))
	for _, b := range c.blocks {
		before[b.meta.ID] = b
	}
	c.mu.RUnlock()

	l, err := List(ctx, c.bucket)
	if err != nil {
		return err
	}
	if c.known == nil {
		c.known, c.badMetas, c.firstSeen = map[string]Meta{}, map[string]bool{}, map[string]time.Time{}
	}
	now := c.opts.Now()
	listed := make(map[string]bool, len(l.Complete))
	var errs []error
	for _, id := range l.Complete {
		if _, ok := c.known[id]; ok {
			listed[id] = true
			continue
		}
		if c.badMetas[id] {
			continue // found unreadable before: not asked for again
		}
		if b := before[id]; b != nil {
			c.known[id], listed[id], c.firstSeen[id] = b.meta, true, now
			continue
		}
		m, err := c.f.ReadMeta(ctx, c.bucket, id)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since the listing
		}
		if err != nil {
			if c.f.Damaged(err) {
				c.badMetas[id] = true
				c.log.Error("cannot read block meta in the shared bucket, skipping the block", "block", id, "err", err)
				continue
			}
			errs = append(errs, err) // the bucket failed: try again next poll
			continue
		}
		c.known[id], listed[id], c.firstSeen[id] = m, true, now
	}
	for id := range c.known {
		if !listed[id] {
			delete(c.known, id)
			delete(c.firstSeen, id)
		}
	}
	for id := range c.badMetas {
		if !slices.Contains(l.Complete, id) {
			delete(c.badMetas, id) // gone from the bucket
		}
	}
	horizon := now.Add(-c.opts.Retention).UnixNano()
	hidden := HiddenBlocks(c.known, horizon)

	var added []*Live[B]
	for _, id := range l.Complete {
		if _, ok := c.known[id]; !ok || hidden[id].Hidden() || before[id] != nil {
			continue
		}
		lb, err := c.openBlock(ctx, id)
		if err != nil {
			switch {
			case errors.Is(err, fs.ErrNotExist): // deleted since the listing
			case c.f.Damaged(err):
				c.badMetas[id] = true
				delete(c.known, id)
				c.log.Error("cannot open block in the shared bucket, skipping it", "block", id, "err", err)
			default:
				errs = append(errs, err) // the bucket failed: try again next poll
			}
			continue
		}
		added = append(added, lb)
	}
	drop := map[*Live[B]]bool{}
	for id, b := range before {
		if _, ok := c.known[id]; !ok || hidden[id].Hidden() {
			drop[b] = true
		}
	}
	var extra, dropped []*Live[B]
	c.mu.Lock()
	kept := c.blocks[:0:0]
	for _, b := range c.blocks {
		if drop[b] {
			dropped = append(dropped, b)
		} else {
			kept = append(kept, b)
		}
	}
	c.blocks = kept
	for _, b := range added {
		if c.blockLocked(b.meta.ID) != nil {
			extra = append(extra, b) // this node's flush added it meanwhile
		} else {
			c.blocks = append(c.blocks, b)
		}
	}
	sortBlocks(c.blocks)
	c.mu.Unlock()
	for _, b := range extra {
		b.release() // closes it: never in the list
	}
	for _, b := range dropped {
		b.keepObjects.Store(true)
		b.dropped.Store(true)
		b.release()
	}
	c.mu.Lock()
	expired := c.pruneRecentLocked()
	c.mu.Unlock()
	for _, b := range expired {
		b.release()
	}
	if len(added)+len(dropped) > 0 {
		c.log.Debug("shared bucket polled", "blocks_added", len(added)-len(extra), "blocks_dropped", len(dropped))
	}
	if c.m != nil { // nil during Open
		errs = append(errs, c.deleteShared(ctx, l, hidden, now))
	}
	return errors.Join(errs...)
}

// PollBucket lists a shared bucket now (it is also done every PollEvery),
// so that blocks other nodes wrote or removed are seen at once.
func (c *Core[R, H, B]) PollBucket(ctx context.Context) error {
	if !c.opts.Shared {
		return nil
	}
	return c.syncBucket(ctx)
}

// deleteShared deletes, on the compactor only, what no node reads any
// more: blocks hidden by a merge this node has seen for DeleteDelay (its
// own clock, not the writer's), blocks expired for longer than DeleteDelay
// (every node drops them from its list at the horizon, at its next
// retention pass), and meta-less blocks older than PartialUploadAge
// (uploads a crash cut short; a node that restarts writes its WAL's records
// as a new block). The delay is what keeps a query on another node, which
// holds a block only in its own memory, from finding the objects gone.
func (c *Core[R, H, B]) deleteShared(ctx context.Context, l Listing, hidden map[string]HideReason, now time.Time) error {
	var doomed []string
	delay := c.opts.DeleteDelay.Nanoseconds()
	for id, r := range hidden {
		if seen, ok := c.firstSeen[r.By]; ok && r.By != "" && now.Sub(seen).Nanoseconds() > delay {
			doomed = append(doomed, id)
		} else if r.Expired && RetentionEnd(c.known[id]) < now.Add(-c.opts.Retention).UnixNano()-delay {
			doomed = append(doomed, id)
		}
	}
	for _, id := range l.Incomplete {
		if t, ok := IDTime(id); ok && now.Sub(t) > c.opts.PartialUploadAge {
			doomed = append(doomed, id)
		}
	}
	if len(doomed) == 0 || !c.mayCompact(ctx) {
		return nil
	}
	slices.Sort(doomed)
	var errs []error
	for _, id := range doomed {
		if err := Delete(ctx, c.bucket, id); err != nil {
			errs = append(errs, err)
			continue
		}
		_, complete := c.known[id]
		delete(c.known, id)
		delete(c.firstSeen, id)
		c.m.SharedDeletes.Inc()
		c.log.Info("deleted block from the shared bucket", "block", id, "complete", complete,
			"reason", deleteReason(hidden[id], complete))
	}
	return errors.Join(errs...)
}

func deleteReason(r HideReason, complete bool) string {
	switch {
	case !complete:
		return "upload left incomplete"
	case r.By != "":
		return "compacted into " + r.By
	default:
		return "retention"
	}
}

// recentBlock is a block this node wrote lately, held open (one reference)
// for as long as peers may not have listed it.
type recentBlock[B Block] struct {
	lb      *Live[B]
	written time.Time
}

// RecentWindow is how long a block this node wrote counts as recent: its
// peers list it at their next poll (PollEvery, plus time for a slow
// listing); until then they ask this node for it. The block is held for
// that long even if it leaves this node's list (compacted by another node
// into a block the peers have not listed either), and never longer than
// DeleteDelay, after which the compactor may delete its objects.
func (c *Core[R, H, B]) RecentWindow() time.Duration {
	return min(2*c.opts.PollEvery+30*time.Second, c.opts.DeleteDelay)
}

// noteWrittenLocked holds a block this node just wrote as recent and
// returns the recent blocks that aged out, for the caller to release
// outside mu.
func (c *Core[R, H, B]) noteWrittenLocked(lb *Live[B]) []*Live[B] {
	if !c.opts.Shared || !c.opts.KeepRecent {
		return nil
	}
	lb.acquire()
	c.recent = append(c.recent, recentBlock[B]{lb: lb, written: c.opts.Now()})
	return c.pruneRecentLocked()
}

func (c *Core[R, H, B]) pruneRecentLocked() []*Live[B] {
	now := c.opts.Now()
	var expired []*Live[B]
	kept := c.recent[:0]
	for _, r := range c.recent {
		if now.Sub(r.written) > c.RecentWindow() {
			expired = append(expired, r.lb)
		} else {
			kept = append(kept, r)
		}
	}
	c.recent = kept
	return expired
}

// RecentSnapshot is what other nodes sharing the bucket cannot see yet:
// this node's heads and the blocks it wrote within RecentWindow (not past
// the retention). The caller must Release it.
func (c *Core[R, H, B]) RecentSnapshot() *Snapshot[H, B] {
	c.mu.RLock()
	defer c.mu.RUnlock()
	snap := &Snapshot[H, B]{Heads: make([]H, 0, 1+len(c.flushing))}
	now := c.opts.Now()
	horizon := now.Add(-c.opts.Retention).UnixNano()
	for _, r := range c.recent {
		if now.Sub(r.written) <= c.RecentWindow() && RetentionEnd(r.lb.meta) >= horizon {
			r.lb.acquire()
			snap.Blocks = append(snap.Blocks, r.lb)
		}
	}
	snap.Heads = append(snap.Heads, c.head)
	for i := len(c.flushing) - 1; i >= 0; i-- {
		snap.Heads = append(snap.Heads, c.flushing[i].h)
	}
	return snap
}
