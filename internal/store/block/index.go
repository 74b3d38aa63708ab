package block

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/cespare/xxhash/v2"

	"github.com/clewtrace/clew/internal/model"
)

// index is the decoded index object: what an opened block keeps in memory.
type index struct {
	version   int
	resources []*model.Resource
	scopes    []*model.Scope
	dedicated []string // keys of the dedicated attribute columns, by slot
	// granules is a sparse trace index: the first trace ID and first row
	// of each run of about granuleRows rows. Runs start on trace
	// boundaries and never cross a row group, so one granule holds every
	// span of each trace it covers.
	granules  []granule
	rowGroups []rowGroupStats
	// Which traces the block may hold: before v7 a Bloom filter of the
	// trace IDs (bits-and-blooms, ~1 % false positives); since v7 a
	// blocked one over traceHash (one cache line a lookup instead of
	// seven: at 100 M stored spans a trace by ID asks 500 blocks, and the
	// seven cache misses each were a tenth of its CPU); since v10 a binary
	// fuse filter (memFilter: ~0.0015 % false positives, not ~0.1 %).
	bloom       *bloom.BloomFilter
	traceFilter memFilter
	// values (v7): the key=value filter of the whole block — the pairs of
	// all its row groups, which since v7 have their own filters only on
	// disk (filters.bin). Ruling a block out then costs one probe, not one
	// per row group; a block of v2–v6 has a filter per row group in memory
	// (rowGroupStats.values) and none here. Blocked Bloom in v7–v9, binary
	// fuse since v10 (memFilter).
	values memFilter
	// Since v3: the flags of spans whose row has no Extra value, and the
	// size of traces.bin (each granule's entries start at its tracesOff).
	defaultFlags uint32
	tracesSize   int64
	// traceBase is what traces.bin's starts are offsets from: the
	// block's first span start (in index.bin since v4; v3 blocks take
	// it from their meta).
	traceBase int64
	// postings (v5): terms per row group and long spans; nil before v5.
	postings *postings
}

type granule struct {
	first     model.TraceID
	row       int64 // global row number
	tracesOff int64 // v3: offset of the granule's entries in traces.bin
}

// rowGroupStats lets Scan skip a row group without reading any column.
type rowGroupStats struct {
	rows                     int64
	minStart, maxStart       int64
	minDuration, maxDuration int64
	values                   valueFilter // empty before format v2
}

var indexMagic = [4]byte{'C', 'L', 'W', 'I'}

// ErrCorrupt marks an object that does not decode; errors.Is(err, ErrCorrupt).
var ErrCorrupt = errors.New("block: corrupt object")

type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }

func (e *encoder) value(v model.Value) {
	e.b = append(e.b, byte(v.Type))
	e.str(v.Str)
	e.varint(v.Int)
	e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(v.Float))
}

func (e *encoder) attrs(attrs []model.Attribute) {
	e.uvarint(uint64(len(attrs)))
	for _, a := range attrs {
		e.str(a.Key)
		e.value(a.Value)
	}
}

func (e *encoder) resource(r *model.Resource) {
	e.str(r.ServiceName)
	e.str(r.SchemaURL)
	e.uvarint(uint64(r.DroppedAttributesCount))
	e.attrs(r.Attributes)
}

func (e *encoder) scope(s *model.Scope) {
	e.str(s.Name)
	e.str(s.Version)
	e.str(s.SchemaURL)
	e.uvarint(uint64(s.DroppedAttributesCount))
	e.attrs(s.Attributes)
}

// encodeIndex lays out: magic, version, resources, scopes, row groups (with
// their value filters since v2), granules, bloom filter, CRC-32C of
// everything before it.
func encodeIndex(ix *index) ([]byte, error) {
	e := &encoder{b: make([]byte, 0, 4096)}
	e.b = append(e.b, indexMagic[:]...)
	if ix.version < FormatV1 || ix.version > FormatLatest {
		return nil, fmt.Errorf("encode index: version %d", ix.version)
	}
	e.uvarint(uint64(ix.version))
	e.uvarint(uint64(len(ix.resources)))
	for _, r := range ix.resources {
		e.resource(r)
	}
	e.uvarint(uint64(len(ix.scopes)))
	for _, s := range ix.scopes {
		e.scope(s)
	}
	e.uvarint(uint64(len(ix.dedicated)))
	for _, k := range ix.dedicated {
		e.str(k)
	}
	e.uvarint(uint64(len(ix.rowGroups)))
	for _, rg := range ix.rowGroups {
		e.uvarint(uint64(rg.rows))
		e.varint(rg.minStart)
		e.varint(rg.maxStart)
		e.varint(rg.minDuration)
		e.varint(rg.maxDuration)
		if ix.version >= FormatV2 && ix.version < FormatV7 {
			e.filter(rg.values)
		}
	}
	e.uvarint(uint64(len(ix.granules)))
	var prev, prevOff int64
	for _, g := range ix.granules {
		e.b = append(e.b, g.first[:]...)
		e.uvarint(uint64(g.row - prev))
		prev = g.row
		if ix.version >= FormatV3 {
			e.uvarint(uint64(g.tracesOff - prevOff))
			prevOff = g.tracesOff
		}
	}
	if ix.version >= FormatV3 {
		e.uvarint(uint64(ix.defaultFlags))
		e.uvarint(uint64(ix.tracesSize))
	}
	if ix.version >= FormatV4 {
		e.varint(ix.traceBase)
	}
	if ix.version >= FormatV5 {
		if ix.postings == nil || len(ix.postings.rowGroups) != len(ix.rowGroups) {
			return nil, fmt.Errorf("encode index: postings do not cover the row groups")
		}
		ix.postings.encode(e, ix.rowGroups)
	}
	if ix.version >= FormatV10 {
		if !ix.values.present() || !ix.traceFilter.present() {
			return nil, fmt.Errorf("encode index: a v%d index needs both filters", ix.version)
		}
		e.memFilter(ix.values)
		e.memFilter(ix.traceFilter)
	} else if ix.version >= FormatV7 {
		if len(ix.values.fuse.Fingerprints) > 0 || len(ix.traceFilter.fuse.Fingerprints) > 0 {
			return nil, fmt.Errorf("encode index: a v%d index cannot hold fuse filters", ix.version)
		}
		e.blockedFilter(ix.values.blocked)
		e.blockedFilter(ix.traceFilter.blocked)
	} else {
		var bb bytes.Buffer
		if _, err := ix.bloom.WriteTo(&bb); err != nil {
			return nil, fmt.Errorf("encode bloom: %w", err)
		}
		e.uvarint(uint64(bb.Len()))
		e.b = append(e.b, bb.Bytes()...)
	}
	e.b = binary.LittleEndian.AppendUint32(e.b, crc32.Checksum(e.b, castagnoli))
	return e.b, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: index: bad %s", ErrCorrupt, what)
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length and checks it against the bytes left, assuming each
// element takes at least minSize bytes, so corrupt input cannot make us
// allocate gigabytes.
func (d *decoder) count(what string, minSize int) int {
	n := d.uvarint(what)
	if d.err == nil && n > uint64(len(d.b)/minSize) {
		d.fail(what + " count")
		return 0
	}
	return int(n)
}

func (d *decoder) bytes(what string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail(what)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str(what string) string {
	n := d.count(what, 1)
	return string(d.bytes(what, n))
}

func (d *decoder) u32(what string) uint32 {
	v := d.uvarint(what)
	if v > math.MaxUint32 {
		d.fail(what)
	}
	return uint32(v)
}

func (d *decoder) attrs() []model.Attribute {
	n := d.count("attributes", 12)
	if n == 0 {
		return nil
	}
	out := make([]model.Attribute, n)
	for i := range out {
		out[i].Key = d.str("attribute key")
		b := d.bytes("value type", 1)
		if b != nil {
			out[i].Value.Type = model.ValueType(b[0])
		}
		out[i].Value.Str = d.str("value string")
		out[i].Value.Int = d.varint("value int")
		if f := d.bytes("value float", 8); f != nil {
			out[i].Value.Float = math.Float64frombits(binary.LittleEndian.Uint64(f))
		}
	}
	return out
}

func decodeIndex(data []byte) (*index, error) {
	if len(data) < len(indexMagic)+4 || !bytes.Equal(data[:4], indexMagic[:]) {
		return nil, fmt.Errorf("%w: index: bad magic", ErrCorrupt)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: index: checksum mismatch", ErrCorrupt)
	}
	d := &decoder{b: body[4:]}
	version := d.uvarint("version")
	if d.err == nil && (version < FormatV1 || version > FormatLatest) {
		return nil, fmt.Errorf("index: %w %d", ErrUnsupportedVersion, version)
	}
	ix := &index{version: int(version)}
	ix.resources = make([]*model.Resource, d.count("resources", 4))
	for i := range ix.resources {
		r := &model.Resource{}
		r.ServiceName = d.str("service name")
		r.SchemaURL = d.str("schema URL")
		r.DroppedAttributesCount = d.u32("dropped")
		r.Attributes = d.attrs()
		ix.resources[i] = r
	}
	ix.scopes = make([]*model.Scope, d.count("scopes", 5))
	for i := range ix.scopes {
		s := &model.Scope{}
		s.Name = d.str("scope name")
		s.Version = d.str("scope version")
		s.SchemaURL = d.str("schema URL")
		s.DroppedAttributesCount = d.u32("dropped")
		s.Attributes = d.attrs()
		ix.scopes[i] = s
	}
	if n := d.count("dedicated keys", 1); n > slotsOf(ix.version) {
		d.fail("dedicated key count")
	} else {
		for range n {
			ix.dedicated = append(ix.dedicated, d.str("dedicated key"))
		}
	}
	ix.rowGroups = make([]rowGroupStats, d.count("row groups", 5))
	var total int64
	for i := range ix.rowGroups {
		rg := &ix.rowGroups[i]
		rg.rows = int64(d.uvarint("rows") & math.MaxInt32)
		rg.minStart = d.varint("min start")
		rg.maxStart = d.varint("max start")
		rg.minDuration = d.varint("min duration")
		rg.maxDuration = d.varint("max duration")
		if version >= FormatV2 && version < FormatV7 {
			rg.values = d.filter()
		}
		total += rg.rows
	}
	ix.granules = make([]granule, d.count("granules", 17))
	var row, off int64
	for i := range ix.granules {
		copy(ix.granules[i].first[:], d.bytes("granule trace ID", 16))
		row += int64(d.uvarint("granule row") & math.MaxInt32)
		if row > total || (i > 0 && row <= ix.granules[i-1].row) {
			d.fail("granule row order")
		}
		ix.granules[i].row = row
		if version >= FormatV3 {
			off += int64(d.uvarint("granule traces offset") & math.MaxInt32)
			if i > 0 && off <= ix.granules[i-1].tracesOff {
				d.fail("granule traces offset order")
			}
			ix.granules[i].tracesOff = off
		}
	}
	if version >= FormatV3 {
		ix.defaultFlags = d.u32("default flags")
		ix.tracesSize = int64(d.uvarint("traces size") & math.MaxInt32)
		if n := len(ix.granules); n > 0 && ix.granules[n-1].tracesOff >= ix.tracesSize {
			d.fail("traces size")
		}
	}
	if version >= FormatV4 {
		ix.traceBase = d.varint("trace base")
	}
	if version >= FormatV5 && d.err == nil {
		ix.postings = decodePostings(d, ix.rowGroups)
	}
	if version >= FormatV7 {
		if version >= FormatV10 {
			ix.values = d.memFilter("value filter", seedRowGroup)
			ix.traceFilter = d.memFilter("trace filter", seedTrace)
		} else {
			ix.values = memFilter{blocked: d.blockedFilter("value filter", seedRowGroup)}
			ix.traceFilter = memFilter{blocked: d.blockedFilter("trace filter", seedTrace)}
		}
		if d.err != nil {
			return nil, d.err
		}
		if len(d.b) != 0 {
			return nil, fmt.Errorf("%w: index: %d trailing bytes", ErrCorrupt, len(d.b))
		}
		return ix, nil
	}
	bl := d.bytes("bloom", d.count("bloom", 1))
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: index: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	// The bloom library trusts its length fields; check them against the
	// bytes we have so a corrupt object cannot trigger a huge allocation.
	// Layout: m, k, bitset length (big-endian uint64s), then the words.
	if len(bl) < 24 {
		return nil, fmt.Errorf("%w: index: short bloom filter", ErrCorrupt)
	}
	if m := binary.BigEndian.Uint64(bl); m == 0 || (m+63)/64 > uint64(len(bl)-24)/8 {
		return nil, fmt.Errorf("%w: index: bloom size", ErrCorrupt)
	}
	if n := binary.BigEndian.Uint64(bl[16:]); (n+63)/64 > uint64(len(bl)-24)/8 {
		return nil, fmt.Errorf("%w: index: bloom size", ErrCorrupt)
	}
	ix.bloom = &bloom.BloomFilter{}
	if _, err := ix.bloom.ReadFrom(bytes.NewReader(bl)); err != nil {
		return nil, fmt.Errorf("%w: index: bloom: %v", ErrCorrupt, err)
	}
	if ix.bloom.Cap() == 0 || ix.bloom.K() == 0 {
		return nil, fmt.Errorf("%w: index: empty bloom filter", ErrCorrupt)
	}
	// Each lookup tests K bits: a damaged K would make every trace by ID
	// loop for minutes (found by FuzzDecodeIndex once it probed what it
	// decoded). Clew wrote K = 7.
	if ix.bloom.K() > maxBloomK {
		return nil, fmt.Errorf("%w: index: bloom filter k %d", ErrCorrupt, ix.bloom.K())
	}
	return ix, nil
}

// maxBloomK bounds the hash count of a pre-v7 trace filter.
const maxBloomK = 64

// traceHash is the 64-bit hash of a trace ID that the v7 trace filter
// holds (xxhash: trace IDs are not always random — 64-bit Zipkin IDs are
// half zeros).
func traceHash(id model.TraceID) uint64 { return xxhash.Sum64(id[:]) }

// mayContain reports whether the block may hold spans of the trace; false
// is certain.
func (ix *index) mayContain(id model.TraceID) bool {
	if ix.version >= FormatV7 {
		return ix.traceFilter.mayContain(traceHash(id))
	}
	return ix.bloom.Test(id[:])
}
