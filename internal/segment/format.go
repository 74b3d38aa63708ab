package segment

import (
	"context"
	"errors"
	"time"

	"github.com/clewtrace/clew/internal/objstore"
)

// Meta is what the lifecycle needs to know of a block. Times are Unix
// nanoseconds.
type Meta struct {
	ID      string
	MinTime int64 // earliest record time (a span's start): orders blocks, places them in compaction windows
	MaxTime int64 // latest record time
	// End is the latest time any record covers (a span's end; a log
	// record's time): retention drops a block once End is past.
	End       int64
	Count     int // records
	Bytes     int64
	Level     int      // 0 for a cut head; a compaction's output is one above its window's level
	Compacted []string // sorted IDs of the blocks this one was merged from
	Created   int64    // when the block was written
}

// Block is an opened, immutable block.
type Block interface {
	SegmentMeta() Meta
	// Close releases what the open block holds (readers, file descriptors).
	Close() error
}

// Head is the in-memory part of a store: records since the last cut.
type Head[R any] interface {
	Add(recs []R)
	Size() (count int, bytes int64)
	Created() time.Time
}

// Format is what a store brings to the lifecycle: its records, head and
// block encoding. Blocks are objects under "<id>/" in the bucket with
// "<id>/meta.json" written last as the commit marker (MetaName); IDs come
// from NewID.
type Format[R any, H Head[R], B Block] interface {
	NewHead(now time.Time) H
	// Decode turns a WAL record (as the store passed it to Append) back
	// into records, for the replay at start-up.
	Decode(walRecord []byte) ([]R, error)
	// Write stores h's records as a new block of the given level and
	// returns its ID.
	Write(ctx context.Context, b objstore.Bucket, h H, level int) (string, error)
	// Open opens a complete block. An error wrapping ErrDamaged means the
	// block's bytes do not decode (as opposed to a failed fetch).
	Open(ctx context.Context, b objstore.Bucket, id string) (B, error)
	// ReadMeta reads and checks a block's meta.json (ErrDamaged as Open).
	ReadMeta(ctx context.Context, b objstore.Bucket, id string) (Meta, error)
	// Compact merges the inputs into one new block of the given level
	// that names them in its Meta.Compacted, and returns its ID.
	Compact(ctx context.Context, b objstore.Bucket, inputs []B, level int) (string, error)
	// Damaged reports whether a read error means the block's bytes do
	// not decode (ErrDamaged, or the encoding's own corruption errors).
	Damaged(err error) bool
	// Verify reads the whole block. lost counts the records in the parts
	// that do not decode, rest holds every other record; lost is 0 for an
	// intact block.
	Verify(ctx context.Context, b B) (rest []R, lost int, err error)
	// Salvage reads the records of a block that has no meta.json; an error
	// matching fs.ErrNotExist if it has no data object.
	Salvage(ctx context.Context, b objstore.Bucket, id string) ([]R, error)
}

// ErrDamaged marks errors caused by bytes that do not decode.
var ErrDamaged = errors.New("block is damaged")

// Gate says whether this node may compact and delete blocks in a shared
// bucket right now. The compactor lease (package cluster) implements it;
// Held is asked before every merge and every round of deletes.
type Gate interface {
	Held(ctx context.Context) bool
}
