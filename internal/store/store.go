package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/otlpwire"
	"github.com/clewtrace/clew/internal/segment"
	"github.com/clewtrace/clew/internal/store/wal"
)

// Options configures a Store. Zero values take the defaults in brackets
// (segment.Options fills them in; Store.core.Options has the result).
type Options struct {
	Dir string // data directory: wal/ and blocks/ below it
	// Bucket holds the blocks instead of Dir/blocks when set (an S3
	// bucket); the WAL stays in Dir.
	Bucket        objstore.Bucket
	Retention     time.Duration // whole blocks older than this are deleted [7 days]
	BlockMaxSpans int           // cut the head into a block at this many spans [200,000]
	BlockMaxAge   time.Duration // ... or when the head is this old [5 minutes]
	// MaxHeadBytes bounds memory: while this much is waiting in memory
	// (head plus heads being flushed), writes are refused as overloaded; a
	// head is cut when it alone holds a third of it. [384 MiB]
	MaxHeadBytes   int64
	WALSync        wal.SyncPolicy
	WALSyncEvery   time.Duration // with wal.SyncInterval
	CompactBlocks  int           // merge small blocks this many at a time [4]
	MaintainEvery  time.Duration // how often to check cut, compaction and retention [1 s]
	Logger         *slog.Logger
	Registerer     prometheus.Registerer
	Now            func() time.Time // for tests
	DisableRunLoop bool             // tests drive Maintain themselves
	// ReplayInBackground makes Open return once the blocks are open and
	// replay the WAL into the head meanwhile: queries are answered from the
	// blocks and the part of the head replayed so far, marked partial;
	// writes are refused as overloaded (retryable) and Ready reports not
	// ready until the replay is done (see replay.go and segment.Options).
	ReplayInBackground bool
	// replayGate, if set, is called after each replayed record (tests).
	replayGate func()
	// WALFS is the WAL's file system (nil: the OS); tests inject disk faults.
	WALFS wal.FS
	// WALRetryEvery is how often a WAL that failed to write retries on its
	// own [1 s]; tests shorten it.
	WALRetryEvery time.Duration

	// Shared says that other Clew nodes write blocks to the same bucket
	// (docs/scale-out.md). The block list then follows the bucket, listed
	// every PollEvery; nothing is deleted at open (another node's upload in
	// progress looks like a crashed one); and only while Compactor is held
	// are blocks compacted and deleted — compacted-away and expired blocks
	// DeleteDelay after they left every node's block list, meta-less blocks
	// once PartialUploadAge old.
	Shared           bool
	PollEvery        time.Duration // [15 s]
	Compactor        Gate          // nil: this node never compacts a shared bucket
	DeleteDelay      time.Duration // [5 min]
	PartialUploadAge time.Duration // [48 h]
}

// WAL record types: the first byte of every record.
const (
	recordTraces byte = 1 // OTLP ExportTraceServiceRequest, protobuf
)

// Store is the embedded trace store. It is safe for concurrent use.
type Store struct {
	opts    Options
	core    *segment.Core[model.Span, *head, *spanBlock]
	wal     *wal.WAL        // the core's (tests simulate crashes through it)
	bucket  objstore.Bucket // the core's
	lock    *os.File        // held while open; see lockDir
	metrics *metrics
	// summaries counts the trace summaries answered, by source
	// (summaryFromBlock...).
	summaries [summarySources]atomic.Int64
	// scratches holds *block.Scratch for search workers (snapshot.find).
	scratches sync.Pool

	closeOnce sync.Once
	closeErr  error
}

// Open opens (or creates) the store in opts.Dir, replays the WAL into the head
// and starts background maintenance.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("store: no data directory")
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	core, err := segment.Open(ctx, segment.Options{
		Name:               "store",
		MetricPrefix:       "clew_store",
		Unit:               "spans",
		Dir:                opts.Dir,
		Bucket:             opts.Bucket,
		Retention:          opts.Retention,
		BlockMaxCount:      opts.BlockMaxSpans,
		BlockMaxAge:        opts.BlockMaxAge,
		MaxHeadBytes:       opts.MaxHeadBytes,
		WALSync:            opts.WALSync,
		WALSyncEvery:       opts.WALSyncEvery,
		WALFS:              opts.WALFS,
		WALRetryEvery:      opts.WALRetryEvery,
		CompactBlocks:      opts.CompactBlocks,
		MaintainEvery:      opts.MaintainEvery,
		Logger:             opts.Logger,
		Registerer:         opts.Registerer,
		Now:                opts.Now,
		DisableRunLoop:     opts.DisableRunLoop,
		ReplayInBackground: opts.ReplayInBackground,
		ReplayGate:         opts.replayGate,
		// Reads drop spans stored twice, so a meta-less block is rebuilt
		// from its data even if its spans are also in the WAL.
		ReadsDedupe:      true,
		KeepRecent:       true,
		Shared:           opts.Shared,
		PollEvery:        opts.PollEvery,
		Compactor:        opts.Compactor,
		DeleteDelay:      opts.DeleteDelay,
		PartialUploadAge: opts.PartialUploadAge,
	}, spanFormat{})
	if err != nil {
		lock.Close()
		return nil, err
	}
	s := &Store{opts: opts, core: core, wal: core.WAL(), bucket: core.Bucket(), lock: lock}
	s.metrics = newMetrics(s, opts.Registerer)
	return s, nil
}

func decodeRecord(rec []byte) ([]model.Span, error) {
	if len(rec) == 0 || rec[0] != recordTraces {
		return nil, errors.New("unknown record type")
	}
	// Receivers refuse deeper values, but a record written before they did
	// (or by hand) must not end the process at startup.
	if err := otlpwire.CheckNesting(rec[1:], otlpwire.Traces); err != nil {
		return nil, err
	}
	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(rec[1:])
	if err != nil {
		return nil, err
	}
	return model.AppendSpans(make([]model.Span, 0, td.SpanCount()), td), nil
}

// ConsumeTraces makes a batch durable and searchable. It returns only after
// the batch is in the WAL (per the sync policy), so a nil error is an
// acknowledgement. See consumer.Traces for ownership.
func (s *Store) ConsumeTraces(ctx context.Context, td ptrace.Traces) (consumer.Result, error) {
	n := td.SpanCount()
	if n == 0 {
		return consumer.Result{}, nil
	}
	buf, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		return consumer.Result{}, fmt.Errorf("store: encode batch: %w", err)
	}
	rec := make([]byte, 1+len(buf))
	rec[0] = recordTraces
	copy(rec[1:], buf)
	if err := s.core.Append(ctx, rec, model.AppendSpans(make([]model.Span, 0, n), td)); err != nil {
		return consumer.Result{}, err
	}
	return consumer.Result{}, nil
}

// Ready returns nil if the store can accept writes, or why it cannot: the
// WAL is replaying, or its last write failed (a full disk) and it has not
// written since. The WAL retries on its own, so Ready turns nil again once
// space returns.
func (s *Store) Ready() error { return s.core.Ready() }

// Maintain runs one pass of background work: cut the head if it is due (or
// if force is set and it is not empty), write cut heads as blocks, verify
// blocks that failed a read, compact small blocks and delete expired ones.
func (s *Store) Maintain(ctx context.Context, force bool) error { return s.core.Maintain(ctx, force) }

// flush cuts the head if due and writes cut heads as blocks (tests).
func (s *Store) flush(ctx context.Context, force bool) error { return s.core.Flush(ctx, force) }

// compactAndExpire runs one compaction and retention pass (tests).
func (s *Store) compactAndExpire(ctx context.Context) error { return s.core.CompactAndExpire(ctx) }

// Close stops maintenance, writes the head as a block (so the next start
// needs no replay) and closes the WAL. Safe to call more than once.
func (s *Store) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = errors.Join(s.core.Close(ctx), s.lock.Close()) })
	return s.closeErr
}
