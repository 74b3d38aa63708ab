package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const (
	// segmentMagic starts every segment file; it reads "CLWL" on disk.
	segmentMagic uint32 = 0x4C574C43
	// formatV1 is the only format so far. New versions only ever move
	// forward; a reader refuses versions it does not know instead of
	// mistaking them for corruption and "repairing" them away.
	formatV1 byte = 1

	headerSize = 8 // magic(4) version(1) reserved(3)
	frameSize  = 8 // len(4) crc(4)

	// MaxRecordSize is the largest payload Append accepts. It bounds the
	// memory Replay must allocate for one record, so a corrupt length can
	// never make start-up allocate gigabytes.
	MaxRecordSize = 256 << 20

	segmentExt = ".wal"
)

// castagnoli is read-only after initialisation.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SegmentID names a segment file. IDs start at 1 and increase by one.
type SegmentID uint64

func segmentName(id SegmentID) string {
	return fmt.Sprintf("%08d%s", uint64(id), segmentExt)
}

// parseSegmentName returns the ID of a segment file name, or false for any
// other file (editors' backups, the store's own files) which are ignored.
func parseSegmentName(name string) (SegmentID, bool) {
	base, ok := strings.CutSuffix(name, segmentExt)
	if !ok || len(base) < 8 {
		return 0, false
	}
	n, err := strconv.ParseUint(base, 10, 64)
	if err != nil || n == 0 {
		return 0, false
	}
	return SegmentID(n), true
}

type segmentInfo struct {
	id   SegmentID
	size int64
}

// listSegments returns the segments in dir in ascending ID order.
func listSegments(fsys FS, dir string) ([]segmentInfo, error) {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	var segs []segmentInfo
	for _, e := range entries {
		id, ok := parseSegmentName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("stat segment %d: %w", id, err)
		}
		segs = append(segs, segmentInfo{id: id, size: fi.Size()})
	}
	slices.SortFunc(segs, func(a, b segmentInfo) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	return segs, nil
}

func encodeHeader(b *[headerSize]byte) {
	binary.LittleEndian.PutUint32(b[0:4], segmentMagic)
	b[4] = formatV1
	b[5], b[6], b[7] = 0, 0, 0
}

var (
	errBadMagic   = errors.New("bad segment magic")
	errShortHead  = errors.New("segment header torn")
	errTorn       = errors.New("record torn")
	errBadLength  = errors.New("record length out of range")
	errChecksum   = errors.New("record checksum mismatch")
	errTooLarge   = errors.New("record larger than MaxRecordSize")
	errReplayDone = errors.New("wal: Replay already called")
)

// ErrClosed is returned by operations on a closed WAL.
var ErrClosed = errors.New("wal: closed")

// ErrNotReplayed is returned by Append and Cut before Replay completed.
// Appending first would put new records behind a tail that Replay might
// later decide is corrupt and delete.
var ErrNotReplayed = errors.New("wal: Replay must be called before Append or Cut")

// checkHeader validates a segment header. A wrong magic is corruption; an
// unknown version is not, it is a file from a newer Clew.
func checkHeader(b []byte) (corrupt, err error) {
	if len(b) < headerSize {
		return errShortHead, nil
	}
	if binary.LittleEndian.Uint32(b[0:4]) != segmentMagic {
		return errBadMagic, nil
	}
	if b[4] != formatV1 {
		return nil, fmt.Errorf("wal: unsupported segment format version %d (this build reads %d)", b[4], formatV1)
	}
	return nil, nil
}

// recordCRC is the checksum stored in a frame: CRC-32C over the four
// little-endian length bytes, then the payload. The length bytes are hashed
// by hand because passing a stack array to crc32.Update makes it escape,
// which would cost an allocation per Append.
func recordCRC(length uint32, payload []byte) uint32 {
	crc := ^uint32(0)
	for i := range 4 {
		crc = castagnoli[byte(crc)^byte(length>>(8*i))] ^ (crc >> 8)
	}
	return crc32.Update(^crc, castagnoli, payload)
}

func segmentPath(dir string, id SegmentID) string {
	return filepath.Join(dir, segmentName(id))
}
