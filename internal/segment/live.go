package segment

import (
	"sync/atomic"
)

// Live is an opened block with a count of who holds it: one reference for
// the block list while the block is in it, plus one per Snapshot (query)
// and per compaction reading it. A block that leaves the list (compacted
// into another, or expired) is closed and its objects deleted only when the
// last holder lets go, so a query never reads a deleted object and nothing
// relies on an unlinked file staying readable (it does not on object
// storage). Prometheus TSDB does the same with its pendingReaders.
type Live[B Block] struct {
	Block B
	meta  Meta
	refs  atomic.Int64
	// dropped: out of the block list for good; delete when unread.
	dropped atomic.Bool
	// keepObjects: when dropped, only close it; in a shared bucket the
	// compactor deletes blocks, later (see syncBucket).
	keepObjects atomic.Bool
	// quarantine: found damaged; when unread, move to quarantine/ instead
	// of deleting.
	quarantine atomic.Bool
	free       func(*Live[B]) // takes a dropped, unread block to the garbage list
}

func newLive[B Block](b B, free func(*Live[B])) *Live[B] {
	l := &Live[B]{Block: b, meta: b.SegmentMeta(), free: free}
	l.refs.Store(1) // the block list's reference
	return l
}

// Meta is the block's meta.
func (l *Live[B]) Meta() Meta { return l.meta }

// acquire adds a holder. Callers acquire only blocks that are in the block
// list, under the core's lock, so the count is never zero here.
func (l *Live[B]) acquire() { l.refs.Add(1) }

// release drops a holder; the last one hands a dropped block to the garbage
// list, which maintenance closes and deletes (deleting can be slow on
// object storage, and a query should not pay for it).
func (l *Live[B]) release() {
	if n := l.refs.Add(-1); n == 0 {
		if !l.dropped.Load() || l.keepObjects.Load() {
			_ = l.Block.Close() // the store closed while a query held it, or not ours to delete
			return
		}
		l.free(l)
	} else if n < 0 {
		panic("segment: block released more often than acquired")
	}
}

// Holders is the number of references (for tests and diagnostics).
func (l *Live[B]) Holders() int64 { return l.refs.Load() }
