package store

import (
	"context"
	"fmt"
	"time"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/predicate"
	"github.com/clewtrace/clew/internal/segment"
	"github.com/clewtrace/clew/internal/store/block"
)

// Gate says whether this node may compact and delete blocks in a shared
// bucket right now (the compactor lease, package cluster).
type Gate = segment.Gate

// PollBucket lists a shared bucket now (it is also done every PollEvery),
// so that blocks other nodes wrote or removed are seen at once.
func (s *Store) PollBucket(ctx context.Context) error { return s.core.PollBucket(ctx) }

// syncBucket is PollBucket (tests).
func (s *Store) syncBucket(ctx context.Context) error { return s.core.PollBucket(ctx) }

// HasBlock reports whether the block is in this node's block list.
func (s *Store) HasBlock(id string) bool { return s.core.HasBlock(id) }

// recentWindow is how long a block this node wrote counts as recent (see
// segment.Core.RecentWindow).
func (s *Store) recentWindow() time.Duration { return s.core.RecentWindow() }

// recentSnapshot is what other nodes sharing the bucket cannot see yet:
// this node's heads and the blocks it wrote within recentWindow.
func (s *Store) recentSnapshot() *snapshot { return s.wrapSnapshot(s.core.RecentSnapshot()) }

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
