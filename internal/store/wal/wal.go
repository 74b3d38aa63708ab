package wal

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// SyncPolicy says when appended records are fsynced.
type SyncPolicy int

const (
	// SyncAlways fsyncs before Append returns. Concurrent appends share
	// one write and one fsync (group commit). The default.
	SyncAlways SyncPolicy = iota
	// SyncInterval fsyncs every Options.SyncInterval; Append returns once
	// the record is written to the OS. A machine crash can lose up to one
	// interval of acknowledged records; a process crash loses nothing.
	SyncInterval
	// SyncNever never fsyncs segment data except in Close. For tests and
	// benchmarks.
	SyncNever
)

func (p SyncPolicy) String() string {
	switch p {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "interval"
	case SyncNever:
		return "never"
	}
	return fmt.Sprintf("SyncPolicy(%d)", int(p))
}

const (
	// DefaultSegmentSize is used when Options.SegmentSize is 0.
	DefaultSegmentSize = 128 << 20
	// DefaultSyncInterval is used with SyncInterval when
	// Options.SyncInterval is 0.
	DefaultSyncInterval = time.Second
	// DefaultRetryInterval is used when Options.RetryInterval is 0.
	DefaultRetryInterval = time.Second

	// maxFreeBuf bounds the capacity of a write buffer kept for reuse, so
	// one multi-MB batch does not pin its memory for the process lifetime.
	maxFreeBuf  = 16 << 20
	maxFreeBufs = 4
)

// Options configure a WAL. The zero value is a valid configuration.
type Options struct {
	// SegmentSize is the size at which a segment is rolled over: a record
	// that would take the segment past it goes to a new segment. A record
	// larger than SegmentSize gets a segment of its own.
	SegmentSize int64
	Sync        SyncPolicy
	// SyncInterval is the fsync period under SyncInterval.
	SyncInterval time.Duration
	// RetryInterval is how often the WAL, after a write or fsync failed
	// (a full disk), tries on its own to open a fresh segment, so that it
	// reports itself healthy again without waiting for traffic.
	// [DefaultRetryInterval]
	RetryInterval time.Duration
	// Logger receives repair warnings; slog.Default() if nil.
	Logger *slog.Logger
	// FS is the file system; OS if nil. Tests inject faults through it.
	FS FS
	// QuarantineDir receives the bytes of damaged records that Replay
	// cuts out of the log; dir/quarantine if empty.
	QuarantineDir string
}

func (o Options) withDefaults() (Options, error) {
	if o.SegmentSize < 0 {
		return o, fmt.Errorf("wal: negative SegmentSize %d", o.SegmentSize)
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	switch o.Sync {
	case SyncAlways, SyncNever:
	case SyncInterval:
		if o.SyncInterval < 0 {
			return o, fmt.Errorf("wal: negative SyncInterval %v", o.SyncInterval)
		}
		if o.SyncInterval == 0 {
			o.SyncInterval = DefaultSyncInterval
		}
	default:
		return o, fmt.Errorf("wal: unknown sync policy %d", int(o.Sync))
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.FS == nil {
		o.FS = OS
	}
	if o.RetryInterval < 0 {
		return o, fmt.Errorf("wal: negative RetryInterval %v", o.RetryInterval)
	}
	if o.RetryInterval == 0 {
		o.RetryInterval = DefaultRetryInterval
	}
	return o, nil
}

// WAL is a write-ahead log in one directory. All methods are safe for
// concurrent use; Replay must complete before the first Append or Cut.
//
// Appenders frame and copy their record into the pending batch under mu;
// one writer goroutine takes the whole batch, writes it with one write(2)
// per segment touched and fsyncs once. While it fsyncs, the next batch
// fills up, which is what makes group commit pay off.
type WAL struct {
	fs   FS
	dir  string
	opts Options
	log  *slog.Logger

	size     atomic.Int64 // bytes on disk
	syncs    atomic.Int64 // fsyncs of segment files; for benchmarks
	batches  atomic.Int64 // batches written; for benchmarks
	failures atomic.Int64 // failed writes, fsyncs and segment creations

	replayMu sync.Mutex // serialises Replay
	truncMu  sync.Mutex // serialises Truncate

	mu       sync.Mutex
	closed   bool
	replayed bool
	writeErr error         // the last write/fsync failure; nil once a write succeeds again
	dropped  SegmentID     // highest segment abandoned after a failure; records for it fail
	onDisk   []segmentInfo // segments found by Open, for Replay
	seg      SegmentID     // segment the next record goes to
	segSize  int64         // size seg will have once queued bytes are written
	openSeg  SegmentID     // segment the writer has open (0: none); never truncated
	cur      *batch        // records waiting for the writer
	free     [][]byte      // reusable write buffers
	spare    []part        // reusable parts slice of a written batch

	wake chan struct{} // capacity 1: "cur is not empty"
	quit chan struct{}
	done chan struct{} // closed when the writer goroutine exits

	// Owned by the writer goroutine (and by Close after it exits).
	f     File
	fseg  SegmentID
	dirty bool  // written since the last fsync
	fsize int64 // bytes written to f
	fgood int64 // size of f after its last successful batch: where a failed one is cut back to

	// testHookWrite, if set, runs in the writer before each batch.
	testHookWrite func()
}

// batch is a group of records committed by one write+fsync. Waiters read
// err only after done is closed.
type batch struct {
	parts []part
	done  chan struct{}
	err   error
}

// part holds framed records bound for one segment. A part with an empty
// buf still makes the writer switch to its segment; that is how Cut works.
type part struct {
	seg SegmentID
	buf []byte
}

func newBatch() *batch { return &batch{done: make(chan struct{})} }

// Open opens or creates the WAL in dir. It does not read records; call
// Replay next.
func Open(dir string, opts Options) (*WAL, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if opts.QuarantineDir == "" {
		opts.QuarantineDir = filepath.Join(dir, "quarantine")
	}
	if err := opts.FS.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: create dir: %w", err)
	}
	// Make a freshly created dir itself survive a crash, not only its files.
	if err := opts.FS.SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", dir, err)
	}
	segs, err := listSegments(opts.FS, dir)
	if err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", dir, err)
	}
	w := &WAL{
		fs:     opts.FS,
		dir:    dir,
		opts:   opts,
		log:    opts.Logger,
		onDisk: segs,
		seg:    1,
		cur:    newBatch(),
		wake:   make(chan struct{}, 1),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	var total int64
	for _, s := range segs {
		total += s.size
	}
	w.size.Store(total)
	if len(segs) > 0 {
		w.seg = segs[len(segs)-1].id + 1
	}
	w.segSize = headerSize
	go w.run()
	return w, nil
}

// Append writes rec as one record and returns the segment it went to once
// it is durable per the sync policy. rec may be reused when Append returns.
// If ctx ends first, Append returns its error; the record may or may not
// have been written, but it was not acknowledged.
func (w *WAL) Append(ctx context.Context, rec []byte) (SegmentID, error) {
	if len(rec) > MaxRecordSize {
		return 0, fmt.Errorf("wal: append %d bytes: %w", len(rec), errTooLarge)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("wal: append: %w", err)
	}
	// Checksum outside the lock so appenders hash in parallel.
	length := uint32(len(rec))
	crc := recordCRC(length, rec)
	n := int64(frameSize + len(rec))

	w.mu.Lock()
	if err := w.usableLocked(); err != nil {
		w.mu.Unlock()
		return 0, err
	}
	if w.segSize+n > w.opts.SegmentSize && w.segSize > headerSize {
		w.seg++
		w.segSize = headerSize
	}
	w.segSize += n
	seg := w.seg
	b := w.cur
	// Always copy: writing the caller's slice later would race with its
	// reuse after a cancelled Append, and a record whose bytes changed
	// after checksumming would make Replay cut the log there.
	buf := w.queueLocked(seg)
	*buf = binary.LittleEndian.AppendUint32(*buf, length)
	*buf = binary.LittleEndian.AppendUint32(*buf, crc)
	*buf = append(*buf, rec...)
	w.mu.Unlock()
	w.kick()

	select {
	case <-b.done:
		if b.err != nil {
			return 0, b.err
		}
		return seg, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("wal: append not acknowledged: %w", ctx.Err())
	}
}

// Cut closes the current segment (fsynced unless SyncNever) and starts a
// new one, whose ID it returns. Every record appended before Cut was called
// is in a segment below that ID, so Truncate(id) drops exactly them.
func (w *WAL) Cut() (SegmentID, error) {
	w.mu.Lock()
	if err := w.usableLocked(); err != nil {
		w.mu.Unlock()
		return 0, err
	}
	w.seg++
	w.segSize = headerSize
	seg := w.seg
	b := w.cur
	w.queueLocked(seg)
	w.mu.Unlock()
	w.kick()
	// No ctx: the writer always finishes a batch, and the caller needs
	// to know whether the switch happened.
	<-b.done
	if b.err != nil {
		return 0, b.err
	}
	return seg, nil
}

// Truncate deletes all segments with an ID below before. The segment the
// writer still has open is kept (a later Truncate deletes it). before must
// not exceed the segment new records go to.
func (w *WAL) Truncate(before SegmentID) error {
	w.truncMu.Lock()
	defer w.truncMu.Unlock()
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	limit, open, next := before, w.openSeg, w.seg
	w.mu.Unlock()
	if before > next {
		return fmt.Errorf("wal: truncate before %d: beyond current segment %d", before, next)
	}
	if open != 0 && open < limit {
		limit = open
	}
	segs, err := listSegments(w.fs, w.dir)
	if err != nil {
		return fmt.Errorf("wal: truncate: %w", err)
	}
	removed := 0
	// Ascending, so a crash midway leaves a contiguous suffix.
	for _, s := range segs {
		if s.id >= limit {
			break
		}
		if err := w.fs.Remove(segmentPath(w.dir, s.id)); err != nil {
			return fmt.Errorf("wal: truncate segment %d: %w", s.id, err)
		}
		w.size.Add(-s.size)
		removed++
	}
	if removed == 0 {
		return nil
	}
	if err := w.fs.SyncDir(w.dir); err != nil {
		return fmt.Errorf("wal: truncate: %w", err)
	}
	return nil
}

// Size returns the bytes the WAL occupies on disk.
func (w *WAL) Size() int64 { return w.size.Load() }

// Close writes and fsyncs what is queued and closes the WAL. It is safe to
// call more than once; later calls return nil. A write that failed earlier
// was reported to its appenders and is not Close's error.
func (w *WAL) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.quit)
	<-w.done

	// The writer has exited; Close owns the file now.
	var err error
	if w.f != nil {
		if w.dirty {
			if serr := w.syncFile(); serr != nil {
				err = serr
			}
		}
		if cerr := w.f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("wal: close segment %d: %w", w.fseg, cerr)
		}
		w.f = nil
	}
	return err
}

func (w *WAL) usableLocked() error {
	switch {
	case w.closed:
		return ErrClosed
	case !w.replayed:
		return ErrNotReplayed
	}
	return nil
}

// Err returns the last write or fsync failure, or nil if the WAL can write:
// nil again once a write, or the WAL's own retry, succeeds. For readiness.
func (w *WAL) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writeErr
}

// Failures returns how many writes, fsyncs or segment creations failed.
func (w *WAL) Failures() int64 { return w.failures.Load() }

// queueLocked returns the buffer that collects records for seg in the
// current batch.
func (w *WAL) queueLocked(seg SegmentID) *[]byte {
	b := w.cur
	if k := len(b.parts); k > 0 && b.parts[k-1].seg == seg {
		return &b.parts[k-1].buf
	}
	var buf []byte
	if k := len(w.free); k > 0 {
		buf, w.free = w.free[k-1], w.free[:k-1]
	}
	b.parts = append(b.parts, part{seg: seg, buf: buf})
	return &b.parts[len(b.parts)-1].buf
}

func (w *WAL) kick() {
	select {
	case w.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// run is the writer goroutine.
func (w *WAL) run() {
	defer close(w.done)
	var tick <-chan time.Time // nil unless SyncInterval: never fires
	if w.opts.Sync == SyncInterval {
		t := time.NewTicker(w.opts.SyncInterval)
		defer t.Stop()
		tick = t.C
	}
	retry := time.NewTicker(w.opts.RetryInterval)
	defer retry.Stop()
	for {
		select {
		case <-w.wake:
			w.flush()
		case <-tick:
			if w.dirty && w.f != nil {
				if err := w.syncFile(); err != nil {
					// Records acknowledged since the last good fsync may be
					// lost; they cannot be taken back, so nothing is cut.
					w.log.Error("wal: periodic fsync failed; records acknowledged since the last fsync may be lost",
						"segment", w.fseg, "err", err)
					w.abandon(w.fsize, err)
				}
			}
		case <-retry.C:
			w.probe()
		case <-w.quit:
			// Appends are refused once closed is set, so this batch is
			// the last one.
			w.flush()
			return
		}
	}
}

// flush writes the pending batch and wakes its waiters.
func (w *WAL) flush() {
	w.mu.Lock()
	b := w.cur
	if len(b.parts) == 0 {
		w.mu.Unlock()
		return
	}
	w.cur = &batch{done: make(chan struct{}), parts: w.spare}
	w.spare = nil
	dropped, lastErr := w.dropped, w.writeErr
	w.mu.Unlock()

	var err error
	for _, p := range b.parts {
		if p.seg <= dropped && len(p.buf) > 0 {
			// Queued for a segment given up after a failure: fail the
			// batch before writing any of it; the appenders retry.
			err = fmt.Errorf("wal: segment %d was abandoned after a write failure: %w", p.seg, lastErr)
			break
		}
	}
	if err == nil {
		err = w.writeBatch(b)
		w.batches.Add(1)
		if err != nil {
			w.abandon(w.fgood, err)
		} else {
			w.fgood = w.fsize
		}
	}
	w.mu.Lock()
	if err == nil && w.writeErr != nil {
		w.log.Info("wal: writing again after a failure", "segment", w.fseg)
		w.writeErr = nil
	}
	w.mu.Unlock()
	b.err = err
	close(b.done)

	w.mu.Lock()
	// Waiters only read b.err, so the parts and their buffers can be reused.
	for i, p := range b.parts {
		if p.buf != nil && cap(p.buf) <= maxFreeBuf && len(w.free) < maxFreeBufs {
			w.free = append(w.free, p.buf[:0])
		}
		b.parts[i] = part{}
	}
	w.spare = b.parts[:0]
	w.mu.Unlock()
}

// abandon gives up the open segment after a failed write or fsync: the
// file is cut back to keep (the end of its last good batch, so a failed
// batch leaves neither a torn tail nor unacknowledged records), fsynced
// if possible and closed, and new records go to a fresh segment. Nothing
// is sticky: the next batch, or probe, tries again.
//
// A fresh file rather than the old one: after a failed fsync the kernel may
// already have dropped the dirty pages and cleared the error, so a later
// fsync of the same file could succeed without the data.
func (w *WAL) abandon(keep int64, err error) {
	w.failures.Add(1)
	seg := w.fseg
	if w.f != nil {
		if keep < w.fsize {
			if terr := w.f.Truncate(keep); terr != nil {
				// The failed batch may come back on replay: duplicates
				// of spans the client retries, never a loss.
				w.log.Warn("wal: cannot cut a failed batch off its segment", "segment", seg, "err", terr)
			} else {
				w.size.Add(keep - w.fsize)
				_ = w.f.Sync()
			}
		}
		_ = w.f.Close()
		w.f, w.dirty = nil, false
	}
	w.mu.Lock()
	if w.writeErr == nil {
		// Logged once per outage, not per retry.
		w.log.Error("wal: write failed; appends fail until a fresh segment can be written", "segment", seg, "err", err)
	}
	w.writeErr = err
	if seg > w.dropped {
		w.dropped = seg
	}
	if w.seg <= seg {
		w.seg = seg + 1
		w.segSize = headerSize
	}
	w.openSeg = 0
	w.mu.Unlock()
}

// probe runs in the writer while it has no file after a failure: it opens
// the segment new records go to, so the WAL becomes healthy as soon as the
// disk takes writes again, traffic or not.
func (w *WAL) probe() {
	w.mu.Lock()
	failed, id := w.writeErr != nil, w.seg
	w.mu.Unlock()
	if !failed || w.f != nil {
		return
	}
	if err := w.rotate(id); err != nil {
		w.abandon(0, err) // gives id up, so the next try uses a fresh name
		return
	}
	w.fgood = w.fsize
	w.mu.Lock()
	w.writeErr = nil
	w.mu.Unlock()
	w.log.Info("wal: writing again after a failure", "segment", id)
}

func (w *WAL) writeBatch(b *batch) error {
	if w.testHookWrite != nil {
		w.testHookWrite()
	}
	for _, p := range b.parts {
		if p.seg != w.fseg {
			if err := w.rotate(p.seg); err != nil {
				return err
			}
		}
		if len(p.buf) == 0 {
			continue
		}
		// A short write is cut back off by abandon.
		n, err := w.f.Write(p.buf)
		w.fsize += int64(n)
		w.size.Add(int64(n))
		if err != nil {
			return fmt.Errorf("wal: write segment %d: %w", p.seg, err)
		}
		w.dirty = true
	}
	if w.opts.Sync == SyncAlways && w.dirty {
		return w.syncFile()
	}
	return nil
}

// rotate closes the open segment and creates segment id. If the old
// segment fails to close, w.f stays set for abandon to cut back; if the
// new one cannot be created, it is removed again and w.fseg names it so
// that abandon gives its ID up.
func (w *WAL) rotate(id SegmentID) error {
	if w.f != nil {
		if w.dirty && w.opts.Sync != SyncNever {
			if err := w.syncFile(); err != nil {
				return err
			}
		}
		if err := w.f.Close(); err != nil {
			w.f = nil
			return fmt.Errorf("wal: close segment %d: %w", w.fseg, err)
		}
		w.f = nil
	}
	w.fseg = id
	path := segmentPath(w.dir, id)
	f, err := w.fs.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("wal: create segment %d: %w", id, err)
	}
	var h [headerSize]byte
	encodeHeader(&h)
	_, err = f.Write(h[:])
	if err == nil && w.opts.Sync != SyncNever {
		// An empty segment must be durable before records land in it;
		// this is also where a full disk shows before any record is risked.
		err = f.Sync()
	}
	if err == nil {
		err = w.fs.SyncDir(w.dir)
	}
	if err != nil {
		_ = f.Close()
		_ = w.fs.Remove(path)
		return fmt.Errorf("wal: create segment %d: %w", id, err)
	}
	w.f, w.dirty, w.fsize, w.fgood = f, false, headerSize, headerSize
	w.size.Add(headerSize)
	w.mu.Lock()
	w.openSeg = id
	w.mu.Unlock()
	return nil
}

func (w *WAL) syncFile() error {
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("wal: fsync segment %d: %w", w.fseg, err)
	}
	w.dirty = false
	w.syncs.Add(1)
	return nil
}
