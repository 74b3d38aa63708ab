package segment

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/clewtrace/clew/internal/query/partial"
	"github.com/clewtrace/clew/internal/store/wal"
)

// replayState follows the WAL replay that rebuilds the head at start-up.
// With Options.ReplayInBackground it runs after Open has returned.
// Meanwhile queries read the blocks and the head replayed so far and are
// marked partial; appends are refused (the WAL takes appends only after its
// replay) and cuts wait, so no segment is deleted before all of it is in
// the head.
type replayState struct {
	running atomic.Bool  // set before and cleared after a background replay
	size    int64        // WAL bytes on disk when the replay started
	bytes   atomic.Int64 // record bytes replayed so far (framing included)
	records atomic.Int64 // records replayed so far
	err     atomic.Pointer[error]
	ctx     context.Context // the background replay's; Close cancels it
	cancel  context.CancelFunc
	done    chan struct{} // closed when a background replay ends
}

// replayProgressEvery is how often a long replay logs its progress.
const replayProgressEvery = 5 * time.Second

func (c *Core[R, H, B]) replayWAL(ctx context.Context) error {
	start := time.Now()
	lastLog := start
	stats, err := c.wal.Replay(ctx, func(_ wal.SegmentID, rec []byte) error {
		c.replay.bytes.Add(int64(len(rec)) + 8)
		recs, err := c.f.Decode(rec)
		if err != nil {
			// A record that passed its checksum but does not decode was
			// written by a newer or broken version; keep the rest.
			c.log.Warn("skipping undecodable WAL record", "err", err)
			return nil
		}
		c.head.Add(recs)
		c.replay.records.Add(int64(len(recs)))
		if now := time.Now(); now.Sub(lastLog) >= replayProgressEvery {
			lastLog = now
			c.log.Info("replaying the WAL", "replayed_bytes", c.replay.bytes.Load(), "wal_bytes", c.replay.size,
				"replayed_"+c.opts.Unit, c.replay.records.Load(), "elapsed", now.Sub(start).Round(time.Millisecond))
		}
		if c.opts.ReplayGate != nil {
			c.opts.ReplayGate()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: replay: %w", c.opts.Name, err)
	}
	c.mu.RLock()
	blocks := len(c.blocks)
	c.mu.RUnlock()
	c.log.Info(c.opts.Name+" opened", "dir", c.opts.Dir, "blocks", blocks, "replayed_"+c.opts.Unit, c.replay.records.Load(),
		"replay", time.Since(start).Round(time.Millisecond))
	if len(stats.Damage) > 0 {
		// Each range is logged by the WAL with its offsets and quarantine file.
		c.log.Warn("damaged WAL records were cut out and quarantined; intact records were kept",
			"damaged_ranges", len(stats.Damage), "dropped_bytes", stats.DroppedBytes,
			"dropped_segments", stats.DroppedSegments, "kept_records", stats.Records)
	}
	return nil
}

// WaitReplayed returns once the WAL replay is done (at once without
// ReplayInBackground), with its error, or ctx's.
func (c *Core[R, H, B]) WaitReplayed(ctx context.Context) error {
	if c.replay.done != nil {
		select {
		case <-c.replay.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if p := c.replay.err.Load(); p != nil {
		return fmt.Errorf("%s: WAL replay failed: %w", c.opts.Name, *p)
	}
	return nil
}

// replayErr is why appends are refused because of the replay, or nil.
func (c *Core[R, H, B]) replayErr() error {
	if p := c.replay.err.Load(); p != nil {
		return fmt.Errorf("%s: WAL replay failed: %w", c.opts.Name, *p)
	}
	if c.replay.running.Load() {
		return fmt.Errorf("%s: replaying the WAL after a restart (%d of %d bytes)", c.opts.Name, c.replay.bytes.Load(), c.replay.size)
	}
	return nil
}

// headWhole reports whether the head holds every record of the WAL.
func (c *Core[R, H, B]) headWhole() bool {
	return !c.replay.running.Load() && c.replay.err.Load() == nil
}

// notePartial marks ctx's answer partial while the head is not whole.
func (c *Core[R, H, B]) notePartial(ctx context.Context) {
	if !c.headWhole() {
		partial.Add(ctx, fmt.Sprintf("the write-ahead log is still being replayed after a restart; recently received %s may be missing", c.opts.Unit))
	}
}

// NotePartial marks the answer of the query in ctx partial while the WAL
// is still being replayed (Snapshot does it too).
func (c *Core[R, H, B]) NotePartial(ctx context.Context) { c.notePartial(ctx) }

// ReplayProgress reports the WAL replay: whether it is still running,
// record bytes replayed so far, the WAL's size when it started, and the
// records replayed.
func (c *Core[R, H, B]) ReplayProgress() (running bool, bytes, size, records int64) {
	return c.replay.running.Load(), c.replay.bytes.Load(), c.replay.size, c.replay.records.Load()
}

// ReplayDone is closed when a background replay has ended (or was
// cancelled by Close and ended); nil without ReplayInBackground.
func (c *Core[R, H, B]) ReplayDone() <-chan struct{} { return c.replay.done }

// ReplayCancelled is done once Close has cancelled a background replay;
// nil without ReplayInBackground.
func (c *Core[R, H, B]) ReplayCancelled() <-chan struct{} {
	if c.replay.ctx == nil {
		return nil
	}
	return c.replay.ctx.Done()
}
