package logstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/otlpwire"
	"github.com/clewtrace/clew/internal/store/block"
	"github.com/clewtrace/clew/internal/store/wal"
)

// Options configures a Store. Zero values take the defaults in brackets.
type Options struct {
	Dir             string        // e.g. <data-dir>/logs: wal/ and blocks/ below it
	Retention       time.Duration // whole blocks whose newest record is older are deleted [7 days]
	WALSync         wal.SyncPolicy
	BlockMaxRecords int           // cut the head into a block at this many records [100,000]
	BlockMaxAge     time.Duration // ... or when the head is this old [5 minutes]
	Logger          *slog.Logger
	Registerer      prometheus.Registerer
	Now             func() time.Time // for tests
	DisableRunLoop  bool             // tests drive Maintain themselves
}

// maintainEvery is how often the run loop checks cut and retention; a
// setting nobody has asked for, so a constant.
const maintainEvery = time.Second

// maxPendingHeads bounds memory: with this many heads' worth of records
// waiting (the head plus heads whose flush keeps failing), writes are
// refused as overloaded rather than growing without limit.
const maxPendingHeads = 4

func (o *Options) setDefaults() {
	if o.Retention <= 0 {
		o.Retention = 7 * 24 * time.Hour
	}
	if o.BlockMaxRecords <= 0 {
		o.BlockMaxRecords = 100_000
	}
	if o.BlockMaxAge <= 0 {
		o.BlockMaxAge = 5 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// WAL record types: the first byte of every record.
const recordLogs byte = 1 // OTLP ExportLogsServiceRequest, protobuf

// Store is the embedded log store. It is safe for concurrent use.
type Store struct {
	opts   Options
	log    *slog.Logger
	wal    *wal.WAL
	bucket objstore.Bucket

	// appendMu orders appends against cuts, as in package store: appends
	// hold it shared from the WAL write until their records are in the head,
	// a cut holds it exclusively, so a head holds exactly the records of the
	// WAL segments before its cut.
	appendMu sync.RWMutex

	mu       sync.RWMutex
	head     *head
	flushing []flushingHead // cut, being written as blocks, still searched
	blocks   []*logBlock    // sorted by MinTimeUnixNano

	maintainMu sync.Mutex // one cut/flush/retention pass at a time
	stop       chan struct{}
	done       chan struct{}
	closeOnce  sync.Once
	closeErr   error
	metrics    *metrics
}

type flushingHead struct {
	h      *head
	before wal.SegmentID // WAL segments below this hold only this and older heads
}

var _ consumer.Logs = (*Store)(nil)

// Open opens (or creates) the store in opts.Dir, replays the WAL into the
// head and, unless DisableRunLoop is set, starts background maintenance.
func Open(ctx context.Context, opts Options) (*Store, error) {
	opts.setDefaults()
	if opts.Dir == "" {
		return nil, errors.New("logstore: no directory")
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("logstore: %w", err)
	}
	bucket, err := objstore.NewLocal(filepath.Join(opts.Dir, "blocks"))
	if err != nil {
		return nil, fmt.Errorf("logstore: blocks: %w", err)
	}
	s := &Store{
		opts:   opts,
		log:    opts.Logger,
		bucket: bucket,
		head:   newHead(opts.Now()),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	if err := s.openBlocks(ctx); err != nil {
		return nil, err
	}
	w, err := wal.Open(filepath.Join(opts.Dir, "wal"), wal.Options{Sync: opts.WALSync, Logger: opts.Logger,
		QuarantineDir: filepath.Join(opts.Dir, "quarantine", "wal")})
	if err != nil {
		return nil, fmt.Errorf("logstore: wal: %w", err)
	}
	s.wal = w
	stats, err := w.Replay(ctx, func(_ wal.SegmentID, rec []byte) error {
		recs, err := decodeRecord(rec)
		if err != nil {
			// Passed its checksum but does not decode: written by a newer or
			// broken version. Keep the rest.
			s.log.Warn("logstore: skipping undecodable WAL record", "err", err)
			return nil
		}
		s.head.add(recs)
		return nil
	})
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("logstore: replay: %w", err)
	}
	if len(stats.Damage) > 0 {
		// Each range is logged by the WAL with its offsets and quarantine file.
		s.log.Warn("logstore: damaged WAL records were cut out and quarantined; intact records were kept",
			"damaged_ranges", len(stats.Damage), "dropped_bytes", stats.DroppedBytes,
			"dropped_segments", stats.DroppedSegments, "kept_records", stats.Records)
	}
	n, _ := s.head.size()
	s.log.Info("log store opened", "dir", opts.Dir, "blocks", len(s.blocks), "replayed_records", n)
	s.metrics = newMetrics(s, opts.Registerer)
	if opts.DisableRunLoop {
		close(s.done)
	} else {
		go s.run()
	}
	return s, nil
}

func (s *Store) openBlocks(ctx context.Context) error {
	// Nothing writes blocks before Open returns, so every incomplete block
	// is a crashed write or delete and can go.
	incomplete, err := block.Incomplete(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("logstore: %w", err)
	}
	for _, id := range incomplete {
		if err := deleteBlock(ctx, s.bucket, id); err != nil {
			s.log.Warn("logstore: cannot delete incomplete block", "block", id, "err", err)
		}
	}
	ids, err := listBlocks(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("logstore: %w", err)
	}
	for _, id := range ids {
		b, err := s.openBlock(ctx, id)
		if err != nil {
			// One unreadable block must not keep the rest offline.
			s.log.Error("logstore: cannot open block, skipping it", "block", id, "err", err)
			continue
		}
		s.blocks = append(s.blocks, b)
	}
	sortBlocks(s.blocks)
	return nil
}

// openBlock detaches the block's reads from ctx's cancellation: the block
// outlives the Open or Maintain call that opened it.
func (s *Store) openBlock(ctx context.Context, id string) (*logBlock, error) {
	return openBlock(context.WithoutCancel(ctx), s.bucket, id)
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
	if pending := s.pendingRecords(); pending >= maxPendingHeads*s.opts.BlockMaxRecords {
		s.metrics.refused.Add(float64(n))
		return consumer.Result{}, fmt.Errorf("logstore: %d records waiting to be written as blocks: %w", pending, consumer.ErrOverloaded)
	}
	stampObserved(ld, s.opts.Now())
	buf, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	if err != nil {
		return consumer.Result{}, fmt.Errorf("logstore: encode batch: %w", err)
	}
	rec := make([]byte, 1+len(buf))
	rec[0] = recordLogs
	copy(rec[1:], buf)
	recs := appendRecords(make([]Record, 0, n), ld)

	s.appendMu.RLock()
	defer s.appendMu.RUnlock()
	if _, err := s.wal.Append(ctx, rec); err != nil {
		return consumer.Result{}, fmt.Errorf("logstore: wal: %w", err)
	}
	s.mu.RLock()
	h := s.head
	s.mu.RUnlock()
	h.add(recs)
	s.metrics.written.Add(float64(n))
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

func (s *Store) pendingRecords() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	total, _ := s.head.size()
	for _, f := range s.flushing {
		n, _ := f.h.size()
		total += n
	}
	return total
}

func (s *Store) run() {
	defer close(s.done)
	t := time.NewTicker(maintainEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.Maintain(context.Background(), false); err != nil {
				s.log.Error("logstore maintenance", "err", err)
			}
		}
	}
}

// Maintain runs one pass of background work: cut the head if it is due (or,
// with force, if it is not empty), write cut heads as blocks and truncate
// the WAL behind them, and delete expired blocks.
func (s *Store) Maintain(ctx context.Context, force bool) error {
	s.maintainMu.Lock()
	defer s.maintainMu.Unlock()
	var errs []error
	if err := s.cutIfDue(force); err != nil {
		errs = append(errs, err)
	}
	if err := s.flushAll(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.applyRetention(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("logstore: %w", err)
	}
	return nil
}

func (s *Store) cutIfDue(force bool) error {
	s.mu.RLock()
	h := s.head
	s.mu.RUnlock()
	count, _ := h.size()
	if count == 0 {
		return nil
	}
	if !force && count < s.opts.BlockMaxRecords && s.opts.Now().Sub(h.created) < s.opts.BlockMaxAge {
		return nil
	}
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	seg, err := s.wal.Cut()
	if err != nil {
		return fmt.Errorf("cut wal: %w", err)
	}
	s.mu.Lock()
	s.flushing = append(s.flushing, flushingHead{h: s.head, before: seg})
	s.head = newHead(s.opts.Now())
	s.mu.Unlock()
	return nil
}

// flushAll writes every cut head as a block, oldest first, and deletes the
// WAL segments that only held flushed records.
func (s *Store) flushAll(ctx context.Context) error {
	for {
		s.mu.RLock()
		if len(s.flushing) == 0 {
			s.mu.RUnlock()
			return nil
		}
		f := s.flushing[0]
		s.mu.RUnlock()

		meta, err := writeBlock(ctx, s.bucket, f.h.records(), s.opts.Now())
		if err != nil {
			s.metrics.flushFailures.Inc()
			return err
		}
		b, err := s.openBlock(ctx, meta.ID)
		if err != nil {
			s.metrics.flushFailures.Inc()
			return fmt.Errorf("open new block %s: %w", meta.ID, err)
		}
		s.mu.Lock()
		s.blocks = append(s.blocks, b)
		sortBlocks(s.blocks)
		s.flushing = s.flushing[1:]
		s.mu.Unlock()
		if err := s.wal.Truncate(f.before); err != nil {
			return fmt.Errorf("truncate wal: %w", err)
		}
		s.metrics.blocksWritten.Inc()
		s.log.Debug("log block written", "block", meta.ID, "records", meta.RecordCount, "bytes", meta.Bytes)
	}
}

// applyRetention deletes whole blocks whose newest record is older than
// the retention horizon.
func (s *Store) applyRetention(ctx context.Context) error {
	horizon := s.opts.Now().Add(-s.opts.Retention).UnixNano()
	s.mu.Lock()
	var expired []*logBlock
	kept := s.blocks[:0:0]
	for _, b := range s.blocks {
		if b.meta.MaxTimeUnixNano < horizon {
			expired = append(expired, b)
		} else {
			kept = append(kept, b)
		}
	}
	s.blocks = kept
	s.mu.Unlock()
	var errs []error
	for _, b := range expired {
		// Already invisible to searches; a failed delete leaves an
		// incomplete or orphaned block that the next Open collects.
		if err := deleteBlock(ctx, s.bucket, b.meta.ID); err != nil {
			errs = append(errs, fmt.Errorf("delete expired block %s: %w", b.meta.ID, err))
			continue
		}
		s.metrics.blocksExpired.Inc()
	}
	return errors.Join(errs...)
}

// Close stops maintenance, writes the head as a block (so the next start
// needs no replay) and closes the WAL. Safe to call more than once.
func (s *Store) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		err := s.Maintain(ctx, true)
		s.closeErr = errors.Join(err, s.wal.Close())
	})
	return s.closeErr
}

// snapshot is what a search reads: every head and block at one moment.
type snapshot struct {
	heads  []*head
	blocks []*logBlock
}

func (s *Store) snapshot() snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sn := snapshot{heads: []*head{s.head}, blocks: append([]*logBlock(nil), s.blocks...)}
	for _, f := range s.flushing {
		sn.heads = append(sn.heads, f.h)
	}
	return sn
}

type metrics struct {
	written       prometheus.Counter
	refused       prometheus.Counter
	blocksWritten prometheus.Counter
	flushFailures prometheus.Counter
	blocksExpired prometheus.Counter
}

// Ready returns nil if the store can accept writes, or why it cannot: the
// WAL's last write failed (a full disk) and it has not written since.
func (s *Store) Ready() error {
	if err := s.wal.Err(); err != nil {
		return fmt.Errorf("logstore: cannot write the WAL: %w", err)
	}
	return nil
}

func newMetrics(s *Store, reg prometheus.Registerer) *metrics {
	m := &metrics{
		written:       prometheus.NewCounter(prometheus.CounterOpts{Name: "clew_logstore_records_written_total", Help: "Log records made durable in the WAL and indexed."}),
		refused:       prometheus.NewCounter(prometheus.CounterOpts{Name: "clew_logstore_records_refused_total", Help: "Log records refused because too many were waiting to be written as blocks."}),
		blocksWritten: prometheus.NewCounter(prometheus.CounterOpts{Name: "clew_logstore_blocks_written_total", Help: "Log blocks cut from the in-memory head."}),
		flushFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "clew_logstore_block_write_failures_total", Help: "Failed attempts to write a head as a log block (retried)."}),
		blocksExpired: prometheus.NewCounter(prometheus.CounterOpts{Name: "clew_logstore_blocks_expired_total", Help: "Log blocks deleted by retention."}),
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.written, m.refused, m.blocksWritten, m.flushFailures, m.blocksExpired)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clew_logstore_wal_bytes", Help: "Bytes of log WAL on disk."},
		func() float64 { return float64(s.wal.Size()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clew_logstore_block_bytes", Help: "Bytes of log blocks."},
		func() float64 {
			var n int64
			for _, b := range s.snapshot().blocks {
				n += b.meta.Bytes
			}
			return float64(n)
		}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clew_logstore_head_records", Help: "Log records in memory, not yet in a block."},
		func() float64 { return float64(s.pendingRecords()) }))
	return m
}
