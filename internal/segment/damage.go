package segment

import (
	"context"
	"errors"
	"fmt"

	"github.com/clewtrace/clew/internal/query/partial"
)

// A read error in one block must not fail queries about the rest. Reads go
// through ReadBlock: a block whose bytes do not decode is logged (once
// until it is verified), counted, named in the query's partial.Report and
// queued for verification; the query carries on with the other blocks.
// Verification (verifySuspects, in the background and in Maintain) reads
// the whole block: if it all decodes, the error was transient and nothing
// changes; otherwise the intact records are written as a new block, the
// damaged block moves to quarantine/ in the bucket, and the records lost
// are logged and counted.

// ReadBlock runs read against lb, turning a decoder panic into an error.
// Damage (Format.Damaged, or a decoder panic) is reported as above and
// ReadBlock returns nil. Any other error (the query's context ended, the
// bucket failed to deliver the bytes) is returned: retrying can help, and
// answering without the block would hide an outage.
func (c *Core[R, H, B]) ReadBlock(ctx context.Context, lb *Live[B], read func() error) error {
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("%w: decoder panic: %v", ErrDamaged, p)
			}
		}()
		return read()
	}()
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if !errors.Is(err, ErrDamaged) && !c.f.Damaged(err) {
		return err
	}
	id := lb.meta.ID
	c.m.BlockReadErrors.Inc()
	partial.Add(ctx, fmt.Sprintf("%s block %s could not be read; %s stored in it are missing from this answer", c.opts.Name, id, c.opts.Unit))
	if c.suspect(id) {
		c.log.Error("cannot read block; queries answer from the other blocks until it is verified", "block", id, "err", err)
	}
	return nil
}

// suspect queues block id for verification; it reports whether the block
// was not already queued.
func (c *Core[R, H, B]) suspect(id string) bool {
	c.suspectMu.Lock()
	defer c.suspectMu.Unlock()
	if _, ok := c.suspects[id]; ok || c.damagedShared[id] {
		return false
	}
	c.suspects[id] = struct{}{}
	select {
	case c.verifyKick <- struct{}{}:
	default:
	}
	return true
}

// verifySuspects verifies every queued block. A block that cannot be
// checked (a read failed) stays queued for the next pass.
func (c *Core[R, H, B]) verifySuspects(ctx context.Context) error {
	c.compactMu.Lock() // compaction must not merge a block being replaced here
	defer c.compactMu.Unlock()
	c.suspectMu.Lock()
	ids := make([]string, 0, len(c.suspects))
	for id := range c.suspects {
		ids = append(ids, id)
	}
	c.suspectMu.Unlock()
	var errs []error
	for _, id := range ids {
		done, err := c.verifyBlock(ctx, id)
		if err != nil {
			errs = append(errs, err)
		}
		if done {
			c.suspectMu.Lock()
			delete(c.suspects, id)
			c.suspectMu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// verifyBlock checks one block and replaces it if damaged. done is false
// when the block could not be checked and should be tried again.
func (c *Core[R, H, B]) verifyBlock(ctx context.Context, id string) (done bool, err error) {
	lb := c.acquireBlock(id)
	if lb == nil {
		return true, nil // compacted or expired meanwhile
	}
	defer lb.release()
	rest, lost, err := c.f.Verify(ctx, lb.Block)
	if err != nil {
		return false, fmt.Errorf("verify block %s (will retry): %w", id, err)
	}
	if lost == 0 {
		c.log.Warn("block verified intact after a read error; the error was transient", "block", id)
		return true, nil
	}
	if c.opts.Shared {
		// Other nodes read this bucket, and only the compactor deletes
		// from it: this node leaves the block in place; reads skip what
		// does not decode, marked partial.
		c.suspectMu.Lock()
		c.damagedShared[id] = true
		c.suspectMu.Unlock()
		c.log.Error("block in the shared bucket is damaged; left in place, queries skip its damaged parts (partial answers)",
			"block", id, "lost_"+c.opts.Unit, lost)
		return true, nil
	}
	var rebuilt *Live[B]
	if len(rest) > 0 {
		h := c.f.NewHead(c.opts.Now())
		h.Add(rest)
		nid, err := c.f.Write(ctx, c.bucket, h, lb.meta.Level)
		if err != nil {
			return false, fmt.Errorf("rebuild damaged block %s (will retry): %w", id, err)
		}
		if rebuilt, err = c.openBlock(ctx, nid); err != nil {
			return false, fmt.Errorf("open block %s rebuilt from damaged %s: %w", nid, id, err)
		}
	}
	lb.quarantine.Store(true)
	c.replaceBlocks([]*Live[B]{lb}, rebuilt)
	c.m.BlocksQuarantined.Inc()
	c.m.Lost.Add(float64(lost))
	args := []any{"block", id, "lost_" + c.opts.Unit, lost, "kept_" + c.opts.Unit, len(rest), "quarantine", "quarantine/" + id + "/"}
	if rebuilt != nil {
		args = append(args, "rebuilt_as", rebuilt.meta.ID)
		c.log.Error("block is damaged: its intact records were rebuilt as a new block; the block moves to quarantine", args...)
	} else {
		c.log.Error("block is damaged, nothing in it is intact; the block moves to quarantine", args...)
	}
	return true, nil
}

// acquireBlock returns the listed block with the given ID, acquired, or nil.
func (c *Core[R, H, B]) acquireBlock(id string) *Live[B] {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if b := c.blockLocked(id); b != nil {
		b.acquire()
		return b
	}
	return nil
}
