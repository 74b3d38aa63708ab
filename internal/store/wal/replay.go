package wal

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// CorruptionError describes one damaged byte range of a segment: a torn or
// corrupt record or header at Offset, and everything up to End, where the
// next intact record (or the end of the file) starts. Err says what was
// wrong at Offset. Replay moves the range to Quarantine and keeps the
// records on either side of it.
type CorruptionError struct {
	Segment    SegmentID
	Offset     int64
	End        int64
	Err        error
	Quarantine string // file that holds the damaged bytes; "" if none were saved
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("wal: corruption in segment %d at bytes [%d, %d): %v", e.Segment, e.Offset, e.End, e.Err)
}

func (e *CorruptionError) Unwrap() error { return e.Err }

// ReplayStats summarises a Replay.
type ReplayStats struct {
	Segments int   // segments that still hold records
	Records  int64 // records handed to fn
	Bytes    int64 // payload bytes handed to fn
	// Damage lists every damaged range found, in log order; nil if the
	// log was clean. Each was moved to the quarantine directory and cut
	// out of its segment; the records around it were kept.
	Damage          []*CorruptionError
	DroppedBytes    int64 // bytes cut out of the log (and quarantined)
	DroppedSegments int   // whole segment files removed because nothing in them was intact
}

// Replay calls fn for every intact record in the log, oldest first, with
// the segment it is in. rec is only valid during the call; fn may be nil to
// only check and repair. Call it once, after Open and before Append; if it
// returns an error it may be called again.
//
// Damage loses only what is damaged. A torn or corrupt record (bad length,
// checksum mismatch, cut short) is skipped: Replay resynchronises on the
// next offset where an intact record starts (a length that fits and a
// matching CRC-32C), or on the next segment. A bad magic number only costs
// the header. The damaged bytes are copied to Options.QuarantineDir, then
// cut out of the segment (truncated if they are its tail, otherwise the
// segment is rewritten without them via a temporary file and a rename), and
// each range is logged with its segment, offsets and quarantine file. A
// second Replay finds a clean log. Repairs are not errors and never block
// start-up. Errors are I/O failures, an unknown format version, ctx ending,
// or an error from fn (wrapped).
//
// Unlike Prometheus, which drops everything after the first damage, Clew's
// records are independent span batches: a record after a hole is as good
// as one before it, and dropping it would turn one flipped byte into the
// loss of the whole log.
func (w *WAL) Replay(ctx context.Context, fn func(seg SegmentID, rec []byte) error) (ReplayStats, error) {
	w.replayMu.Lock()
	defer w.replayMu.Unlock()
	w.mu.Lock()
	switch {
	case w.closed:
		w.mu.Unlock()
		return ReplayStats{}, ErrClosed
	case w.replayed:
		w.mu.Unlock()
		return ReplayStats{}, errReplayDone
	}
	segs := w.onDisk
	w.mu.Unlock()

	var st ReplayStats
	r := &segmentReader{br: bufio.NewReaderSize(nil, 1<<20)}
	next := SegmentID(1)
	if len(segs) > 0 {
		next = segs[len(segs)-1].id + 1
	}
	for i, s := range segs {
		if i > 0 && s.id != segs[i-1].id+1 {
			w.log.Warn("wal: segments missing", "dir", w.dir, "after", segs[i-1].id, "before", s.id)
		}
		res, err := r.replay(ctx, w.fs, w.dir, s.id, fn, &st)
		if err != nil {
			return st, err
		}
		if len(res.damage) == 0 {
			st.Segments++
			continue
		}
		kept, err := w.repair(s, res, &st)
		if err != nil {
			return st, err
		}
		if kept {
			st.Segments++
		}
	}
	w.log.Info("wal: replayed", "dir", w.dir, "segments", st.Segments, "records", st.Records, "bytes", st.Bytes)

	w.mu.Lock()
	w.replayed = true
	w.onDisk = nil
	w.seg = next
	w.segSize = headerSize
	w.mu.Unlock()
	return st, nil
}

// segmentResult is what reading one segment found.
type segmentResult struct {
	size       int64
	headerOK   bool
	records    int                // intact records
	damage     []*CorruptionError // damaged ranges, in file order
	goodRanges [][2]int64         // intact record bytes, in file order
}

// repair quarantines the damaged ranges of segment s and cuts them out of
// it. It reports whether the segment still exists. The quarantine copies
// are made durable before the segment changes, so a crash midway leaves
// the damage in place for the next Replay to find (and quarantine under
// the same names) again.
func (w *WAL) repair(s segmentInfo, res segmentResult, st *ReplayStats) (bool, error) {
	path := segmentPath(w.dir, s.id)
	saved := false
	for _, d := range res.damage {
		if d.End == d.Offset {
			continue // an empty file: nothing to keep
		}
		q, err := w.quarantine(path, s.id, d.Offset, d.End)
		if err != nil {
			// Not saving a copy must not stop start-up; say so loudly.
			w.log.Error("wal: cannot save damaged bytes to quarantine; they are dropped", "segment", s.id,
				"offset", d.Offset, "end", d.End, "err", err)
		}
		d.Quarantine = q
		saved = saved || q != ""
	}
	if saved {
		if err := w.fs.SyncDir(w.opts.QuarantineDir); err != nil {
			return false, fmt.Errorf("wal: repair: %w", err)
		}
	}
	for _, d := range res.damage {
		st.Damage = append(st.Damage, d)
		w.log.Warn("wal: damaged bytes cut out of the log; the records in them are lost, the rest is kept",
			"dir", w.dir, "segment", d.Segment, "offset", d.Offset, "end", d.End, "bytes", d.End-d.Offset,
			"err", d.Err, "quarantine", d.Quarantine)
	}

	last := res.damage[len(res.damage)-1]
	newSize := int64(headerSize)
	for _, r := range res.goodRanges {
		newSize += r[1] - r[0]
	}
	switch {
	case res.records == 0:
		// Nothing intact: the whole file goes (its bytes are quarantined).
		if err := w.fs.Remove(path); err != nil {
			return false, fmt.Errorf("wal: repair: delete segment %d: %w", s.id, err)
		}
		w.size.Add(-res.size)
		st.DroppedBytes += res.size
		st.DroppedSegments++
		if err := w.fs.SyncDir(w.dir); err != nil {
			return false, fmt.Errorf("wal: repair: %w", err)
		}
		return false, nil
	case len(res.damage) == 1 && res.headerOK && last.End == res.size:
		// The common case after a crash: a torn tail. Truncate.
		f, err := w.fs.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return false, fmt.Errorf("wal: repair: %w", err)
		}
		err = f.Truncate(last.Offset)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return false, fmt.Errorf("wal: repair: truncate segment %d: %w", s.id, err)
		}
	default:
		if err := w.rewrite(path, s.id, res.goodRanges); err != nil {
			return false, err
		}
	}
	w.size.Add(newSize - res.size)
	st.DroppedBytes += res.size - newSize
	return true, nil
}

// quarantine copies bytes [from, to) of a segment to a file in the
// quarantine directory, named after the segment and the range so that
// doing it twice overwrites rather than duplicates.
func (w *WAL) quarantine(path string, id SegmentID, from, to int64) (string, error) {
	if err := w.fs.MkdirAll(w.opts.QuarantineDir, 0o755); err != nil {
		return "", err
	}
	src, err := w.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return "", err
	}
	defer src.Close()
	name := filepath.Join(w.opts.QuarantineDir, fmt.Sprintf("%s.%d-%d.damaged", segmentName(id), from, to))
	dst, err := w.fs.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(dst, io.NewSectionReader(src, from, to-from))
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	return name, nil
}

// rewrite replaces a segment by a fresh header followed by its intact
// record bytes: written to a temporary name, fsynced, renamed over the
// segment and made durable with a directory fsync.
func (w *WAL) rewrite(path string, id SegmentID, keep [][2]int64) error {
	tmp := path + ".tmp"
	src, err := w.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("wal: repair: %w", err)
	}
	defer src.Close()
	dst, err := w.fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("wal: repair: %w", err)
	}
	var h [headerSize]byte
	encodeHeader(&h)
	_, err = dst.Write(h[:])
	for _, r := range keep {
		if err != nil {
			break
		}
		_, err = io.Copy(dst, io.NewSectionReader(src, r[0], r[1]-r[0]))
	}
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = w.fs.Rename(tmp, path)
	}
	if err == nil {
		err = w.fs.SyncDir(w.dir)
	}
	if err != nil {
		_ = w.fs.Remove(tmp)
		return fmt.Errorf("wal: repair: rewrite segment %d: %w", id, err)
	}
	return nil
}

// segmentReader reads segments with one read buffer and one record buffer
// reused across records and segments.
type segmentReader struct {
	br  *bufio.Reader
	rec []byte
	win []byte // resynchronisation window
}

// replay reads one segment, handing intact records to fn and collecting
// damaged ranges. The error is for everything that must stop start-up.
func (r *segmentReader) replay(ctx context.Context, fsys FS, dir string, id SegmentID,
	fn func(SegmentID, []byte) error, st *ReplayStats) (segmentResult, error) {
	var res segmentResult
	f, err := fsys.OpenFile(segmentPath(dir, id), os.O_RDONLY, 0)
	if err != nil {
		return res, fmt.Errorf("wal: replay: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return res, fmt.Errorf("wal: replay: %w", err)
	}
	size := fi.Size()
	res.size = size
	damaged := func(from, to int64, err error) {
		res.damage = append(res.damage, &CorruptionError{Segment: id, Offset: from, End: to, Err: err})
	}

	var h [headerSize]byte
	n, err := f.ReadAt(h[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return res, fmt.Errorf("wal: replay segment %d: %w", id, err)
	}
	bad, err := checkHeader(h[:n])
	if err != nil {
		return res, fmt.Errorf("wal: replay segment %d: %w", id, err)
	}
	off := int64(headerSize)
	switch {
	case bad == errShortHead:
		damaged(0, size, bad)
		return res, nil
	case bad != nil:
		// A damaged magic costs only the header: look for records after it.
		next, err := r.resync(ctx, f, headerSize, size)
		if err != nil {
			return res, err
		}
		damaged(0, next, bad)
		off = next
	default:
		res.headerOK = true
	}

	r.br.Reset(io.NewSectionReader(f, off, size-off))
	var fh [frameSize]byte
	for off < size {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("wal: replay: %w", err)
		}
		var bad error
		n, err := io.ReadFull(r.br, fh[:])
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF):
			bad = errTorn
		case err != nil:
			return res, fmt.Errorf("wal: replay segment %d: %w", id, err)
		}
		_ = n
		var length uint32
		if bad == nil {
			length = binary.LittleEndian.Uint32(fh[0:4])
			switch {
			case length > MaxRecordSize:
				bad = errBadLength
			case off+frameSize+int64(length) > size:
				// Torn or a corrupt length. Checked before allocating
				// so garbage cannot cost memory.
				bad = errTorn
			}
		}
		if bad == nil {
			if cap(r.rec) < int(length) {
				r.rec = make([]byte, length)
			}
			rec := r.rec[:length]
			if _, err := io.ReadFull(r.br, rec); err != nil {
				return res, fmt.Errorf("wal: replay segment %d: %w", id, err)
			}
			if recordCRC(length, rec) != binary.LittleEndian.Uint32(fh[4:8]) {
				bad = errChecksum
			} else {
				if fn != nil {
					if err := fn(id, rec); err != nil {
						return res, fmt.Errorf("wal: replay segment %d offset %d: %w", id, off, err)
					}
				}
				st.Records++
				st.Bytes += int64(length)
				end := off + frameSize + int64(length)
				if k := len(res.goodRanges); k > 0 && res.goodRanges[k-1][1] == off {
					res.goodRanges[k-1][1] = end
				} else {
					res.goodRanges = append(res.goodRanges, [2]int64{off, end})
				}
				res.records++
				off = end
				continue
			}
		}
		next, err := r.resync(ctx, f, off+1, size)
		if err != nil {
			return res, err
		}
		damaged(off, next, bad)
		off = next
		r.br.Reset(io.NewSectionReader(f, off, size-off))
	}
	return res, nil
}

// resyncWindow is how much of a segment resync looks at per read.
const resyncWindow = 64 << 10

// resync returns the first offset at or after from where an intact record
// starts, or size if there is none. An offset qualifies if the length there
// fits in the segment and the CRC-32C over length and payload matches, the
// same test a normal read applies; a false match needs a 32-bit checksum
// collision. The CRC work is bounded by a budget proportional to the
// segment size, so garbage full of plausible lengths cannot stall
// start-up; past it the rest of the segment counts as damaged.
func (r *segmentReader) resync(ctx context.Context, f File, from, size int64) (int64, error) {
	budget := 4*size + 64<<20
	if cap(r.win) < resyncWindow+frameSize {
		r.win = make([]byte, resyncWindow+frameSize)
	}
	for base := from; base+frameSize <= size; base += resyncWindow {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("wal: replay: %w", err)
		}
		n, err := f.ReadAt(r.win[:min(int64(len(r.win)), size-base)], base)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("wal: replay: resync: %w", err)
		}
		win := r.win[:n]
		for i := 0; i < resyncWindow && i+frameSize <= len(win); i++ {
			p := base + int64(i)
			length := binary.LittleEndian.Uint32(win[i:])
			if length > MaxRecordSize || p+frameSize+int64(length) > size {
				continue
			}
			budget -= int64(length) + frameSize
			if budget < 0 {
				return size, nil
			}
			ok, err := intactAt(f, win[i:], p, length)
			if err != nil {
				return 0, err
			}
			if ok {
				return p, nil
			}
		}
	}
	return size, nil
}

// intactAt checks the CRC of the record at p whose frame starts win (which
// holds at least the frame and possibly part of the payload).
func intactAt(f File, win []byte, p int64, length uint32) (bool, error) {
	want := binary.LittleEndian.Uint32(win[4:8])
	if int(length) <= len(win)-frameSize {
		return recordCRC(length, win[frameSize:frameSize+int(length)]) == want, nil
	}
	crc := recordCRC(length, nil)
	var buf [32 << 10]byte
	for off, left := p+frameSize, int64(length); left > 0; {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), left)], off)
		if err != nil && !(errors.Is(err, io.EOF) && int64(n) == left) {
			return false, fmt.Errorf("wal: replay: resync: %w", err)
		}
		crc = crc32.Update(crc, castagnoli, buf[:n])
		off += int64(n)
		left -= int64(n)
	}
	return crc == want, nil
}
