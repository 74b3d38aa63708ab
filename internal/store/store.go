package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/otlpwire"
	"github.com/clewtrace/clew/internal/store/block"
	"github.com/clewtrace/clew/internal/store/wal"
)

// Options configures a Store. Zero values take the defaults in brackets.
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
	// ready until the replay is done (see replay.go).
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

func (o *Options) setDefaults() {
	if o.Retention <= 0 {
		o.Retention = 7 * 24 * time.Hour
	}
	if o.BlockMaxSpans <= 0 {
		o.BlockMaxSpans = 200_000
	}
	if o.BlockMaxAge <= 0 {
		o.BlockMaxAge = 5 * time.Minute
	}
	if o.MaxHeadBytes <= 0 {
		o.MaxHeadBytes = 384 << 20
	}
	if o.CompactBlocks <= 1 {
		o.CompactBlocks = 4
	}
	if o.MaintainEvery <= 0 {
		o.MaintainEvery = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PollEvery <= 0 {
		o.PollEvery = 15 * time.Second
	}
	if o.DeleteDelay <= 0 {
		o.DeleteDelay = 5 * time.Minute
	}
	if o.PartialUploadAge <= 0 {
		o.PartialUploadAge = 48 * time.Hour
	}
}

// WAL record types: the first byte of every record.
const (
	recordTraces byte = 1 // OTLP ExportTraceServiceRequest, protobuf
)

// Store is the embedded trace store. It is safe for concurrent use.
type Store struct {
	opts   Options
	log    *slog.Logger
	wal    *wal.WAL
	bucket objstore.Bucket
	lock   *os.File // held while open; see lockDir

	// appendMu orders appends against cuts: appends hold it shared from the
	// WAL write until their spans are in the head, a cut holds it exclusively,
	// so a head always holds exactly the records of the segments before its cut.
	appendMu sync.RWMutex

	mu       sync.RWMutex
	head     *head
	flushing []flushingHead // cut, being written as blocks, still queried
	blocks   []*liveBlock   // sorted by MinStartUnixNano; see lifecycle.go

	garbageMu sync.Mutex
	garbage   []*liveBlock // out of the block list and unread: to close and delete

	flushMu sync.Mutex // one cut/flush pass at a time
	// While block writes fail (a bucket that is down), retries back off:
	// failedWrites in a row, next attempt not before retryAt. Under flushMu.
	failedWrites int
	retryAt      time.Time
	compactMu    sync.Mutex // one compaction/retention pass at a time
	stop         chan struct{}
	done         chan struct{}
	closeOnce    sync.Once
	closing      atomic.Bool // set by Close: its final flush is logged at info
	closeErr     error
	metrics      *metrics

	// With a shared bucket (see shared.go): the metas of every complete
	// block in the last listing (under compactMu), metas that could not be
	// read (logged once), when this node first listed each block, and the blocks this node wrote its recent blocks (under mu).
	known     map[string]block.Meta
	firstSeen map[string]time.Time
	badMetas  map[string]bool
	recent    []recentBlock

	// Blocks that failed a read and wait for verification (damage.go).
	suspectMu sync.Mutex
	suspects  map[string]struct{}
	// damagedShared: verified damaged in a shared bucket, left in place.
	damagedShared map[string]bool
	verifyKick    chan struct{} // wakes the verification loop
	// Span counts of blocks quarantined at open, before metrics existed.
	openQuarantined []int
	replay          replayState
}

type flushingHead struct {
	h      *head
	before wal.SegmentID // WAL segments below this hold only this and older heads
}

// Open opens (or creates) the store in opts.Dir, replays the WAL into the head
// and starts background maintenance.
func Open(ctx context.Context, opts Options) (*Store, error) {
	opts.setDefaults()
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
	bucket := opts.Bucket
	if bucket == nil {
		local, err := objstore.NewLocal(filepath.Join(opts.Dir, "blocks"))
		if err != nil {
			lock.Close()
			return nil, fmt.Errorf("store: blocks: %w", err)
		}
		bucket = local
	}
	s := &Store{
		opts:   opts,
		log:    opts.Logger,
		bucket: bucket,
		lock:   lock,
		head:   newHead(opts.Now()),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),

		suspects:      map[string]struct{}{},
		damagedShared: map[string]bool{},
		verifyKick:    make(chan struct{}, 1),
	}
	if err := s.openBlocks(ctx); err != nil {
		lock.Close()
		return nil, err
	}
	w, err := wal.Open(filepath.Join(opts.Dir, "wal"), wal.Options{Sync: opts.WALSync, SyncInterval: opts.WALSyncEvery,
		Logger: opts.Logger, QuarantineDir: filepath.Join(opts.Dir, "quarantine", "wal"),
		FS: opts.WALFS, RetryInterval: opts.WALRetryEvery})
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("store: wal: %w", err)
	}
	s.wal = w
	s.replay.size = w.Size()
	s.metrics = newMetrics(s, opts.Registerer)
	for _, n := range s.openQuarantined {
		s.metrics.blocksQuarantined.Inc()
		s.metrics.spansLost.Add(float64(n))
	}
	if !opts.ReplayInBackground {
		if err := s.replayWAL(ctx); err != nil {
			_ = w.Close()
			lock.Close()
			return nil, err
		}
		s.startRunLoop()
		return s, nil
	}
	s.replay.running.Store(true)
	rctx, cancel := context.WithCancel(context.Background())
	s.replay.ctx, s.replay.cancel, s.replay.done = rctx, cancel, make(chan struct{})
	go func() {
		defer close(s.replay.done)
		if err := s.replayWAL(rctx); err != nil {
			s.replay.err.Store(&err)
			if rctx.Err() == nil {
				s.log.Error("WAL replay failed; writes stay refused, blocks are still served", "err", err)
			}
			close(s.done) // no background work without a whole head
			return
		}
		s.replay.running.Store(false)
		s.startRunLoop()
	}()
	return s, nil
}

func (s *Store) startRunLoop() {
	if !s.opts.DisableRunLoop {
		go s.run()
	} else {
		close(s.done)
	}
}

func (s *Store) openBlocks(ctx context.Context) error {
	if s.opts.Shared {
		// Other nodes write and delete in this bucket: take the block list
		// as it is, delete nothing (see syncBucket).
		return s.syncBucket(ctx)
	}
	// Nothing writes blocks before Open returns, so temporary files are
	// what crashed Puts left behind.
	if c, ok := s.bucket.(interface {
		CollectTemp(context.Context) (int, error)
	}); ok {
		n, err := c.CollectTemp(ctx)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if n > 0 {
			s.log.Info("removed temporary files left by interrupted block writes", "files", n)
		}
	}
	metas, damagedMeta, err := block.ListMetasSkippingDamaged(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("store: list blocks: %w", err)
	}
	merged := compactedAway(metas)
	incomplete, err := block.Incomplete(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("store: list incomplete blocks: %w", err)
	}
	for _, id := range damagedMeta {
		// A meta.json that does not decode is as good as a missing one:
		// the block is rebuilt from its data and index like an incomplete
		// block, after the damaged file is copied to quarantine.
		if err := s.quarantineObject(ctx, id+"/meta.json"); err != nil {
			s.log.Error("block's meta.json is damaged and cannot be quarantined; block left in place, not served", "block", id, "err", err)
			continue
		}
		s.log.Warn("block's meta.json is damaged (copied to quarantine); recovering the block from its data and index", "block", id)
		incomplete = append(incomplete, id)
	}
	for _, id := range incomplete {
		if merged[id] {
			// A compaction input whose delete (meta.json goes first) was
			// cut short: a complete block names it as merged, so its spans
			// are there.
			if err := block.Delete(ctx, s.bucket, id); err != nil {
				s.log.Warn("cannot delete the rest of a compacted block", "block", id, "err", err)
			} else {
				s.log.Info("deleted the rest of a block left over from a compaction", "block", id)
			}
			continue
		}
		if err := s.recoverIncomplete(ctx, id); err != nil {
			s.log.Warn("cannot recover block without meta.json; left in place", "block", id, "err", err)
		}
	}
	if len(incomplete) > 0 {
		// Rebuilt blocks have new IDs. A damaged meta.json that could not
		// be recovered was logged above and stays out.
		if metas, _, err = block.ListMetasSkippingDamaged(ctx, s.bucket); err != nil {
			return fmt.Errorf("store: list blocks: %w", err)
		}
	}
	for _, m := range metas {
		if merged[m.ID] {
			// A compaction's input whose delete a crash (or a long query)
			// held up: its spans are in the merged block.
			if err := block.Delete(ctx, s.bucket, m.ID); err != nil {
				s.log.Warn("cannot delete compacted block", "block", m.ID, "err", err)
			} else {
				s.log.Info("deleted block left over from a compaction", "block", m.ID)
			}
			continue
		}
		b, err := block.Open(ctx, s.bucket, m.ID)
		if errors.Is(err, block.ErrCorrupt) {
			// Damaged where every read needs it (footer, index, page
			// index): nothing can be served from it. Moved aside, not
			// deleted, so it can be looked at or repaired by hand.
			where, qerr := s.quarantineBlock(ctx, m.ID)
			if qerr != nil {
				s.log.Error("cannot open damaged block, nor move it to quarantine; skipping it", "block", m.ID, "err", err, "quarantine_err", qerr)
			} else {
				s.log.Error("block is damaged and cannot be opened; moved to quarantine, its spans are not served",
					"block", m.ID, "lost_spans", m.SpanCount, "quarantine", where, "err", err)
				s.openQuarantined = append(s.openQuarantined, m.SpanCount)
			}
			continue
		}
		if err != nil {
			// One unreadable block must not keep the rest of the data offline.
			s.log.Error("cannot open block, skipping it", "block", m.ID, "err", err)
			continue
		}
		s.blocks = append(s.blocks, s.newLiveBlock(b))
	}
	sortBlocks(s.blocks)
	return nil
}

// recoverIncomplete deals with a block that has objects but no meta.json:
// a crash during its write (its spans are also still in the WAL), a crash
// during its deletion, or a meta.json lost to damage (its spans are
// nowhere else). They cannot be told apart, so nothing with spans in it is
// deleted unread. Without a data file there are no spans to lose and the
// leftovers go. Otherwise the block is rebuilt from its data and index as
// a new block (spans that are also in the WAL or another block come back
// twice; reads and compaction drop such duplicates). If the data cannot be
// read, the objects move to quarantine/ in the bucket. Each outcome is
// logged with the block and span counts.
func (s *Store) recoverIncomplete(ctx context.Context, id string) error {
	hasData, err := block.HasData(ctx, s.bucket, id)
	if err != nil {
		return err
	}
	if !hasData {
		if err := block.Delete(ctx, s.bucket, id); err != nil {
			return err
		}
		s.log.Info("deleted the leftovers of a block without data or meta.json (an interrupted write or delete)", "block", id)
		return nil
	}
	spans, serr := block.Salvage(ctx, s.bucket, id)
	if serr != nil {
		moved, err := s.quarantineBlock(ctx, id)
		if err != nil {
			return errors.Join(serr, err)
		}
		s.log.Warn("block without meta.json is unreadable; moved to quarantine, its spans are not served",
			"block", id, "err", serr, "quarantine", moved)
		return nil
	}
	h := newHead(s.opts.Now())
	h.add(spans)
	meta, err := block.Write(ctx, s.bucket, h.spans(), h.edgeList(), 0)
	if err != nil {
		return fmt.Errorf("rebuild block %s: %w", id, err)
	}
	if err := block.Delete(ctx, s.bucket, id); err != nil {
		return fmt.Errorf("rebuilt block %s as %s, but: %w", id, meta.ID, err)
	}
	s.log.Warn("block had no meta.json; rebuilt it from its data and index", "block", id,
		"rebuilt_as", meta.ID, "spans", meta.SpanCount)
	return nil
}

// quarantineObject copies one object to quarantine/<name> in the bucket.
func (s *Store) quarantineObject(ctx context.Context, name string) error {
	rc, err := s.bucket.Get(ctx, name)
	if err != nil {
		return err
	}
	defer rc.Close()
	return s.bucket.Put(ctx, "quarantine/"+name, rc)
}

// quarantineBlock copies a block's objects to quarantine/<id>/ in the
// bucket (invisible to block listings) and deletes the block.
func (s *Store) quarantineBlock(ctx context.Context, id string) (string, error) {
	names, err := block.Objects(ctx, s.bucket, id)
	if err != nil {
		return "", err
	}
	dst := "quarantine/" + id + "/"
	for _, n := range names {
		rc, err := s.bucket.Get(ctx, n)
		if err != nil {
			return "", err
		}
		err = s.bucket.Put(ctx, "quarantine/"+n, rc)
		rc.Close()
		if err != nil {
			return "", err
		}
	}
	if err := block.Delete(ctx, s.bucket, id); err != nil {
		return "", err
	}
	return dst, nil
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
	if err := s.replayErr(); err != nil {
		return consumer.Result{}, fmt.Errorf("%w: %w", err, consumer.ErrOverloaded)
	}
	if s.pendingBytes() > s.opts.MaxHeadBytes {
		s.metrics.refusedOverload.Add(float64(n))
		return consumer.Result{}, fmt.Errorf("store: %d bytes waiting to be written as blocks: %w", s.pendingBytes(), consumer.ErrOverloaded)
	}
	buf, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		return consumer.Result{}, fmt.Errorf("store: encode batch: %w", err)
	}
	rec := make([]byte, 1+len(buf))
	rec[0] = recordTraces
	copy(rec[1:], buf)
	spans := model.AppendSpans(make([]model.Span, 0, n), td)

	s.appendMu.RLock()
	defer s.appendMu.RUnlock()
	if _, err := s.wal.Append(ctx, rec); err != nil {
		return consumer.Result{}, fmt.Errorf("store: wal: %w", err)
	}
	s.mu.RLock()
	h := s.head
	s.mu.RUnlock()
	h.add(spans)
	s.metrics.spansWritten.Add(float64(n))
	return consumer.Result{}, nil
}

// Ready returns nil if the store can accept writes, or why it cannot: the
// WAL's last write failed (a full disk) and it has not written since. The
// WAL retries on its own, so Ready turns nil again once space returns.
func (s *Store) Ready() error {
	if err := s.replayErr(); err != nil {
		return err
	}
	if err := s.wal.Err(); err != nil {
		return fmt.Errorf("store: cannot write the WAL: %w", err)
	}
	return nil
}

// pendingBytes is the memory held by the head and the heads being flushed.
func (s *Store) pendingBytes() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, total := s.head.size()
	for _, f := range s.flushing {
		_, b := f.h.size()
		total += b
	}
	return total
}

// run drives background work in two loops, so that a long compaction can
// never hold up writing heads as blocks (which would fill memory and make
// the store refuse writes).
func (s *Store) run() {
	defer close(s.done)
	var wg sync.WaitGroup
	loop := func(every time.Duration, work func(context.Context) error, what string) {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				if err := work(context.Background()); err != nil {
					s.log.Error("store "+what, "err", err)
				}
			}
		}
	}
	wg.Add(3)
	go loop(s.opts.MaintainEvery, func(ctx context.Context) error { return s.flush(ctx, false) }, "flush")
	go loop(10*s.opts.MaintainEvery, s.compactAndExpire, "compaction")
	if s.opts.Shared {
		wg.Add(1)
		go loop(s.opts.PollEvery, s.syncBucket, "poll of the shared bucket")
	}
	go func() { // verification starts as soon as a read fails
		defer wg.Done()
		for {
			select {
			case <-s.stop:
				return
			case <-s.verifyKick:
				if err := s.verifySuspects(context.Background()); err != nil {
					s.log.Warn("store block verification", "err", err)
				}
			}
		}
	}()
	wg.Wait()
}

// Maintain runs one pass of background work: cut the head if it is due (or
// if force is set and it is not empty), write cut heads as blocks, compact
// small blocks, delete expired ones, and verify blocks that failed a read.
func (s *Store) Maintain(ctx context.Context, force bool) error {
	return errors.Join(s.flush(ctx, force), s.verifySuspects(ctx), s.compactAndExpire(ctx))
}

func (s *Store) flush(ctx context.Context, force bool) error {
	if !s.headWhole() {
		return nil // see Close
	}
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	cutErr := s.cutIfDue(force)
	if !force && s.opts.Now().Before(s.retryAt) {
		return cutErr // backing off; cut heads are still queried and in the WAL
	}
	err := s.flushAll(ctx)
	if err == nil {
		s.failedWrites, s.retryAt = 0, time.Time{}
		return cutErr
	}
	s.failedWrites++
	delay := writeBackoff(s.failedWrites)
	s.retryAt = s.opts.Now().Add(delay)
	return errors.Join(cutErr, fmt.Errorf("%w (failed %d times in a row; next attempt in %s)", err, s.failedWrites, delay.Round(time.Millisecond)))
}

// writeBackoff is the wait after the n-th block write failure in a row: 1 s
// doubling to a minute, plus up to a fifth more at random so that nodes
// sharing a bucket that comes back do not retry in step.
func writeBackoff(n int) time.Duration {
	d := min(time.Second<<min(n-1, 6), time.Minute)
	return d + rand.N(d/5+1)
}

func (s *Store) compactAndExpire(ctx context.Context) error {
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	var err error
	if s.mayCompact(ctx) {
		err = s.compact(ctx)
	}
	s.applyRetention()
	return errors.Join(err, s.collectGarbage(ctx))
}

func (s *Store) cutIfDue(force bool) error {
	s.mu.RLock()
	h := s.head
	s.mu.RUnlock()
	count, bytes := h.size()
	if count == 0 {
		return nil
	}
	due := force || count >= s.opts.BlockMaxSpans || bytes >= s.opts.MaxHeadBytes/3 ||
		s.opts.Now().Sub(h.created) >= s.opts.BlockMaxAge
	if !due {
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
// WAL segments that only held flushed data.
func (s *Store) flushAll(ctx context.Context) error {
	for {
		s.mu.RLock()
		if len(s.flushing) == 0 {
			s.mu.RUnlock()
			return nil
		}
		f := s.flushing[0]
		s.mu.RUnlock()

		start := time.Now()
		meta, err := block.Write(ctx, s.bucket, f.h.spans(), f.h.edgeList(), 0)
		if err != nil {
			s.metrics.flushFailures.Inc()
			return fmt.Errorf("write block: %w", err)
		}
		b, err := block.Open(ctx, s.bucket, meta.ID)
		if err != nil {
			return fmt.Errorf("open new block %s: %w", meta.ID, err)
		}
		s.mu.Lock()
		lb := s.blockLocked(meta.ID)
		if lb != nil {
			_ = b.Close() // a poll of the shared bucket found it first
		} else {
			lb = s.newLiveBlock(b)
			s.blocks = append(s.blocks, lb)
			sortBlocks(s.blocks)
		}
		s.flushing = s.flushing[1:]
		expired := s.noteWrittenLocked(lb)
		s.mu.Unlock()
		for _, old := range expired {
			old.release()
		}
		if err := s.wal.Truncate(f.before); err != nil {
			return fmt.Errorf("truncate wal: %w", err)
		}
		s.metrics.blocksWritten.Inc()
		level := slog.LevelDebug
		if s.closing.Load() {
			level = slog.LevelInfo
		}
		s.log.Log(ctx, level, "block written", "block", meta.ID, "spans", meta.SpanCount, "bytes", meta.Bytes,
			"took", time.Since(start).Round(time.Millisecond))
	}
}

// Close stops maintenance, writes the head as a block (so the next start
// needs no replay) and closes the WAL. Safe to call more than once.
func (s *Store) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		if s.replay.done != nil {
			s.replay.cancel()
			<-s.replay.done
		}
		close(s.stop)
		<-s.done
		if !s.headWhole() {
			// The head is not whole: writing it as a block would let the
			// WAL segments it came from be deleted with records that were
			// never replayed. The next start replays the whole WAL again.
			s.mu.Lock()
			blocks := s.blocks
			s.blocks = nil
			s.mu.Unlock()
			for _, b := range blocks {
				b.release()
			}
			s.closeErr = errors.Join(s.wal.Close(), s.lock.Close())
			return
		}
		s.closing.Store(true) // the block written now is worth an info line
		err := s.Maintain(ctx, true)
		// Drop the block list's references; blocks that a query still
		// holds are closed when it lets go.
		s.mu.Lock()
		blocks := s.blocks
		s.blocks = nil
		s.mu.Unlock()
		for _, b := range blocks {
			b.release()
		}
		s.mu.Lock()
		recent := s.recent
		s.recent = nil
		s.mu.Unlock()
		for _, r := range recent {
			r.lb.release()
		}
		s.closeErr = errors.Join(err, s.wal.Close(), s.lock.Close())
	})
	return s.closeErr
}
