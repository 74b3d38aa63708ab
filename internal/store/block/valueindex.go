package block

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// valueFilter is a bloom filter over the attribute key=value pairs of one row
// group (span, event and link attributes — link attributes only in blocks
// whose meta says FilterLinks; resource and scope attributes are in the
// block's resource and scope tables). A search for a value that is rare — a user ID, a session
// ID, a URL — skips every row group whose filter rules the pair out without
// reading any column, so its cost grows with the row groups that may hold the
// value, not with the data stored. It holds every pair, whatever the key's
// cardinality: the filter's size grows with the distinct pairs (about 1.2
// bytes each at a 1 % false-positive rate), which the block format budgets
// for.
//
// Layout in index.bin (format v2): k byte, nWords uvarint, words as uint64 LE.
// Bit positions are h1 + i*h2 (mod bits) for i < k, from the pair's 64-bit
// hash (Kirsch–Mitzenmacher double hashing).
//
// Since v7 a row group has no filter in memory: the block has one over
// all its row groups' pairs (index.values, built by newBlockValueFilter: a
// blocked Bloom filter in v7–v9, a binary fuse filter since v10), and each
// row group's is in filters.bin. A search for a rare value then probes each
// block once instead of each row group — 500 probes at 100 M stored spans
// instead of 3,500 cache misses of seven each.
type valueFilter struct {
	k     uint8
	words []uint64
}

const (
	// 10 bits and k = 7 per distinct pair: ~0.8 % false positives for
	// the v2–v6 row-group filter (written now only by tests of those).
	filterBitsPerValue = 10
	filterK            = 7
	// The v7–v9 block filter (blocked), and v10's when the fuse filter
	// cannot be built (memFilter): 14 bits and k = 9 per distinct pair
	// since the blocks written after 2026-12-01, ~0.2 % false positives
	// (10 and 7 before: 1.65 % measured on clewbench data). Readers take k
	// and the size from each filter. A false positive costs a 64-byte read
	// of filters.bin per row group and, when one of those lets the pair
	// through too, a row group's scan; at 100 M spans a value no span
	// holds met ~8 such blocks a query with 10 bits, and the 4 more bits
	// cost ~0.4 byte a span, held in memory for every open block.
	blockFilterBitsPerValue = 14
	blockFilterK            = 9
	maxFilterWords          = 1 << 24 // 128 MiB of filter: far beyond any real row group; a corrupt count is refused
)

// pairHash is the stable hash of one key=value pair (value as its
// Value.String() text, as search compares it).
func pairHash(key, value string) uint64 {
	h := xxhash.Sum64String(key)
	return bits.RotateLeft64(h, 31)*0x9E3779B97F4A7C15 ^ xxhash.Sum64String(value)
}

// newBlockValueFilter builds a block's key=value filter (index.values) of
// hashes (duplicates allowed; the slice is sorted in place).
func newBlockValueFilter(hashes []uint64) memFilter {
	return newMemFilter(hashes, blockFilterBitsPerValue, blockFilterK, seedRowGroup)
}

// newValueFilter builds a row group's filter as v2–v6 blocks have it (for
// tests of the reading of those).
func newValueFilter(hashes []uint64) valueFilter {
	slices.Sort(hashes)
	hashes = slices.Compact(hashes)
	nbits := max(64, len(hashes)*filterBitsPerValue)
	f := valueFilter{k: filterK, words: make([]uint64, (nbits+63)/64)}
	for _, h := range hashes {
		f.add(h)
	}
	return f
}

func (f *valueFilter) positions(h uint64, fn func(bit uint64) bool) bool {
	m := uint64(len(f.words)) * 64
	h1, h2 := h, h>>32|h<<32|1
	for i := range uint64(f.k) {
		if !fn((h1 + i*h2) % m) {
			return false
		}
	}
	return true
}

func (f *valueFilter) add(h uint64) {
	f.positions(h, func(b uint64) bool { f.words[b/64] |= 1 << (b % 64); return true })
}

// mayContain is false only if the pair is certainly absent. A filter with
// no words (blocks written before format v2) may contain anything.
func (f *valueFilter) mayContain(h uint64) bool {
	if len(f.words) == 0 {
		return true
	}
	return f.positions(h, func(b uint64) bool { return f.words[b/64]&(1<<(b%64)) != 0 })
}

// blockedFilter appends a v7 filter: k byte, blocks uvarint, the blocks.
func (e *encoder) blockedFilter(f blockedFilter) {
	e.b = append(e.b, f.k)
	e.uvarint(uint64(f.blocks()))
	e.b = append(e.b, f.data...)
}

// blockedFilter reads what encoder.blockedFilter wrote, with the role's
// seed.
func (d *decoder) blockedFilter(what string, seed uint64) blockedFilter {
	var k uint8
	if b := d.bytes(what+" k", 1); b != nil {
		k = b[0]
	}
	if d.err == nil && (k == 0 || k > maxBlockedK) {
		d.fail(what + " k")
	}
	n := d.count(what+" blocks", filterBlockBytes)
	if d.err == nil && n == 0 {
		d.fail(what + " blocks")
	}
	data := d.bytes(what, n*filterBlockBytes)
	if d.err != nil {
		return blockedFilter{}
	}
	return blockedFilter{k: k, seed: seed, data: bytes.Clone(data)}
}

func (e *encoder) filter(f valueFilter) {
	e.b = append(e.b, f.k)
	e.uvarint(uint64(len(f.words)))
	for _, w := range f.words {
		e.b = binary.LittleEndian.AppendUint64(e.b, w)
	}
}

func (d *decoder) filter() valueFilter {
	var f valueFilter
	if k := d.bytes("filter k", 1); k != nil {
		f.k = k[0]
	}
	if f.k == 0 || f.k > 32 {
		d.fail("filter k")
		return valueFilter{}
	}
	n := d.count("filter words", 8)
	if n == 0 || n > maxFilterWords {
		d.fail("filter size")
		return valueFilter{}
	}
	raw := d.bytes("filter words", n*8)
	if raw == nil {
		return valueFilter{}
	}
	f.words = make([]uint64, n)
	for i := range f.words {
		f.words[i] = binary.LittleEndian.Uint64(raw[i*8:])
	}
	return f
}
