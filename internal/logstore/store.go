package logstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/otlpwire"
	"github.com/clewtrace/clew/internal/segment"
	"github.com/clewtrace/clew/internal/store/wal"
)

// Options configures a Store. Zero values take the defaults in brackets.
type Options struct {
	Dir string // e.g. <data-dir>/logs: wal/ and, without Bucket, blocks/ below it
	// Bucket holds the blocks instead of Dir/blocks when set (with
	// --storage s3, the "logs/" prefix of the span store's bucket); the WAL
	// stays in Dir.
	Bucket          objstore.Bucket
	Retention       time.Duration // whole blocks whose newest record is older are deleted [7 days]
	WALSync         wal.SyncPolicy
	WALSyncEvery    time.Duration // with wal.SyncInterval
	BlockMaxRecords int           // cut the head into a block at this many records [100,000]
	BlockMaxAge     time.Duration // ... or when the head is this old [5 minutes]
	// MaxHeadBytes bounds memory: while this much waits in memory (head
	// plus heads whose write keeps failing), writes are refused as
	// overloaded; a head is cut when it alone holds a third of it. [128 MiB]
	MaxHeadBytes  int64
	CompactBlocks int // merge small blocks this many at a time [4]
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
	Now           func() time.Time // for tests
	// DisableRunLoop: tests drive Maintain and PollBucket themselves.
	DisableRunLoop bool
	// ReplayInBackground: Open returns before the WAL is replayed; see
	// segment.Options.
	ReplayInBackground bool

	// Shared: other nodes write log blocks to the same bucket (see
	// segment.Options and docs/scale-out.md).
	Shared      bool
	PollEvery   time.Duration // [15 s]
	Compactor   segment.Gate  // nil: this node never compacts a shared bucket
	DeleteDelay time.Duration // [5 min]

	replayGate func() // called after each replayed WAL record (tests)
}

func (o *Options) setDefaults() {
	if o.BlockMaxRecords <= 0 {
		o.BlockMaxRecords = 100_000
	}
	if o.MaxHeadBytes <= 0 {
		o.MaxHeadBytes = 128 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// WAL record types: the first byte of every record.
const recordLogs byte = 1 // OTLP ExportLogsServiceRequest, protobuf

// Store is the embedded log store. It is safe for concurrent use.
type Store struct {
	opts Options
	core *segment.Core[Record, *head, *logBlock]
}

var _ consumer.Logs = (*Store)(nil)

// Open opens (or creates) the store in opts.Dir, replays the WAL into the
// head and, unless DisableRunLoop is set, starts background maintenance.
func Open(ctx context.Context, opts Options) (*Store, error) {
	opts.setDefaults()
	if opts.Dir == "" {
		return nil, errors.New("logstore: no directory")
	}
	core, err := segment.Open(ctx, segment.Options{
		Name:               "logstore",
		MetricPrefix:       "clew_logstore",
		Unit:               "records",
		Dir:                opts.Dir,
		Bucket:             opts.Bucket,
		Retention:          opts.Retention,
		BlockMaxCount:      opts.BlockMaxRecords,
		BlockMaxAge:        opts.BlockMaxAge,
		MaxHeadBytes:       opts.MaxHeadBytes,
		WALSync:            opts.WALSync,
		WALSyncEvery:       opts.WALSyncEvery,
		CompactBlocks:      opts.CompactBlocks,
		Logger:             opts.Logger,
		Registerer:         opts.Registerer,
		Now:                opts.Now,
		DisableRunLoop:     opts.DisableRunLoop,
		ReplayInBackground: opts.ReplayInBackground,
		Shared:             opts.Shared,
		PollEvery:          opts.PollEvery,
		Compactor:          opts.Compactor,
		DeleteDelay:        opts.DeleteDelay,
		ReplayGate:         opts.replayGate,
	}, format{now: opts.Now})
	if err != nil {
		return nil, err
	}
	return &Store{opts: opts, core: core}, nil
}

func decodeRecord(rec []byte) ([]Record, error) {
	if len(rec) == 0 || rec[0] != recordLogs {
		return nil, errors.New("unknown record type")
	}
	// Receivers refuse deeper values, but a record written before they did
	// (or by hand) must not end the process at startup.
	if err := otlpwire.CheckNesting(rec[1:], otlpwire.Logs); err != nil {
		return nil, err
	}
	ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(rec[1:])
	if err != nil {
		return nil, err
	}
	return appendRecords(make([]Record, 0, ld.LogRecordCount()), ld), nil
}

// ConsumeLogs makes a batch durable and searchable. It returns only after
// the batch is in the WAL (per the sync policy), so a nil error is an
// acknowledgement. Records with neither timestamp get the current time as
// their observed timestamp, before they are written, so they keep it
// across a restart. See consumer.Logs for ownership.
func (s *Store) ConsumeLogs(ctx context.Context, ld plog.Logs) (consumer.Result, error) {
	n := ld.LogRecordCount()
	if n == 0 {
		return consumer.Result{}, nil
	}
	stampObserved(ld, s.opts.Now())
	buf, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	if err != nil {
		return consumer.Result{}, fmt.Errorf("logstore: encode batch: %w", err)
	}
	rec := make([]byte, 1+len(buf))
	rec[0] = recordLogs
	copy(rec[1:], buf)
	if err := s.core.Append(ctx, rec, appendRecords(make([]Record, 0, n), ld)); err != nil {
		return consumer.Result{}, err
	}
	return consumer.Result{}, nil
}

func stampObserved(ld plog.Logs, now time.Time) {
	ts := pcommon.NewTimestampFromTime(now)
	rls := ld.ResourceLogs()
	for i := range rls.Len() {
		sls := rls.At(i).ScopeLogs()
		for j := range sls.Len() {
			lrs := sls.At(j).LogRecords()
			for k := range lrs.Len() {
				if lr := lrs.At(k); lr.Timestamp() == 0 && lr.ObservedTimestamp() == 0 {
					lr.SetObservedTimestamp(ts)
				}
			}
		}
	}
}

// Maintain runs one pass of background work: cut the head if it is due (or,
// with force, if it is not empty), write cut heads as blocks and truncate
// the WAL behind them, compact small blocks and drop expired ones.
func (s *Store) Maintain(ctx context.Context, force bool) error {
	return s.core.Maintain(ctx, force)
}

// PollBucket lists a shared bucket now (it is also done every PollEvery).
func (s *Store) PollBucket(ctx context.Context) error { return s.core.PollBucket(ctx) }

// Ready returns nil if the store can accept writes, or why it cannot (the
// WAL is replaying, or its last write failed and it has not written since).
func (s *Store) Ready() error { return s.core.Ready() }

// WaitReplayed returns once the WAL replay is done, with its error.
func (s *Store) WaitReplayed(ctx context.Context) error { return s.core.WaitReplayed(ctx) }

// Close stops maintenance, writes the head as a block (so the next start
// needs no replay) and closes the WAL. Safe to call more than once.
func (s *Store) Close(ctx context.Context) error { return s.core.Close(ctx) }
