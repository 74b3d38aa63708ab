package store

import (
	"context"
)

// The WAL replay at start-up is the lifecycle's (segment.Core): with
// Options.ReplayInBackground it runs after Open has returned; queries
// meanwhile read the blocks and the head replayed so far and are marked
// partial with replayReason; writes are refused (the WAL takes appends only
// after its replay) and cuts wait, so no segment is deleted before all of
// it is in the head.

// replayReason is what a query answered during the replay is told.
const replayReason = "the write-ahead log is still being replayed after a restart; recently received spans may be missing"

// WaitReplayed returns once the WAL replay is done (at once without
// ReplayInBackground), with its error, or ctx's.
func (s *Store) WaitReplayed(ctx context.Context) error { return s.core.WaitReplayed(ctx) }

// notePartial marks ctx's answer partial while the head is not whole.
func (s *Store) notePartial(ctx context.Context) { s.core.NotePartial(ctx) }
