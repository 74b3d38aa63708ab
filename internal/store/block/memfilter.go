package block

import (
	"encoding/binary"
	"math/bits"
	"slices"

	"github.com/FastFilter/xorfilter"
)

// memFilter is a filter a block keeps in memory while it is open: its
// key=value filter (index.values) and its trace-ID filter. Every search and
// every trace by ID asks it of every block in its time window (500 blocks
// at 100 M stored spans), so what a block costs a query that it cannot
// answer is one probe of it, and each false positive is IO — filters.bin
// reads for a value, a traces.bin read for a trace — on a block that holds
// nothing.
//
// Since v10 it is a binary fuse filter with 16-bit fingerprints
// (FastFilter/xorfilter, the reference implementation; Graf and Lemire,
// "Binary Fuse Filters", 2022): ~0.0015 % false positives for ~19 bits a
// value, where the 512-bit blocked Bloom filter of v7–v9 gives ~0.18 % for
// 14 bits. A probe is three independent loads, which the CPU overlaps, and
// measured cheaper than the blocked filter's one cache line and nine bit
// tests (docs/format-block.md, "Why binary fuse filters (v10)").
//
// A v7–v9 block has the blocked filter; a v10 block has it too when the
// fuse filter could not be built (its construction is randomised and may in
// principle fail; the library retries far beyond any real chance of that).
type memFilter struct {
	fuse    xorfilter.BinaryFuse[uint16] // v10: no fingerprints when absent
	blocked blockedFilter                // v7–v9, or v10's fallback
}

// Kinds of memFilter in index.bin (v10).
const (
	memFilterBlocked = 1 // k byte, blocks uvarint, the 64-byte blocks
	memFilterFuse16  = 2 // seed u64, segment length uvarint, segment count uvarint, fingerprints u16 LE
)

// Bounds the decoder holds a fuse filter to, so a corrupt index.bin can
// neither allocate without bound nor make a probe index outside the
// fingerprints: the library's probe reads up to segment count + 2 segments.
const (
	maxFuseSegmentLength = 1 << 18 // the library's own cap
	maxFuseFingerprints  = 1 << 28
)

// newMemFilter builds a filter of hashes (duplicates allowed; the slice is
// sorted in place): a fuse filter, or if that fails a blocked one with the
// given size, k and seed.
func newMemFilter(hashes []uint64, bitsPerValue int, k uint8, seed uint64) memFilter {
	slices.Sort(hashes)
	hashes = slices.Compact(hashes)
	fuse, err := xorfilter.NewBinaryFuse[uint16](hashes)
	if err == nil {
		return memFilter{fuse: *fuse}
	}
	return memFilter{blocked: newBlockedFilter(hashes, bitsPerValue, k, seed)}
}

// present is false for a filter a block does not have (v2–v6 values).
func (f *memFilter) present() bool {
	return len(f.fuse.Fingerprints) > 0 || f.blocked.data != nil
}

// mayContain is false only if the hash was certainly not added.
func (f *memFilter) mayContain(h uint64) bool {
	if len(f.fuse.Fingerprints) > 0 {
		return f.fuse.Contains(h)
	}
	return f.blocked.mayContain(h)
}

// memFilter appends a v10 filter: its kind byte, then the filter.
func (e *encoder) memFilter(f memFilter) {
	if len(f.fuse.Fingerprints) == 0 {
		e.b = append(e.b, memFilterBlocked)
		e.blockedFilter(f.blocked)
		return
	}
	e.b = append(e.b, memFilterFuse16)
	e.b = binary.LittleEndian.AppendUint64(e.b, f.fuse.Seed)
	e.uvarint(uint64(f.fuse.SegmentLength))
	e.uvarint(uint64(f.fuse.SegmentCount))
	for _, fp := range f.fuse.Fingerprints {
		e.b = binary.LittleEndian.AppendUint16(e.b, fp)
	}
}

// memFilter reads what encoder.memFilter wrote (seed: the blocked filter's
// role). The fuse filter's fields are checked against each other, so that
// every probe lands inside its fingerprints.
func (d *decoder) memFilter(what string, seed uint64) memFilter {
	kind := d.bytes(what+" kind", 1)
	if d.err != nil {
		return memFilter{}
	}
	switch kind[0] {
	case memFilterBlocked:
		return memFilter{blocked: d.blockedFilter(what, seed)}
	case memFilterFuse16:
	default:
		d.fail(what + " kind")
		return memFilter{}
	}
	var f xorfilter.BinaryFuse[uint16]
	if b := d.bytes(what+" seed", 8); b != nil {
		f.Seed = binary.LittleEndian.Uint64(b)
	}
	segLen := d.uvarint(what + " segment length")
	segCount := d.uvarint(what + " segment count")
	if d.err != nil {
		return memFilter{}
	}
	if segLen == 0 || segLen > maxFuseSegmentLength || bits.OnesCount64(segLen) != 1 ||
		segCount == 0 || segCount > maxFuseFingerprints/segLen-2 {
		d.fail(what + " shape")
		return memFilter{}
	}
	n := int((segCount + 2) * segLen)
	raw := d.bytes(what, 2*n)
	if d.err != nil {
		return memFilter{}
	}
	f.SegmentLength = uint32(segLen)
	f.SegmentLengthMask = uint32(segLen - 1)
	f.SegmentCount = uint32(segCount)
	f.SegmentCountLength = uint32(segCount * segLen)
	f.Fingerprints = make([]uint16, n)
	for i := range f.Fingerprints {
		f.Fingerprints[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	return memFilter{fuse: f}
}
