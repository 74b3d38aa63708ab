package segment

import (
	"context"
	"errors"
	"fmt"
)

// maxMergesPerPass bounds one compaction pass, so retention is not held up
// behind a long backlog of merges.
const maxMergesPerPass = 8

func (c *Core[R, H, B]) compactAndExpire(ctx context.Context) error {
	c.compactMu.Lock()
	defer c.compactMu.Unlock()
	var err error
	if c.mayCompact(ctx) {
		err = c.compact(ctx)
	}
	c.applyRetention()
	return errors.Join(err, c.collectGarbage(ctx))
}

// mayCompact reports whether this node compacts and deletes: always with a
// bucket of its own, only while holding the gate with a shared one.
func (c *Core[R, H, B]) mayCompact(ctx context.Context) bool {
	if !c.opts.Shared {
		return true
	}
	return c.opts.Compactor != nil && c.opts.Compactor.Held(ctx)
}

// compact merges small blocks as PlanCompaction picks them.
func (c *Core[R, H, B]) compact(ctx context.Context) error {
	for range maxMergesPerPass {
		if !c.mayCompact(ctx) {
			return nil // the compactor lease was lost: another node compacts now
		}
		inputs, level := c.pickCompaction()
		if inputs == nil {
			return nil
		}
		err := c.merge(ctx, inputs, level)
		for _, b := range inputs {
			if err != nil && ctx.Err() == nil && c.f.Damaged(err) {
				// One of them may be damaged: verification finds out
				// (and otherwise every pass would fail on it again).
				c.suspect(b.meta.ID)
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
func (c *Core[R, H, B]) pickCompaction() ([]*Live[B], int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	metas := make([]Meta, len(c.blocks))
	for i, b := range c.blocks {
		metas[i] = b.meta
	}
	group, level := PlanCompaction(metas, PlanOptions{MaxCount: c.opts.BlockMaxCount, Blocks: c.opts.CompactBlocks,
		MaxAge: c.opts.BlockMaxAge, Now: c.opts.Now().UnixNano()})
	if group == nil {
		return nil, 0
	}
	out := make([]*Live[B], len(group))
	for i, j := range group {
		out[i] = c.blocks[j]
		out[i].acquire()
	}
	return out, level
}

// merge writes the inputs as one block of the given level and swaps it in.
func (c *Core[R, H, B]) merge(ctx context.Context, inputs []*Live[B], level int) error {
	blocks := make([]B, len(inputs))
	for i, b := range inputs {
		blocks[i] = b.Block
	}
	id, err := c.f.Compact(ctx, c.bucket, blocks, level)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	merged, err := c.openBlock(ctx, id)
	if err != nil {
		return fmt.Errorf("open compacted block %s: %w", id, err)
	}
	c.replaceBlocks(inputs, merged)
	c.m.Compactions.Inc()
	return nil
}

// replaceBlocks swaps old blocks for a new one (nil: just remove them) and
// drops the block list's references to the old ones.
func (c *Core[R, H, B]) replaceBlocks(old []*Live[B], with *Live[B]) {
	drop := map[*Live[B]]bool{}
	for _, b := range old {
		drop[b] = true
	}
	c.mu.Lock()
	kept := c.blocks[:0:0]
	var dropped []*Live[B]
	for _, b := range c.blocks {
		if drop[b] {
			dropped = append(dropped, b)
		} else {
			kept = append(kept, b)
		}
	}
	if with != nil {
		kept = append(kept, with)
	}
	sortBlocks(kept)
	c.blocks = kept
	c.mu.Unlock()
	for _, b := range dropped {
		b.keepObjects.Store(c.opts.Shared && !b.quarantine.Load())
		b.dropped.Store(true)
		b.release()
	}
}

// applyRetention drops whole blocks whose RetentionEnd is before the
// retention horizon; they are deleted once no query holds them (in a
// shared bucket, by the compactor, later: see deleteShared).
func (c *Core[R, H, B]) applyRetention() {
	horizon := c.opts.Now().Add(-c.opts.Retention).UnixNano()
	c.mu.RLock()
	var expired []*Live[B]
	for _, b := range c.blocks {
		if RetentionEnd(b.meta) < horizon {
			expired = append(expired, b)
		}
	}
	c.mu.RUnlock()
	if len(expired) == 0 {
		return
	}
	c.replaceBlocks(expired, nil)
	c.m.BlocksExpired.Add(float64(len(expired)))
}

// collectGarbage closes and deletes blocks that left the block list and
// that nobody reads any more. A block whose delete fails is tried again on
// the next pass; a restart also finds it (see openBlocks).
func (c *Core[R, H, B]) collectGarbage(ctx context.Context) error {
	c.garbageMu.Lock()
	todo := c.garbage
	c.garbage = nil
	c.garbageMu.Unlock()
	var errs []error
	var retry []*Live[B]
	for _, lb := range todo {
		_ = lb.Block.Close()
		id := lb.meta.ID
		if lb.quarantine.Load() {
			if _, err := quarantineBlock(ctx, c.bucket, id); err != nil {
				errs = append(errs, fmt.Errorf("quarantine block %s: %w", id, err))
				retry = append(retry, lb)
			}
			continue
		}
		if err := Delete(ctx, c.bucket, id); err != nil {
			errs = append(errs, err)
			retry = append(retry, lb)
		}
	}
	if len(retry) > 0 {
		c.garbageMu.Lock()
		c.garbage = append(c.garbage, retry...)
		c.garbageMu.Unlock()
	}
	return errors.Join(errs...)
}
