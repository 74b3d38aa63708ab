package segment

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/store/wal"
)

// Options configures a Core. Zero values take the defaults in brackets.
type Options struct {
	// Name prefixes errors ("logstore: ...").
	Name string
	// MetricPrefix names the metrics ("clew_logstore" gives
	// clew_logstore_blocks_written_total ...), Unit the records in them
	// and in log lines ("records", "spans").
	MetricPrefix, Unit string

	Dir string // the WAL in Dir/wal; blocks in Dir/blocks unless Bucket is set
	// Bucket holds the blocks instead of Dir/blocks (an S3 bucket, or a
	// prefix of one); the WAL stays in Dir.
	Bucket        objstore.Bucket
	Retention     time.Duration // whole blocks that ended before this are deleted [7 days]
	BlockMaxCount int           // cut the head into a block at this many records [200,000]
	BlockMaxAge   time.Duration // ... or when the head is this old [5 minutes]
	// MaxHeadBytes bounds memory: while this much is waiting in memory
	// (head plus heads being written), appends are refused as overloaded;
	// a head is cut when it alone holds a third of it. [384 MiB]
	MaxHeadBytes  int64
	WALSync       wal.SyncPolicy
	WALSyncEvery  time.Duration // with wal.SyncInterval
	WALFS         wal.FS        // nil: the OS; tests inject disk faults
	WALRetryEvery time.Duration // how often a WAL that failed to write retries [1 s]
	CompactBlocks int           // merge small blocks this many at a time [4]
	MaintainEvery time.Duration // how often to check cut, compaction and retention [1 s]
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
	Now           func() time.Time // for tests
	// DisableRunLoop: tests drive Maintain and PollBucket themselves.
	DisableRunLoop bool
	// ReplayInBackground makes Open return once the blocks are open and
	// replay the WAL into the head meanwhile: queries are answered from the
	// blocks and the part of the head replayed so far, marked partial;
	// appends are refused as overloaded (retryable) and Ready reports not
	// ready until the replay is done.
	ReplayInBackground bool
	// ReplayGate, if set, is called after each replayed WAL record (tests).
	ReplayGate func()
	// ReadsDedupe says that the store's reads drop records stored twice
	// (spans do, by span ID). Then a block without meta.json is rebuilt
	// from its data at open even though its records may also be in the
	// WAL (a block write that a crash cut short). Without it such blocks
	// are deleted (their records are in the WAL, or, for a delete cut
	// short, in a merged block or expired) and only blocks whose meta.json
	// was damaged are rebuilt.
	ReadsDedupe bool
	// KeepRecent (with Shared): hold the blocks this node wrote for
	// RecentWindow, for RecentSnapshot — what peers ask a node for until
	// they have listed its blocks themselves.
	KeepRecent bool

	// Shared says that other nodes write blocks to the same bucket. The
	// block list then follows the bucket, listed every PollEvery; nothing is
	// deleted at open (another node's upload in progress looks like a
	// crashed one); and only while Compactor is held are blocks compacted
	// and deleted — compacted-away and expired blocks DeleteDelay after
	// they left every node's block list, meta-less blocks once
	// PartialUploadAge old.
	Shared           bool
	PollEvery        time.Duration // [15 s]
	Compactor        Gate          // nil: this node never compacts a shared bucket
	DeleteDelay      time.Duration // [5 min]
	PartialUploadAge time.Duration // [48 h]
}

func (o *Options) setDefaults() {
	if o.Name == "" {
		o.Name = "segment"
	}
	if o.MetricPrefix == "" {
		o.MetricPrefix = "clew_" + o.Name
	}
	if o.Unit == "" {
		o.Unit = "records"
	}
	if o.Retention <= 0 {
		o.Retention = 7 * 24 * time.Hour
	}
	if o.BlockMaxCount <= 0 {
		o.BlockMaxCount = 200_000
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

// Core is one store's lifecycle: WAL, head, cut heads, blocks. It is safe
// for concurrent use.
type Core[R any, H Head[R], B Block] struct {
	opts   Options
	f      Format[R, H, B]
	log    *slog.Logger
	wal    *wal.WAL
	bucket objstore.Bucket

	// appendMu orders appends against cuts: appends hold it shared from the
	// WAL write until their records are in the head, a cut holds it
	// exclusively, so a head holds exactly the records of the WAL segments
	// before its cut.
	appendMu sync.RWMutex

	mu       sync.RWMutex
	head     H
	flushing []flushing[H] // cut, being written as blocks, still queried
	blocks   []*Live[B]    // sorted by MinTime

	garbageMu sync.Mutex
	garbage   []*Live[B] // out of the block list and unread: to close and delete

	flushMu sync.Mutex // one cut/flush pass at a time
	// While block writes fail (a bucket that is down), retries back off:
	// failedWrites in a row, next attempt not before retryAt. Under flushMu.
	failedWrites int
	retryAt      time.Time
	compactMu    sync.Mutex // one compaction/retention/poll/verify pass at a time
	stop         chan struct{}
	done         chan struct{}
	closeOnce    sync.Once
	stopOnce     sync.Once
	closing      atomic.Bool
	closeErr     error
	m            *Counters

	// With a shared bucket (shared.go), under compactMu: the metas of
	// every complete block in the last listing, when this node first
	// listed each, and metas that could not be read (logged once).
	known     map[string]Meta
	firstSeen map[string]time.Time
	badMetas  map[string]bool

	// Blocks that failed a read and wait for verification (damage.go).
	suspectMu     sync.Mutex
	suspects      map[string]struct{}
	damagedShared map[string]bool // verified damaged in a shared bucket, left in place
	verifyKick    chan struct{}
	// recent: blocks this node wrote lately (KeepRecent), under mu.
	recent []recentBlock[B]
	// Record counts of blocks quarantined at open, before metrics existed.
	openQuarantined []int
	replay          replayState
}

type flushing[H any] struct {
	h      H
	before wal.SegmentID // WAL segments below this hold only this and older heads
}

// Open opens (or creates) the core in opts.Dir: it opens the blocks,
// replays the WAL into the head (in the background with
// ReplayInBackground) and starts background maintenance.
func Open[R any, H Head[R], B Block](ctx context.Context, opts Options, f Format[R, H, B]) (*Core[R, H, B], error) {
	opts.setDefaults()
	if opts.Dir == "" {
		return nil, fmt.Errorf("%s: no directory", opts.Name)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", opts.Name, err)
	}
	bucket := opts.Bucket
	if bucket == nil {
		local, err := objstore.NewLocal(filepath.Join(opts.Dir, "blocks"))
		if err != nil {
			return nil, fmt.Errorf("%s: blocks: %w", opts.Name, err)
		}
		bucket = local
	}
	c := &Core[R, H, B]{
		opts:          opts,
		f:             f,
		log:           opts.Logger,
		bucket:        bucket,
		head:          f.NewHead(opts.Now()),
		stop:          make(chan struct{}),
		done:          make(chan struct{}),
		suspects:      map[string]struct{}{},
		damagedShared: map[string]bool{},
		verifyKick:    make(chan struct{}, 1),
	}
	if err := c.openBlocks(ctx); err != nil {
		c.releaseBlocks()
		return nil, err
	}
	w, err := wal.Open(filepath.Join(opts.Dir, "wal"), wal.Options{Sync: opts.WALSync, SyncInterval: opts.WALSyncEvery,
		Logger: opts.Logger, QuarantineDir: filepath.Join(opts.Dir, "quarantine", "wal"),
		FS: opts.WALFS, RetryInterval: opts.WALRetryEvery})
	if err != nil {
		c.releaseBlocks()
		return nil, fmt.Errorf("%s: wal: %w", opts.Name, err)
	}
	c.wal = w
	c.replay.size = w.Size()
	c.m = newMetrics(c, opts.Registerer)
	for _, n := range c.openQuarantined {
		c.m.BlocksQuarantined.Inc()
		c.m.Lost.Add(float64(n))
	}
	if !opts.ReplayInBackground {
		if err := c.replayWAL(ctx); err != nil {
			_ = w.Close()
			c.releaseBlocks()
			return nil, err
		}
		c.startRunLoop()
		return c, nil
	}
	c.replay.running.Store(true)
	rctx, cancel := context.WithCancel(context.Background())
	c.replay.ctx, c.replay.cancel, c.replay.done = rctx, cancel, make(chan struct{})
	go func() {
		defer close(c.replay.done)
		if err := c.replayWAL(rctx); err != nil {
			c.replay.err.Store(&err)
			if rctx.Err() == nil {
				c.log.Error("WAL replay failed; writes stay refused, blocks are still served", "err", err)
			}
			close(c.done) // no background work without a whole head
			return
		}
		c.replay.running.Store(false)
		c.startRunLoop()
	}()
	return c, nil
}

func (c *Core[R, H, B]) startRunLoop() {
	if !c.opts.DisableRunLoop {
		go c.run()
	} else {
		close(c.done)
	}
}

// Bucket is where the blocks are.
func (c *Core[R, H, B]) Bucket() objstore.Bucket { return c.bucket }

// Options is the core's options with their defaults filled in.
func (c *Core[R, H, B]) Options() Options { return c.opts }

func (c *Core[R, H, B]) newLive(b B) *Live[B] {
	return newLive(b, func(l *Live[B]) {
		c.garbageMu.Lock()
		c.garbage = append(c.garbage, l)
		c.garbageMu.Unlock()
	})
}

// openBlock opens block id and wraps it for the block list.
func (c *Core[R, H, B]) openBlock(ctx context.Context, id string) (*Live[B], error) {
	b, err := c.f.Open(ctx, c.bucket, id)
	if err != nil {
		return nil, err
	}
	return c.newLive(b), nil
}

func (c *Core[R, H, B]) openBlocks(ctx context.Context) error {
	if c.opts.Shared {
		// Other nodes write and delete in this bucket: take the block list
		// as it is, delete nothing (see syncBucket).
		return c.syncBucket(ctx)
	}
	// Nothing writes blocks before Open returns, so temporary files are
	// what crashed Puts left behind.
	if tc, ok := c.bucket.(interface {
		CollectTemp(context.Context) (int, error)
	}); ok {
		n, err := tc.CollectTemp(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", c.opts.Name, err)
		}
		if n > 0 {
			c.log.Info("removed temporary files left by interrupted block writes", "files", n)
		}
	}
	l, err := List(ctx, c.bucket)
	if err != nil {
		return fmt.Errorf("%s: %w", c.opts.Name, err)
	}
	var metas []Meta
	incomplete := l.Incomplete
	damagedMeta := map[string]bool{}
	for _, id := range l.Complete {
		m, err := c.f.ReadMeta(ctx, c.bucket, id)
		switch {
		case err == nil:
			metas = append(metas, m)
		case errors.Is(err, fs.ErrNotExist):
		case c.f.Damaged(err):
			// A meta.json that does not decode is as good as a missing
			// one: the block is rebuilt from its data like an incomplete
			// block, after the damaged file is copied to quarantine.
			if err := quarantineObject(ctx, c.bucket, id+"/"+MetaName); err != nil {
				c.log.Error("block's meta.json is damaged and cannot be quarantined; block left in place, not served", "block", id, "err", err)
				continue
			}
			c.log.Warn("block's meta.json is damaged (copied to quarantine); recovering the block from its data", "block", id, "err", err)
			incomplete = append(incomplete, id)
			damagedMeta[id] = true
		default:
			return fmt.Errorf("%s: %w", c.opts.Name, err)
		}
	}
	merged := CompactedAway(metas)
	for _, id := range incomplete {
		if merged[id] {
			// A compaction input whose delete (meta.json goes first) was
			// cut short: a complete block names it as merged.
			if err := Delete(ctx, c.bucket, id); err != nil {
				c.log.Warn("cannot delete the rest of a compacted block", "block", id, "err", err)
			}
			continue
		}
		if !c.opts.ReadsDedupe && !damagedMeta[id] {
			if err := Delete(ctx, c.bucket, id); err != nil {
				c.log.Warn("cannot delete the rest of an interrupted block write or delete", "block", id, "err", err)
			} else {
				c.log.Info("deleted the rest of an interrupted block write or delete (its records are in the WAL or another block)", "block", id)
			}
			continue
		}
		rebuilt, err := c.recoverIncomplete(ctx, id)
		if err != nil {
			c.log.Warn("cannot recover block without meta.json; left in place", "block", id, "err", err)
			continue
		}
		if rebuilt != "" {
			m, err := c.f.ReadMeta(ctx, c.bucket, rebuilt)
			if err != nil {
				return fmt.Errorf("%s: %w", c.opts.Name, err)
			}
			metas = append(metas, m)
		}
	}
	for _, m := range metas {
		if merged[m.ID] {
			// A compaction's input whose delete a crash (or a long query)
			// held up: its records are in the merged block.
			if err := Delete(ctx, c.bucket, m.ID); err != nil {
				c.log.Warn("cannot delete compacted block", "block", m.ID, "err", err)
			} else {
				c.log.Info("deleted block left over from a compaction", "block", m.ID)
			}
			continue
		}
		lb, err := c.openBlock(ctx, m.ID)
		if err != nil && c.f.Damaged(err) {
			// Damaged where every read needs it: moved aside, not deleted,
			// so it can be looked at or repaired by hand.
			where, qerr := quarantineBlock(ctx, c.bucket, m.ID)
			if qerr != nil {
				c.log.Error("cannot open damaged block, nor move it to quarantine; skipping it", "block", m.ID, "err", err, "quarantine_err", qerr)
			} else {
				c.log.Error("block is damaged and cannot be opened; moved to quarantine, its records are not served",
					"block", m.ID, "lost_"+c.opts.Unit, m.Count, "quarantine", where, "err", err)
				c.openQuarantined = append(c.openQuarantined, m.Count)
			}
			continue
		}
		if err != nil {
			// One unreadable block must not keep the rest of the data offline.
			c.log.Error("cannot open block, skipping it", "block", m.ID, "err", err)
			continue
		}
		c.blocks = append(c.blocks, lb)
	}
	sortBlocks(c.blocks)
	return nil
}

// recoverIncomplete deals with a block that has objects but no meta.json:
// a crash during its write (its records are also still in the WAL), a
// crash during its deletion, or a meta.json lost to damage (its records
// are nowhere else). They cannot be told apart, so nothing with records in
// it is deleted unread: without a data object the leftovers go; otherwise
// the block is rebuilt from its data as a new block, whose ID is returned.
// If the data cannot be read, the objects move to quarantine/.
func (c *Core[R, H, B]) recoverIncomplete(ctx context.Context, id string) (string, error) {
	recs, serr := c.f.Salvage(ctx, c.bucket, id)
	if errors.Is(serr, fs.ErrNotExist) {
		if err := Delete(ctx, c.bucket, id); err != nil {
			return "", err
		}
		c.log.Info("deleted the leftovers of a block without data or meta.json (an interrupted write or delete)", "block", id)
		return "", nil
	}
	if serr != nil {
		if !c.f.Damaged(serr) {
			return "", serr
		}
		moved, err := quarantineBlock(ctx, c.bucket, id)
		if err != nil {
			return "", errors.Join(serr, err)
		}
		c.log.Warn("block without meta.json is unreadable; moved to quarantine, its records are not served",
			"block", id, "err", serr, "quarantine", moved)
		return "", nil
	}
	if len(recs) == 0 {
		return "", Delete(ctx, c.bucket, id)
	}
	h := c.f.NewHead(c.opts.Now())
	h.Add(recs)
	rebuilt, err := c.f.Write(ctx, c.bucket, h, 0)
	if err != nil {
		return "", fmt.Errorf("rebuild block %s: %w", id, err)
	}
	if err := Delete(ctx, c.bucket, id); err != nil {
		return "", fmt.Errorf("rebuilt block %s as %s, but: %w", id, rebuilt, err)
	}
	c.log.Warn("block had no meta.json; rebuilt it from its data", "block", id, "rebuilt_as", rebuilt, c.opts.Unit, len(recs))
	return rebuilt, nil
}

// Append makes records durable and visible: walRecord is written to the
// WAL (per the sync policy) and recs, its decoded form, added to the head.
// A nil error is an acknowledgement.
func (c *Core[R, H, B]) Append(ctx context.Context, walRecord []byte, recs []R) error {
	n := len(recs)
	if err := c.replayErr(); err != nil {
		return fmt.Errorf("%w: %w", err, consumer.ErrOverloaded)
	}
	if p := c.pendingBytes(); p > c.opts.MaxHeadBytes {
		c.m.Refused.Add(float64(n))
		return fmt.Errorf("%s: %d bytes waiting to be written as blocks: %w", c.opts.Name, p, consumer.ErrOverloaded)
	}
	c.appendMu.RLock()
	defer c.appendMu.RUnlock()
	if _, err := c.wal.Append(ctx, walRecord); err != nil {
		return fmt.Errorf("%s: wal: %w", c.opts.Name, err)
	}
	c.mu.RLock()
	h := c.head
	c.mu.RUnlock()
	h.Add(recs)
	c.m.Written.Add(float64(n))
	return nil
}

// Ready returns nil if the core can accept appends, or why it cannot: the
// WAL is still replaying, or its last write failed (a full disk) and it
// has not written since (it retries on its own).
func (c *Core[R, H, B]) Ready() error {
	if err := c.replayErr(); err != nil {
		return err
	}
	if err := c.wal.Err(); err != nil {
		return fmt.Errorf("%s: cannot write the WAL: %w", c.opts.Name, err)
	}
	return nil
}

// pendingBytes is the memory held by the head and the heads being written.
func (c *Core[R, H, B]) pendingBytes() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, total := c.head.Size()
	for _, f := range c.flushing {
		_, b := f.h.Size()
		total += b
	}
	return total
}

// run drives background work in separate loops, so that a long compaction
// can never hold up writing heads as blocks (which would fill memory and
// make the store refuse writes).
func (c *Core[R, H, B]) run() {
	defer close(c.done)
	var wg sync.WaitGroup
	loop := func(every time.Duration, work func(context.Context) error, what string) {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				if err := work(context.Background()); err != nil {
					c.log.Error(c.opts.Name+" "+what, "err", err)
				}
			}
		}
	}
	wg.Add(3)
	go loop(c.opts.MaintainEvery, func(ctx context.Context) error { return c.flush(ctx, false) }, "flush")
	go loop(10*c.opts.MaintainEvery, c.compactAndExpire, "compaction")
	if c.opts.Shared {
		wg.Add(1)
		go loop(c.opts.PollEvery, c.syncBucket, "poll of the shared bucket")
	}
	go func() { // verification starts as soon as a read fails
		defer wg.Done()
		for {
			select {
			case <-c.stop:
				return
			case <-c.verifyKick:
				if err := c.verifySuspects(context.Background()); err != nil {
					c.log.Warn(c.opts.Name+" block verification", "err", err)
				}
			}
		}
	}()
	wg.Wait()
}

// Maintain runs one pass of background work: cut the head if it is due (or
// if force is set and it is not empty), write cut heads as blocks, verify
// blocks that failed a read, compact small blocks and drop expired ones.
func (c *Core[R, H, B]) Maintain(ctx context.Context, force bool) error {
	return errors.Join(c.flush(ctx, force), c.verifySuspects(ctx), c.compactAndExpire(ctx))
}

func (c *Core[R, H, B]) flush(ctx context.Context, force bool) error {
	if !c.headWhole() {
		return nil // see Close
	}
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	cutErr := c.cutIfDue(force)
	if !force && c.opts.Now().Before(c.retryAt) {
		return cutErr // backing off; cut heads are still queried and in the WAL
	}
	err := c.flushAll(ctx)
	if err == nil {
		c.failedWrites, c.retryAt = 0, time.Time{}
		return cutErr
	}
	c.failedWrites++
	delay := Backoff(c.failedWrites)
	c.retryAt = c.opts.Now().Add(delay)
	return errors.Join(cutErr, fmt.Errorf("%s: %w (failed %d times in a row; next attempt in %s)",
		c.opts.Name, err, c.failedWrites, delay.Round(time.Millisecond)))
}

func (c *Core[R, H, B]) cutIfDue(force bool) error {
	c.mu.RLock()
	h := c.head
	c.mu.RUnlock()
	count, bytes := h.Size()
	if count == 0 {
		return nil
	}
	due := force || count >= c.opts.BlockMaxCount || bytes >= c.opts.MaxHeadBytes/3 ||
		c.opts.Now().Sub(h.Created()) >= c.opts.BlockMaxAge
	if !due {
		return nil
	}
	c.appendMu.Lock()
	defer c.appendMu.Unlock()
	seg, err := c.wal.Cut()
	if err != nil {
		return fmt.Errorf("%s: cut wal: %w", c.opts.Name, err)
	}
	c.mu.Lock()
	c.flushing = append(c.flushing, flushing[H]{h: c.head, before: seg})
	c.head = c.f.NewHead(c.opts.Now())
	c.mu.Unlock()
	return nil
}

// flushAll writes every cut head as a block, oldest first, and deletes the
// WAL segments that only held written records.
func (c *Core[R, H, B]) flushAll(ctx context.Context) error {
	for {
		c.mu.RLock()
		if len(c.flushing) == 0 {
			c.mu.RUnlock()
			return nil
		}
		f := c.flushing[0]
		c.mu.RUnlock()

		start := time.Now()
		id, err := c.f.Write(ctx, c.bucket, f.h, 0)
		if err != nil {
			c.m.FlushFailures.Inc()
			return fmt.Errorf("write block: %w", err)
		}
		lb, err := c.openBlock(ctx, id)
		if err != nil {
			c.m.FlushFailures.Inc()
			return fmt.Errorf("open new block %s: %w", id, err)
		}
		c.mu.Lock()
		var extra *Live[B]
		if listed := c.blockLocked(id); listed != nil {
			extra, lb = lb, listed // a poll of the shared bucket found it first
		} else {
			c.blocks = append(c.blocks, lb)
			sortBlocks(c.blocks)
		}
		c.flushing = c.flushing[1:]
		expired := c.noteWrittenLocked(lb)
		c.mu.Unlock()
		if extra != nil {
			extra.release() // never in the list: closes it
		}
		for _, old := range expired {
			old.release()
		}
		if err := c.wal.Truncate(f.before); err != nil {
			return fmt.Errorf("truncate wal: %w", err)
		}
		c.m.BlocksWritten.Inc()
		level := slog.LevelDebug
		if c.closing.Load() {
			level = slog.LevelInfo
		}
		m := lb.Meta()
		c.log.Log(ctx, level, "block written", "block", id, c.opts.Unit, m.Count, "bytes", m.Bytes,
			"took", time.Since(start).Round(time.Millisecond))
	}
}

func (c *Core[R, H, B]) blockLocked(id string) *Live[B] {
	for _, b := range c.blocks {
		if b.meta.ID == id {
			return b
		}
	}
	return nil
}

// HasBlock reports whether the block is in this node's block list.
func (c *Core[R, H, B]) HasBlock(id string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.blockLocked(id) != nil
}

// BlockMetas lists the metas of the blocks in the block list, by MinTime.
func (c *Core[R, H, B]) BlockMetas() []Meta {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Meta, len(c.blocks))
	for i, b := range c.blocks {
		out[i] = b.meta
	}
	return out
}

// Backlog is what waits to be written as blocks: cut heads and their records.
func (c *Core[R, H, B]) Backlog() (heads, records int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, f := range c.flushing {
		n, _ := f.h.Size()
		records += n
	}
	return len(c.flushing), records
}

// Snapshot is a consistent view of everything readable: the head, heads
// being written, and blocks. It holds a reference to each of its blocks,
// so they stay open and in the bucket until Release, even if compaction or
// retention replaces them.
type Snapshot[H any, B Block] struct {
	Heads  []H        // newest first
	Blocks []*Live[B] // by MinTime
}

// Snapshot takes a snapshot; the caller must Release it. While the WAL is
// still replaying, the answer of the query in ctx is marked partial.
func (c *Core[R, H, B]) Snapshot(ctx context.Context) *Snapshot[H, B] {
	c.notePartial(ctx)
	c.mu.RLock()
	defer c.mu.RUnlock()
	snap := &Snapshot[H, B]{Heads: make([]H, 0, 1+len(c.flushing)), Blocks: slices.Clone(c.blocks)}
	for _, b := range snap.Blocks {
		b.acquire()
	}
	snap.Heads = append(snap.Heads, c.head)
	for i := len(c.flushing) - 1; i >= 0; i-- {
		snap.Heads = append(snap.Heads, c.flushing[i].h)
	}
	return snap
}

// Release lets go of the snapshot's blocks. Call it exactly once.
func (s *Snapshot[H, B]) Release() {
	for _, b := range s.Blocks {
		b.release()
	}
	s.Blocks = nil
}

// Close stops maintenance, writes the head as a block (so the next start
// needs no replay) and closes the WAL. Safe to call more than once.
func (c *Core[R, H, B]) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		if c.replay.done != nil {
			c.replay.cancel()
			<-c.replay.done
		}
		c.stopOnce.Do(func() { close(c.stop) })
		<-c.done
		var err error
		if c.headWhole() {
			c.closing.Store(true) // the block written now is worth an info line
			err = c.Maintain(ctx, true)
		}
		// Otherwise the head is not whole: writing it as a block would let
		// the WAL segments it came from be deleted with records that were
		// never replayed. The next start replays the whole WAL again.
		c.releaseBlocks()
		c.mu.Lock()
		recent := c.recent
		c.recent = nil
		c.mu.Unlock()
		for _, r := range recent {
			r.lb.release()
		}
		c.closeErr = errors.Join(err, c.wal.Close())
	})
	return c.closeErr
}

// releaseBlocks drops the block list's references; blocks a query still
// holds are closed when it lets go.
func (c *Core[R, H, B]) releaseBlocks() {
	c.mu.Lock()
	blocks := c.blocks
	c.blocks = nil
	c.mu.Unlock()
	for _, b := range blocks {
		b.release()
	}
}

func sortBlocks[B Block](bs []*Live[B]) {
	slices.SortStableFunc(bs, func(a, b *Live[B]) int {
		if a.meta.MinTime != b.meta.MinTime {
			if a.meta.MinTime < b.meta.MinTime {
				return -1
			}
			return 1
		}
		switch {
		case a.meta.ID < b.meta.ID:
			return -1
		case a.meta.ID > b.meta.ID:
			return 1
		}
		return 0
	})
}

// WAL is the core's write-ahead log (for tests that simulate a crash by
// closing it, and for diagnostics).
func (c *Core[R, H, B]) WAL() *wal.WAL { return c.wal }

// HeadSize is the number of records in the head and the heads being
// written, and the memory they hold.
func (c *Core[R, H, B]) HeadSize() (count int, bytes int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	count, bytes = c.head.Size()
	for _, f := range c.flushing {
		n, b := f.h.Size()
		count, bytes = count+n, bytes+b
	}
	return count, bytes
}

// Flush cuts the head if it is due (or, with force, if it is not empty) and
// writes cut heads as blocks; Maintain does this and more.
func (c *Core[R, H, B]) Flush(ctx context.Context, force bool) error { return c.flush(ctx, force) }

// CompactAndExpire runs one compaction and retention pass (with a shared
// bucket, compaction only while holding the gate).
func (c *Core[R, H, B]) CompactAndExpire(ctx context.Context) error { return c.compactAndExpire(ctx) }

// Counters are the core's counters (for tests and the owning store).
func (c *Core[R, H, B]) Counters() *Counters { return c.m }

// Head is the current head (tests add records to it directly, bypassing
// the WAL).
func (c *Core[R, H, B]) Head() H {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.head
}

// Abandon stops the background work without writing the head or closing
// the WAL, as a killed process would (tests simulate crashes with it and
// then close the WAL).
func (c *Core[R, H, B]) Abandon() {
	c.stopOnce.Do(func() { close(c.stop) })
	<-c.done
}
