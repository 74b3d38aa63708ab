package spanmetrics

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sort"
	"time"

	"github.com/clewtrace/clew/internal/model"
)

// Minute object format, version 2. Integers are unsigned varints unless
// noted; strings are a varint length and UTF-8 bytes.
//
//	+--------+---------+------------------------------------+-----------+
//	| "CLSM" | version | body                               | CRC-32C   |
//	| 4 B    | 1 B     |                                    | 4 B, LE   |
//	+--------+---------+------------------------------------+-----------+
//	body   = start (signed varint, Unix seconds) nSeries series* nEdges edge*
//	series = service operation kind(1 B) status(1 B) calls errors hist
//	         (kind's bit 7 is set for root spans, Series.Root; version 2 only)
//	edge   = client server connectionType virtual(1 B) calls errors hist
//	hist   = count sumNs nBuckets (idxDelta n hasExemplar(1 B) [traceID 16 B])*
//
// The CRC covers magic, version and body. Bucket indexes are deltas from the
// previous bucket's index (the first from 0); see histogram.go for their
// bounds. Series and edges are sorted, so equal minutes encode identically.
// Version 1 objects (no root bit) still decode, with Root false.
const (
	codecMagic   = "CLSM"
	codecVersion = 2
	rootKindBit  = 0x80
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// CorruptionError reports an undecodable minute object.
type CorruptionError struct {
	Offset int
	Reason string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("spanmetrics: corrupt minute object at byte %d: %s", e.Offset, e.Reason)
}

func encodeMinute(m *minute) []byte {
	b := make([]byte, 0, 64+len(m.Series)*64+len(m.Edges)*64)
	b = append(b, codecMagic...)
	b = append(b, codecVersion)
	b = binary.AppendVarint(b, m.Start.Unix())

	keys := make([]seriesKey, 0, len(m.Series))
	for k := range m.Series {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return lessSeries(keys[i], keys[j]) })
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		d := m.Series[k]
		b = appendString(b, k.Service)
		b = appendString(b, k.Operation)
		kind := byte(k.Kind)
		if k.Root {
			kind |= rootKindBit
		}
		b = append(b, kind, byte(k.Status))
		b = binary.AppendUvarint(b, d.Calls)
		b = binary.AppendUvarint(b, d.Errors)
		b = appendHist(b, &d.Hist)
	}

	ekeys := make([]edgeKey, 0, len(m.Edges))
	for k := range m.Edges {
		ekeys = append(ekeys, k)
	}
	sort.Slice(ekeys, func(i, j int) bool { return lessEdge(ekeys[i], ekeys[j]) })
	b = binary.AppendUvarint(b, uint64(len(ekeys)))
	for _, k := range ekeys {
		d := m.Edges[k]
		b = appendString(b, k.Client)
		b = appendString(b, k.Server)
		b = appendString(b, k.ConnectionType)
		b = append(b, boolByte(k.Virtual))
		b = binary.AppendUvarint(b, d.Calls)
		b = binary.AppendUvarint(b, d.Errors)
		b = appendHist(b, &d.Hist)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

func lessSeries(a, b seriesKey) bool {
	if a.Service != b.Service {
		return a.Service < b.Service
	}
	if a.Operation != b.Operation {
		return a.Operation < b.Operation
	}
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	if a.Status != b.Status {
		return a.Status < b.Status
	}
	return !a.Root && b.Root
}

func lessEdge(a, b edgeKey) bool {
	if a.Client != b.Client {
		return a.Client < b.Client
	}
	if a.Server != b.Server {
		return a.Server < b.Server
	}
	if a.ConnectionType != b.ConnectionType {
		return a.ConnectionType < b.ConnectionType
	}
	return !a.Virtual && b.Virtual
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendHist(b []byte, h *Histogram) []byte {
	b = binary.AppendUvarint(b, h.count)
	b = binary.AppendUvarint(b, h.sumNs)
	b = binary.AppendUvarint(b, uint64(len(h.buckets)))
	prev := 0
	for _, bk := range h.buckets {
		b = binary.AppendUvarint(b, uint64(int(bk.idx)-prev))
		prev = int(bk.idx)
		b = binary.AppendUvarint(b, bk.count)
		b = append(b, boolByte(bk.hasEx))
		if bk.hasEx {
			b = append(b, bk.exemplar[:]...)
		}
	}
	return b
}

// decoder reads a body; the first error sticks.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(reason string) {
	if d.err == nil {
		d.err = &CorruptionError{Offset: d.off, Reason: reason}
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail("truncated")
		return 0
	}
	d.off++
	return d.b[d.off-1]
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)-d.off) {
		d.fail("truncated")
		return nil
	}
	out := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return out
}

func (d *decoder) string() string { return string(d.bytes(d.uvarint())) }

// count reads an element count and checks that that many elements of at
// least minSize bytes can fit in what is left.
func (d *decoder) count(minSize int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64((len(d.b)-d.off)/minSize) {
		d.fail("count exceeds object size")
		return 0
	}
	return int(n)
}

func (d *decoder) hist(h *Histogram) {
	h.count = d.uvarint()
	h.sumNs = d.uvarint()
	n := d.count(3)
	h.buckets = make([]bucket, 0, n)
	idx := 0
	var total uint64
	for i := 0; i < n && d.err == nil; i++ {
		delta := d.uvarint()
		if delta > numBuckets || (i > 0 && delta == 0) {
			d.fail("bad bucket index")
			return
		}
		idx += int(delta)
		if idx >= numBuckets {
			d.fail("bucket index out of range")
			return
		}
		bk := bucket{idx: uint16(idx), count: d.uvarint()}
		switch d.byte() {
		case 0:
		case 1:
			bk.hasEx = true
			copy(bk.exemplar[:], d.bytes(16))
		default:
			d.fail("bad exemplar flag")
		}
		total += bk.count
		h.buckets = append(h.buckets, bk)
	}
	if d.err == nil && total != h.count {
		d.fail("bucket counts do not add up")
	}
}

func decodeMinute(data []byte) (*minute, error) {
	if len(data) < len(codecMagic)+1+4 || string(data[:4]) != codecMagic {
		return nil, &CorruptionError{Reason: "not a span-metrics minute object"}
	}
	version := data[4]
	if version != 1 && version != codecVersion {
		return nil, &CorruptionError{Offset: 4, Reason: fmt.Sprintf("unsupported version %d", data[4])}
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return nil, &CorruptionError{Offset: len(body), Reason: "checksum mismatch"}
	}
	d := &decoder{b: body, off: 5}
	m := newMinute(time.Unix(d.varint(), 0).UTC())
	for n := d.count(8); n > 0 && d.err == nil; n-- {
		k := seriesKey{Service: d.string(), Operation: d.string()}
		kind := d.byte()
		if version >= 2 && kind&rootKindBit != 0 {
			k.Root, kind = true, kind&^rootKindBit
		}
		k.Kind, k.Status = model.SpanKind(kind), model.StatusCode(d.byte())
		sd := &seriesData{Calls: d.uvarint(), Errors: d.uvarint()}
		d.hist(&sd.Hist)
		m.Series[k] = sd
	}
	for n := d.count(9); n > 0 && d.err == nil; n-- {
		k := edgeKey{Client: d.string(), Server: d.string(), ConnectionType: d.string(), Virtual: d.byte() == 1}
		ed := &edgeData{Calls: d.uvarint(), Errors: d.uvarint()}
		d.hist(&ed.Hist)
		m.Edges[k] = ed
	}
	if d.err == nil && d.off != len(body) {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}
