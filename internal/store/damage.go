package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/parquet-go/parquet-go"

	"github.com/clewtrace/clew/internal/query/partial"
	"github.com/clewtrace/clew/internal/store/block"
)

// A read error in one block must not fail queries about the rest. Reads
// go through readBlock: a block that fails is logged (once until it is
// verified), counted, named in the query's partial.Report, and queued for
// verification; the query carries on with the other blocks. Verification
// (verifySuspects, run in the background and by Maintain) reads the whole
// block: if every row group decodes, the error was transient (an object
// store that hiccupped) and nothing changes; otherwise the intact row
// groups are written as a new block, the damaged block moves to
// quarantine/ in the bucket, and the spans of the damaged row groups —
// whole traces, as row groups are cut on trace boundaries — are logged
// and counted as lost.

// readBlock runs read against b, turning a decoder panic into an error.
// Damage — bytes that do not decode (block.ErrCorrupt, parquet's
// ErrCorrupted: a page checksum mismatch, a bad page header) or a decoder
// panic — is reported as above and readBlock returns nil. Any other error
// (the query's context ended, the object store failed to deliver the
// bytes) fails the query as before: retrying it can help, and answering
// without the block would hide an outage.
func (s *Store) readBlock(ctx context.Context, b *liveBlock, read func() error) error {
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("%w: decoder panic: %v", block.ErrCorrupt, p)
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
	if !errors.Is(err, block.ErrCorrupt) && !errors.Is(err, parquet.ErrCorrupted) {
		return err
	}
	id := b.Meta().ID
	s.metrics.blockReadErrors.Inc()
	partial.Add(ctx, fmt.Sprintf("block %s could not be read; spans stored in it are missing from this answer", id))
	if s.suspect(id) {
		s.log.Error("cannot read block; queries answer from the other blocks until it is verified",
			"block", id, "err", err)
	}
	return nil
}

// suspect queues block id for verification; it reports whether the block
// was not already queued.
func (s *Store) suspect(id string) bool {
	s.suspectMu.Lock()
	defer s.suspectMu.Unlock()
	if _, ok := s.suspects[id]; ok || s.damagedShared[id] {
		return false
	}
	s.suspects[id] = struct{}{}
	select {
	case s.verifyKick <- struct{}{}:
	default:
	}
	return true
}

// verifySuspects verifies every queued block (see the comment at the top).
// A block that cannot be checked (a read failed) stays queued for the next
// pass.
func (s *Store) verifySuspects(ctx context.Context) error {
	s.compactMu.Lock() // compaction must not merge a block being replaced here
	defer s.compactMu.Unlock()
	s.suspectMu.Lock()
	ids := make([]string, 0, len(s.suspects))
	for id := range s.suspects {
		ids = append(ids, id)
	}
	s.suspectMu.Unlock()
	var errs []error
	for _, id := range ids {
		done, err := s.verifyBlock(ctx, id)
		if err != nil {
			errs = append(errs, err)
		}
		if done {
			s.suspectMu.Lock()
			delete(s.suspects, id)
			s.suspectMu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// verifyBlock checks one block and replaces it if damaged. done is false
// when the block could not be checked and should be tried again.
func (s *Store) verifyBlock(ctx context.Context, id string) (done bool, err error) {
	b := s.acquireBlock(id)
	if b == nil {
		return true, nil // compacted or expired meanwhile
	}
	defer b.release()
	damaged, err := b.Verify(ctx)
	if err != nil {
		return false, fmt.Errorf("verify block %s (will retry): %w", id, err)
	}
	if len(damaged) == 0 {
		s.log.Warn("block verified intact after a read error; the error was transient", "block", id)
		return true, nil
	}
	var lost int64
	for _, i := range damaged {
		lost += b.RowGroupRows(i)
	}
	if s.opts.Shared {
		// Other nodes read this bucket, and only the compactor deletes
		// from it: this node leaves the block in place; reads skip it,
		// marked partial.
		s.suspectMu.Lock()
		s.damagedShared[id] = true
		s.suspectMu.Unlock()
		s.log.Error("block in the shared bucket is damaged; left in place, queries skip its damaged row groups (partial answers)",
			"block", id, "damaged_row_groups", len(damaged), "spans_in_them", lost)
		return true, nil
	}
	rest, err := b.SpansExcept(ctx, damaged)
	if err != nil {
		return false, fmt.Errorf("salvage block %s (will retry): %w", id, err)
	}
	var rebuilt *block.Block
	if len(rest) > 0 {
		h := newHead(s.opts.Now())
		h.add(rest)
		meta, err := block.Write(ctx, s.bucket, h.spans(), h.edgeList(), b.Meta().CompactionLevel)
		if err != nil {
			return false, fmt.Errorf("rebuild damaged block %s (will retry): %w", id, err)
		}
		if rebuilt, err = block.Open(ctx, s.bucket, meta.ID); err != nil {
			return false, fmt.Errorf("open block %s rebuilt from damaged %s: %w", meta.ID, id, err)
		}
	}
	b.quarantine.Store(true)
	s.replaceBlocks([]*liveBlock{b}, rebuilt)
	s.metrics.blocksQuarantined.Inc()
	s.metrics.spansLost.Add(float64(lost))
	args := []any{"block", id, "damaged_row_groups", len(damaged), "row_groups", b.RowGroups(),
		"lost_spans", lost, "kept_spans", len(rest), "quarantine", "quarantine/" + id + "/"}
	if rebuilt != nil {
		args = append(args, "rebuilt_as", rebuilt.Meta().ID)
		s.log.Error("block is damaged: its intact row groups were rebuilt as a new block; the block moves to quarantine", args...)
	} else {
		s.log.Error("block is damaged, no row group is intact; the block moves to quarantine", args...)
	}
	return true, nil
}

// acquireBlock returns the listed block with the given ID, acquired, or nil.
func (s *Store) acquireBlock(id string) *liveBlock {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, b := range s.blocks {
		if b.Meta().ID == id {
			b.acquire()
			return b
		}
	}
	return nil
}
