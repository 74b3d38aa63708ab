package wal

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// CorruptionError describes damage found in a segment: a torn or corrupt
// record or header. Offset is where the damaged record (or, for a bad
// header, the file) starts; everything before it is intact.
type CorruptionError struct {
	Segment SegmentID
	Offset  int64
	Err     error
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("wal: corruption in segment %d at offset %d: %v", e.Segment, e.Offset, e.Err)
}

func (e *CorruptionError) Unwrap() error { return e.Err }

// ReplayStats summarises a Replay.
type ReplayStats struct {
	Segments int   // segments read (the damaged one included if it kept any record)
	Records  int64 // records handed to fn
	Bytes    int64 // payload bytes handed to fn
	// Corruption is the damage found and repaired, nil if the log was
	// clean. Replay stops at the first damage, so there is at most one.
	Corruption      *CorruptionError
	DroppedBytes    int64 // bytes removed by the repair
	DroppedSegments int   // whole segment files removed by the repair
}

// Replay calls fn for every record in the log, oldest first, with the
// segment it is in. rec is only valid during the call; fn may be nil to
// only check and repair. Call it once, after Open and before Append; if it
// returns an error it may be called again.
//
// At the first torn or corrupt record Replay repairs the log: later
// segments are deleted and the damaged segment is truncated to its last
// good record (deleted if its header is bad). The repair is logged and
// reported in ReplayStats.Corruption; it is not an error, so a damaged
// tail never blocks start-up. Errors are I/O failures, an unknown format
// version, ctx ending, or an error from fn (wrapped).
//
// Deleting the later segments, rather than skipping the damage, mirrors
// Prometheus: damage before the tail means the disk lost fsynced data,
// and a log with a hole in it is harder to reason about than a shorter one.
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
		next = segs[0].id
	}
	for i, s := range segs {
		if i > 0 && s.id != segs[i-1].id+1 {
			w.log.Warn("wal: segments missing", "dir", w.dir, "after", segs[i-1].id, "before", s.id)
		}
		corrupt, err := r.replay(ctx, w.dir, s.id, fn, &st)
		if err != nil {
			return st, err
		}
		if corrupt == nil {
			st.Segments++
			next = s.id + 1
			continue
		}
		if err := w.repair(segs[i:], corrupt, &st); err != nil {
			return st, err
		}
		st.Corruption = corrupt
		next = s.id
		if corrupt.Offset > headerSize {
			st.Segments++
			next = s.id + 1
		}
		w.log.Warn("wal: repaired corrupt tail",
			"dir", w.dir, "segment", corrupt.Segment, "offset", corrupt.Offset, "err", corrupt.Err,
			"dropped_bytes", st.DroppedBytes, "dropped_segments", st.DroppedSegments)
		break
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

// repair deletes segs[1:] and truncates segs[0] at the damage. Later
// segments go first, so a crash during repair leaves the damage in place
// for the next Replay to find again rather than a hole.
func (w *WAL) repair(segs []segmentInfo, c *CorruptionError, st *ReplayStats) error {
	for j := len(segs) - 1; j >= 1; j-- {
		if err := os.Remove(segmentPath(w.dir, segs[j].id)); err != nil {
			return fmt.Errorf("wal: repair: delete segment %d: %w", segs[j].id, err)
		}
		w.size.Add(-segs[j].size)
		st.DroppedBytes += segs[j].size
		st.DroppedSegments++
	}
	first := segs[0]
	path := segmentPath(w.dir, first.id)
	if c.Offset < headerSize {
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("wal: repair: delete segment %d: %w", first.id, err)
		}
		w.size.Add(-first.size)
		st.DroppedBytes += first.size
		st.DroppedSegments++
	} else {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("wal: repair: %w", err)
		}
		err = f.Truncate(c.Offset)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("wal: repair: truncate segment %d: %w", first.id, err)
		}
		w.size.Add(c.Offset - first.size)
		st.DroppedBytes += first.size - c.Offset
	}
	if err := syncDir(w.dir); err != nil {
		return fmt.Errorf("wal: repair: %w", err)
	}
	return nil
}

// segmentReader reads segments with one read buffer and one record buffer
// reused across records and segments.
type segmentReader struct {
	br  *bufio.Reader
	rec []byte
}

// replay reads one segment. Damage is returned as a CorruptionError (and a
// nil error); the error is for everything that must stop start-up.
func (r *segmentReader) replay(ctx context.Context, dir string, id SegmentID,
	fn func(SegmentID, []byte) error, st *ReplayStats) (*CorruptionError, error) {
	f, err := os.Open(segmentPath(dir, id))
	if err != nil {
		return nil, fmt.Errorf("wal: replay: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("wal: replay: %w", err)
	}
	size := fi.Size()
	r.br.Reset(f)
	corrupt := func(off int64, err error) (*CorruptionError, error) {
		return &CorruptionError{Segment: id, Offset: off, Err: err}, nil
	}

	var h [headerSize]byte
	n, err := io.ReadFull(r.br, h[:])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("wal: replay segment %d: %w", id, err)
	}
	bad, err := checkHeader(h[:n])
	if err != nil {
		return nil, fmt.Errorf("wal: replay segment %d: %w", id, err)
	}
	if bad != nil {
		return corrupt(0, bad)
	}

	off := int64(headerSize)
	var fh [frameSize]byte
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("wal: replay: %w", err)
		}
		n, err := io.ReadFull(r.br, fh[:])
		switch {
		case n == 0 && errors.Is(err, io.EOF):
			return nil, nil // clean end
		case errors.Is(err, io.ErrUnexpectedEOF):
			return corrupt(off, errTorn)
		case err != nil:
			return nil, fmt.Errorf("wal: replay segment %d: %w", id, err)
		}
		length := binary.LittleEndian.Uint32(fh[0:4])
		if length > MaxRecordSize {
			return corrupt(off, errBadLength)
		}
		if off+frameSize+int64(length) > size {
			// Either torn or a corrupt length; both end the log here.
			// Checked before allocating so garbage cannot cost memory.
			return corrupt(off, errTorn)
		}
		if cap(r.rec) < int(length) {
			r.rec = make([]byte, length)
		}
		rec := r.rec[:length]
		if _, err := io.ReadFull(r.br, rec); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return corrupt(off, errTorn)
			}
			return nil, fmt.Errorf("wal: replay segment %d: %w", id, err)
		}
		if recordCRC(length, rec) != binary.LittleEndian.Uint32(fh[4:8]) {
			return corrupt(off, errChecksum)
		}
		if fn != nil {
			if err := fn(id, rec); err != nil {
				return nil, fmt.Errorf("wal: replay segment %d offset %d: %w", id, off, err)
			}
		}
		st.Records++
		st.Bytes += int64(length)
		off += frameSize + int64(length)
	}
}
