package block

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"
	"sync"

	"github.com/clewtrace/clew/internal/objstore"
)

// Pair filters on disk: a key=value filter per row group, read only for
// the blocks whose in-memory filter lets a search through.
//
// Before v7 each row group had its key=value filter in index.bin, held in
// memory for every open block and so kept small: ~0.8 % of the row groups
// that lack a searched value still passed, each such false positive cost a
// scan of the row group's columns (~1 ms), and a search for a value no span
// holds visits every row group of its window: ~3 scans a query at 10 M
// spans, ~29 at 100 M, plus a probe per row group (3,500 cache misses at
// 100 M). Since v7 the memory holds one filter per block (index.values)
// and filters.bin a blocked Bloom filter per row group over the same pairs:
// every bit a pair sets lies in one 64-byte block, so asking it costs one
// small read (from the page cache, or through the bucket's chunk cache) per
// searched pair, and only in blocks the block filter let through. Its
// hashes are mixed independently of the block filter's, so an absent value
// reaches a scan at about the product of the two rates (~0.2 % × ~0.1 %
// in v7–v9; since v10 the block filter is a binary fuse filter, ~0.0015 %).
//
// A block before format v7 has none, and a v7 block whose filters.bin is
// missing or damaged only has its row groups scanned as before — never a
// wrong answer, since every doubt answers "may contain".
//
// Layout (version 2): magic "CLWF", then uvarints version (2) and
// row-group count, per row group uvarint blocks, byte k and the CRC-32C of
// its page table (uint32 LE); the CRC-32C of the header so far (uint32 LE);
// then per row group, in row-group order, its page table — the CRC-32C
// (uint32 LE) of each page of 64 blocks (4 KiB; the last page shorter) —
// and its blocks, 64 bytes each (8 uint64 LE words). A row group's table
// is checked when the row group is first asked, and a page when a probe
// first lands in it: a block's first search reads a few KiB of filters.bin,
// not its row groups' whole filters (~75 KB each with clewbench data,
// which made a fresh server's first searches for a rare value ~4× slower
// at the p99).
//
// Version 1 (blocks written before 2026-12-01, still read): the same
// header with, in place of the page table's checksum, the CRC-32C of the
// row group's blocks, and no page tables: a row group's blocks are checked
// whole when it is first asked.

const filtersName = "filters.bin"

var filtersMagic = [4]byte{'C', 'L', 'W', 'F'}

const (
	pairFilterVersion = 2
	filterBlockBytes  = 64
	// pairFilterPageBlocks is how many 64-byte blocks one page checksum
	// covers (version 2): 4 KiB.
	pairFilterPageBlocks = 64
	filterBlockBits      = filterBlockBytes * 8
	// 16 bits and 11 probes per distinct pair: ~0.1 % false positives
	// for a 512-bit blocked filter; on disk, 2 bytes a pair (~2.7 bytes a
	// span with the pairs of the demo and bench data). Before 2026-12-01:
	// 12 bits and 8 probes, 0.44 % on random pairs but 0.65 % on
	// clewbench's, each a row group scanned for nothing.
	pairFilterBitsPerValue = 16
	pairFilterK            = 11
	maxPairFilterBlocks    = 1 << 22 // 256 MiB for one row group: a corrupt count is refused
)

// blockedFilter is a blocked Bloom filter: blocks of 64 bytes, every bit
// a hash sets in one block, so asking it touches one cache line (in
// memory: the v7 block and trace-ID filters) or one 64-byte read (on disk:
// filters.bin). data holds the blocks; bit b of a block is bit b%8 of its
// byte b/8 (the same bits as 8 little-endian uint64 words).
type blockedFilter struct {
	k    uint8
	seed uint64 // the filter's role: seedRowGroup, seedPairFile or seedTrace
	data []byte
}

// Seeds of the blocked filters' hash mixing, one per role: the in-memory
// block filter and the row groups' in filters.bin hold the same pairs, so a
// pair that fools one must be no likelier to fool the other — their bits
// must come from independent mixes of the pair hash.
const (
	seedPairFile = 0x5851F42D4C957F2D
	seedRowGroup = 0x2545F4914F6CDD1D
	seedTrace    = 0x9E6C63D0676A9A99
)

// pairFilterSlot mixes a hash (pairHash, or a trace ID's traceHash) with
// a role's seed into the block it falls in and the hash its bit positions
// come from (a multiply-xorshift: different seeds give independent
// choices).
func pairFilterSlot(h, seed uint64, blocks int) (block int, bitHash uint64) {
	x := h ^ seed
	x ^= x >> 33
	x *= 0xFF51AFD7ED558CCD
	x ^= x >> 29
	x *= 0xC4CEB9FE1A85EC53
	x ^= x >> 32
	hi, _ := bits.Mul64(x, uint64(blocks))
	return int(hi), bits.RotateLeft64(x*0x9E3779B97F4A7C15, 17)
}

// pairFilterBit is probe i's bit within the block: 9 bits of bitHash each
// (7 probes use 63 of its bits; probes 8 to 14 reuse them remixed).
func pairFilterBit(bitHash uint64, i int) uint {
	if i >= 7 {
		bitHash = bits.RotateLeft64(bitHash*0xBF58476D1CE4E5B9, 23)
		i -= 7
	}
	return uint(bitHash>>(9*i)) & (filterBlockBits - 1)
}

// maxBlockedK bounds k (pairFilterBit has 14 distinct probes).
const maxBlockedK = 14

// newBlockedFilter builds a filter of the distinct hashes given, with
// bitsPerValue bits a hash and k probes.
func newBlockedFilter(hashes []uint64, bitsPerValue int, k uint8, seed uint64) blockedFilter {
	n := max(1, (len(hashes)*bitsPerValue+filterBlockBits-1)/filterBlockBits)
	f := blockedFilter{k: k, seed: seed, data: make([]byte, n*filterBlockBytes)}
	for _, h := range hashes {
		b, bh := pairFilterSlot(h, seed, n)
		block := f.data[b*filterBlockBytes : (b+1)*filterBlockBytes]
		for i := range int(k) {
			bit := pairFilterBit(bh, i)
			block[bit/8] |= 1 << (bit % 8)
		}
	}
	return f
}

func (f blockedFilter) blocks() int { return len(f.data) / filterBlockBytes }

// mayContain is false only if the hash was certainly not added.
func (f blockedFilter) mayContain(h uint64) bool {
	b, bh := pairFilterSlot(h, f.seed, f.blocks())
	return blockHas(f.data[b*filterBlockBytes:(b+1)*filterBlockBytes], f.k, bh)
}

// blockHas reports whether the block holds every bit of the hash.
func blockHas(block []byte, k uint8, bitHash uint64) bool {
	for i := range int(k) {
		bit := pairFilterBit(bitHash, i)
		if block[bit/8]&(1<<(bit%8)) == 0 {
			return false
		}
	}
	return true
}

// encodePairFilters lays out filters.bin (version 2).
func encodePairFilters(fs []blockedFilter) []byte {
	tables := make([][]byte, len(fs))
	for i, f := range fs {
		for p := 0; p < len(f.data); p += pairFilterPageBlocks * filterBlockBytes {
			page := f.data[p:min(p+pairFilterPageBlocks*filterBlockBytes, len(f.data))]
			tables[i] = binary.LittleEndian.AppendUint32(tables[i], crc32.Checksum(page, castagnoli))
		}
	}
	e := &encoder{b: append([]byte(nil), filtersMagic[:]...)}
	e.uvarint(pairFilterVersion)
	e.uvarint(uint64(len(fs)))
	for i, f := range fs {
		e.uvarint(uint64(f.blocks()))
		e.b = append(e.b, f.k)
		e.b = binary.LittleEndian.AppendUint32(e.b, crc32.Checksum(tables[i], castagnoli))
	}
	e.b = binary.LittleEndian.AppendUint32(e.b, crc32.Checksum(e.b, castagnoli))
	for i, f := range fs {
		e.b = append(e.b, tables[i]...)
		e.b = append(e.b, f.data...)
	}
	return e.b
}

// pairFilterPages is how many pages (version 2) a row group of blocks has.
func pairFilterPages(blocks int) int {
	return (blocks + pairFilterPageBlocks - 1) / pairFilterPageBlocks
}

// pairFilterIndex is what a reader keeps of filters.bin: its version and
// where each row group's blocks are.
type pairFilterIndex struct {
	version   int
	rowGroups []pairFilterRG
}

type pairFilterRG struct {
	off    int64 // of its first block in filters.bin
	blocks int
	k      uint8
	crc    uint32 // version 1: of its blocks; 2: of its page table
	table  int64  // version 2: offset of its page table
}

// maxPairFilterHeader is the longest header a block of n row groups can
// have: magic, version, count and trailing checksum, and per row group a
// block count (at most 4 uvarint bytes), k and a checksum.
func maxPairFilterHeader(rowGroups int) int64 { return 4 + 1 + 5 + 4 + int64(rowGroups)*(4+1+4) }

// decodePairFilterHeader decodes the header of a filters.bin of size
// bytes (head: its first bytes, the whole header at least) against a block
// of the given row groups, checks the header's checksum and that the row
// groups' blocks fill the rest of the object exactly, and returns where
// each row group's blocks are. Their checksums are checked when they are
// first read (readPairFilterChecksum).
func decodePairFilterHeader(head []byte, rowGroups int, size int64) (*pairFilterIndex, error) {
	if len(head) < len(filtersMagic)+4 || string(head[:4]) != string(filtersMagic[:]) {
		return nil, fmt.Errorf("%w: %s: bad magic", ErrCorrupt, filtersName)
	}
	d := &decoder{b: head[4:]}
	version := d.uvarint("pair filter version")
	if d.err == nil && version != 1 && version != pairFilterVersion {
		return nil, fmt.Errorf("%w: %s version %d", ErrCorrupt, filtersName, version)
	}
	n := d.count("pair filter row groups", 6)
	if d.err == nil && n != rowGroups {
		return nil, fmt.Errorf("%w: %s has %d row groups, the block %d", ErrCorrupt, filtersName, n, rowGroups)
	}
	ix := &pairFilterIndex{version: int(version), rowGroups: make([]pairFilterRG, n)}
	for i := range ix.rowGroups {
		rg := &ix.rowGroups[i]
		blocks := d.uvarint("pair filter blocks")
		if d.err == nil && (blocks == 0 || blocks > maxPairFilterBlocks) {
			d.fail("pair filter blocks")
		}
		rg.blocks = int(blocks)
		if k := d.bytes("pair filter k", 1); k != nil {
			rg.k = k[0]
		}
		if d.err == nil && (rg.k == 0 || rg.k > maxBlockedK) {
			d.fail("pair filter k")
		}
		if c := d.bytes("pair filter checksum", 4); c != nil {
			rg.crc = binary.LittleEndian.Uint32(c)
		}
	}
	sum := d.bytes("pair filter header checksum", 4)
	if d.err != nil {
		return nil, d.err
	}
	header := len(head) - len(d.b) - 4
	if crc32.Checksum(head[:header], castagnoli) != binary.LittleEndian.Uint32(sum) {
		return nil, fmt.Errorf("%w: %s: header checksum mismatch", ErrCorrupt, filtersName)
	}
	off := int64(header + 4)
	for i := range ix.rowGroups {
		rg := &ix.rowGroups[i]
		if ix.version >= 2 {
			rg.table = off
			off += int64(pairFilterPages(rg.blocks)) * 4
		}
		rg.off = off
		off += int64(rg.blocks) * filterBlockBytes
	}
	if off != size {
		return nil, fmt.Errorf("%w: %s: row groups end at %d, the object at %d", ErrCorrupt, filtersName, off, size)
	}
	return ix, nil
}

// pairFilters is a block's filters.bin: its header is read on first use;
// a row group's blocks (version 1) or its page table (version 2) are
// checked against their checksum the first time the row group is asked,
// and (version 2) each page the first time a probe lands in it.
type pairFilters struct {
	mu  sync.Mutex
	r   objstore.Reader
	ix  *pairFilterIndex
	err error // permanent: missing, damaged or closed; row groups are then scanned
	// checked[g]: 0 not yet, 1 checked, 2 damaged (answers "may contain").
	checked []uint8
	// Version 2, per row group once checked: its page table, and each
	// page's state (as checked).
	pages     [][]uint32
	pageState [][]uint8
}

var errNoPairFilters = errors.New("block: no pair filters")

// pairFilterRowGroup returns row group g's place in filters.bin and the
// reader to ask it with, reading the header and checking the row group's
// blocks on first use. ok false means: no usable filter, scan the row
// group (permanent causes are remembered; a read that failed is tried
// again by the next search).
func (bl *Block) pairFilterRowGroup(ctx context.Context, g int) (rg pairFilterRG, r objstore.Reader, ok bool) {
	f := &bl.filters
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return rg, nil, false
	}
	if f.ix == nil {
		if bl.meta.Version < FormatV7 {
			f.err = errNoPairFilters
			return rg, nil, false
		}
		if f.r == nil {
			r, err := bl.bucket.Open(ctx, bl.meta.ID+"/"+filtersName)
			if errors.Is(err, objstore.ErrNotExist) {
				f.err = fmt.Errorf("%w: %s missing", errNoPairFilters, filtersName)
				return rg, nil, false
			}
			if err != nil {
				return rg, nil, false
			}
			f.r = objstore.MarkReads(r)
		}
		head := make([]byte, min(f.r.Size(), maxPairFilterHeader(len(bl.ix.rowGroups))))
		if _, err := f.r.ReadAt(ctx, head, 0); err != nil && !errors.Is(err, io.EOF) {
			return rg, nil, false
		}
		ix, err := decodePairFilterHeader(head, len(bl.ix.rowGroups), f.r.Size())
		if err != nil {
			f.err = err
			return rg, nil, false
		}
		f.ix, f.checked = ix, make([]uint8, len(ix.rowGroups))
		f.pages, f.pageState = make([][]uint32, len(ix.rowGroups)), make([][]uint8, len(ix.rowGroups))
	}
	if g < 0 || g >= len(f.ix.rowGroups) || f.checked[g] == 2 {
		return rg, nil, false
	}
	rg = f.ix.rowGroups[g]
	if f.checked[g] == 0 {
		var damaged bool
		var err error
		if f.ix.version >= 2 {
			damaged, err = f.readPageTable(ctx, g)
		} else {
			damaged, err = readPairFilterChecksum(ctx, f.r, rg)
		}
		if err != nil {
			return rg, nil, false
		}
		if damaged {
			f.checked[g] = 2
			return rg, nil, false
		}
		f.checked[g] = 1
	}
	return rg, f.r, true
}

// readPageTable reads row group g's page table (version 2) and keeps it
// when it matches its checksum.
func (f *pairFilters) readPageTable(ctx context.Context, g int) (damaged bool, err error) {
	rg := f.ix.rowGroups[g]
	raw := make([]byte, 4*pairFilterPages(rg.blocks))
	if _, err := f.r.ReadAt(ctx, raw, rg.table); err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	if crc32.Checksum(raw, castagnoli) != rg.crc {
		return true, nil
	}
	table := make([]uint32, len(raw)/4)
	for i := range table {
		table[i] = binary.LittleEndian.Uint32(raw[4*i:])
	}
	f.pages[g], f.pageState[g] = table, make([]uint8, len(table))
	return false, nil
}

// pageUsable reports whether filter block b of row group g (asked
// already through pairFilterRowGroup) may be trusted: in version 2, the
// first time a probe lands in its page, the page is read and checked
// against the page table, and the block is then copied from it into
// block (read says so: it need not be read again). A damaged page answers
// false from then on; a failed read answers false this time only.
func (bl *Block) pageUsable(ctx context.Context, g, b int, block *[filterBlockBytes]byte) (usable, read bool) {
	f := &bl.filters
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ix == nil || f.ix.version < 2 {
		return true, false // version 1: the row group was checked whole
	}
	states := f.pageState[g]
	p := b / pairFilterPageBlocks
	if p < 0 || p >= len(states) {
		return false, false
	}
	if states[p] != 0 {
		return states[p] == 1, false
	}
	rg := f.ix.rowGroups[g]
	first := p * pairFilterPageBlocks
	page := make([]byte, (min(first+pairFilterPageBlocks, rg.blocks)-first)*filterBlockBytes)
	if _, err := f.r.ReadAt(ctx, page, rg.off+int64(first)*filterBlockBytes); err != nil && !errors.Is(err, io.EOF) {
		return false, false
	}
	if crc32.Checksum(page, castagnoli) != f.pages[g][p] {
		states[p] = 2
		return false, false
	}
	states[p] = 1
	copy(block[:], page[(b-first)*filterBlockBytes:])
	return true, true
}

// pairFilterCheckChunk is how much of a row group's filter is read at a
// time to check its checksum: the filter (~75 KB a row group of clewbench
// data) is not kept, so it is not allocated whole either — a large fresh
// buffer per row group cost page faults on each block's first search.
const pairFilterCheckChunk = 16 << 10

// readPairFilterChecksum reads a row group's filter blocks (version 1)
// and reports whether they fail their checksum.
func readPairFilterChecksum(ctx context.Context, r objstore.Reader, rg pairFilterRG) (damaged bool, err error) {
	size := int64(rg.blocks) * filterBlockBytes
	buf := make([]byte, min(size, pairFilterCheckChunk))
	var crc uint32
	for done := int64(0); done < size; {
		chunk := buf[:min(size-done, int64(len(buf)))]
		if _, err := r.ReadAt(ctx, chunk, rg.off+done); err != nil && !errors.Is(err, io.EOF) {
			return false, err
		}
		crc = crc32.Update(crc, castagnoli, chunk)
		done += int64(len(chunk))
	}
	return crc != rg.crc, nil
}

// pairFiltersMayContain reports whether row group g may hold every pair
// of hashes by its filter in filters.bin: false is certain; any doubt (no
// filters.bin, a damaged one, a failed read) answers true.
func (bl *Block) pairFiltersMayContain(ctx context.Context, g int, hashes []uint64) bool {
	if len(hashes) == 0 {
		return true
	}
	rg, r, ok := bl.pairFilterRowGroup(ctx, g)
	if !ok {
		return true
	}
	var block [filterBlockBytes]byte
	for _, h := range hashes {
		b, bh := pairFilterSlot(h, seedPairFile, rg.blocks)
		usable, read := bl.pageUsable(ctx, g, b, &block)
		if !usable {
			return true
		}
		if !read {
			if _, err := r.ReadAt(ctx, block[:], rg.off+int64(b)*filterBlockBytes); err != nil {
				return true
			}
		}
		if !blockHas(block[:], rg.k, bh) {
			return false
		}
	}
	return true
}

// closePairFilters releases filters.bin's reader (Block.Close).
func (bl *Block) closePairFilters() error {
	f := &bl.filters
	f.mu.Lock()
	defer f.mu.Unlock()
	var err error
	if f.r != nil {
		err = f.r.Close()
		f.r = nil
	}
	f.ix, f.err = nil, fmt.Errorf("%w: block closed", errNoPairFilters)
	return err
}
