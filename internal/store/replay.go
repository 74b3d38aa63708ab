package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/clewtrace/clew/internal/query/partial"
	"github.com/clewtrace/clew/internal/store/wal"
)

// replayState follows the WAL replay that rebuilds the head at start-up.
// With Options.ReplayInBackground it runs after Open has returned: a crash
// that left a large WAL (264 k spans took 17 s) no longer keeps every
// query waiting. Meanwhile queries read the blocks and the head replayed so
// far and are marked partial; writes are refused (the WAL takes appends
// only after its replay) and cuts wait, so no segment is deleted before
// all of it is in the head.
type replayState struct {
	running atomic.Bool  // set before and cleared after a background replay
	size    int64        // WAL bytes on disk when the replay started
	bytes   atomic.Int64 // record bytes replayed so far (framing included)
	spans   atomic.Int64 // spans replayed so far
	err     atomic.Pointer[error]
	ctx     context.Context // the background replay's; Close cancels it
	cancel  context.CancelFunc
	done    chan struct{} // closed when a background replay ends
}

// replayProgressEvery is how often a long replay logs its progress.
const replayProgressEvery = 5 * time.Second

// replayReason is what a query answered during the replay is told.
const replayReason = "the write-ahead log is still being replayed after a restart; recently received spans may be missing"

// replayWAL replays the WAL into the head, logging progress.
func (s *Store) replayWAL(ctx context.Context) error {
	start := time.Now()
	lastLog := start
	stats, err := s.wal.Replay(ctx, func(_ wal.SegmentID, rec []byte) error {
		s.replay.bytes.Add(int64(len(rec)) + 8)
		spans, err := decodeRecord(rec)
		if err != nil {
			// A record that passed its checksum but does not decode was written
			// by a newer or broken version; keep going with the rest.
			s.log.Warn("skipping undecodable WAL record", "err", err)
			return nil
		}
		s.head.add(spans)
		s.replay.spans.Add(int64(len(spans)))
		if now := time.Now(); now.Sub(lastLog) >= replayProgressEvery {
			lastLog = now
			s.log.Info("replaying the WAL", "replayed_bytes", s.replay.bytes.Load(), "wal_bytes", s.replay.size,
				"replayed_spans", s.replay.spans.Load(), "elapsed", now.Sub(start).Round(time.Millisecond))
		}
		if s.opts.replayGate != nil {
			s.opts.replayGate()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: replay: %w", err)
	}
	s.log.Info("store opened", "dir", s.opts.Dir, "blocks", s.blockCount(), "replayed_spans", s.replay.spans.Load(),
		"replay", time.Since(start).Round(time.Millisecond))
	if len(stats.Damage) > 0 {
		// Each range is logged by the WAL with its offsets and quarantine file.
		s.log.Warn("damaged WAL records were cut out and quarantined; intact records were kept",
			"damaged_ranges", len(stats.Damage), "dropped_bytes", stats.DroppedBytes,
			"dropped_segments", stats.DroppedSegments, "kept_records", stats.Records)
	}
	return nil
}

// WaitReplayed returns once the WAL replay is done (at once without
// ReplayInBackground), with its error, or ctx's.
func (s *Store) WaitReplayed(ctx context.Context) error {
	if s.replay.done != nil {
		select {
		case <-s.replay.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if p := s.replay.err.Load(); p != nil {
		return fmt.Errorf("store: WAL replay failed: %w", *p)
	}
	return nil
}

// replayErr is why writes are refused because of the replay, or nil.
func (s *Store) replayErr() error {
	if p := s.replay.err.Load(); p != nil {
		return fmt.Errorf("store: WAL replay failed: %w", *p)
	}
	if s.replay.running.Load() {
		return fmt.Errorf("store: replaying the WAL after a restart (%d of %d bytes)", s.replay.bytes.Load(), s.replay.size)
	}
	return nil
}

// headWhole reports whether the head holds every record of the WAL.
func (s *Store) headWhole() bool { return !s.replay.running.Load() && s.replay.err.Load() == nil }

// notePartial marks ctx's answer partial while the head is not whole.
func (s *Store) notePartial(ctx context.Context) {
	if !s.headWhole() {
		partial.Add(ctx, replayReason)
	}
}

func (s *Store) blockCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.blocks)
}
