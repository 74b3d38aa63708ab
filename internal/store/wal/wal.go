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

	size    atomic.Int64 // bytes on disk
	syncs   atomic.Int64 // fsyncs of segment files; for benchmarks
	batches atomic.Int64 // batches written; for benchmarks

	replayMu sync.Mutex // serialises Replay
	truncMu  sync.Mutex // serialises Truncate

	mu       sync.Mutex
	closed   bool
	replayed bool
	err      error         // sticky write/fsync failure
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
	dirty bool // written since the last fsync

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
// call more than once; later calls return nil. If a write or fsync failed
// earlier, Close returns that failure.
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
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil && w.err != nil {
		err = w.err
	}
	return err
}

func (w *WAL) usableLocked() error {
	switch {
	case w.closed:
		return ErrClosed
	case !w.replayed:
		return ErrNotReplayed
	case w.err != nil:
		return fmt.Errorf("wal: unusable after earlier failure: %w", w.err)
	}
	return nil
}

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
	for {
		select {
		case <-w.wake:
			w.flush()
		case <-tick:
			if w.dirty && w.f != nil {
				if err := w.syncFile(); err != nil {
					w.fail(err)
				}
			}
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
	err := w.err
	w.mu.Unlock()

	if err == nil {
		err = w.writeBatch(b)
		w.batches.Add(1)
	}
	b.err = err
	close(b.done)

	w.mu.Lock()
	if err != nil && w.err == nil {
		w.err = err
	}
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

func (w *WAL) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
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
		// A short write leaves a torn tail; the error is sticky and the
		// next Replay truncates it.
		if _, err := w.f.Write(p.buf); err != nil {
			return fmt.Errorf("wal: write segment %d: %w", p.seg, err)
		}
		w.size.Add(int64(len(p.buf)))
		w.dirty = true
	}
	if w.opts.Sync == SyncAlways && w.dirty {
		return w.syncFile()
	}
	return nil
}

// rotate closes the open segment and creates segment id.
func (w *WAL) rotate(id SegmentID) error {
	if w.f != nil {
		if w.dirty && w.opts.Sync != SyncNever {
			if err := w.syncFile(); err != nil {
				return err
			}
		}
		if err := w.f.Close(); err != nil {
			return fmt.Errorf("wal: close segment %d: %w", w.fseg, err)
		}
		w.f = nil
	}
	f, err := w.fs.OpenFile(segmentPath(w.dir, id), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("wal: create segment %d: %w", id, err)
	}
	var h [headerSize]byte
	encodeHeader(&h)
	if _, err := f.Write(h[:]); err != nil {
		_ = f.Close()
		return fmt.Errorf("wal: write header of segment %d: %w", id, err)
	}
	if err := w.fs.SyncDir(w.dir); err != nil {
		_ = f.Close()
		return fmt.Errorf("wal: create segment %d: %w", id, err)
	}
	w.f, w.fseg, w.dirty = f, id, true
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
