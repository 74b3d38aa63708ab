package block

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/clewtrace/clew/internal/model"
)

// spanRowV3 is one Parquet row of a format v4 block (v3 had trace_id and
// trace_start columns first; v4 takes both from traces.bin, whose entries
// give every trace's ID, start and row count). Compared with spanRow
// (v1, v2) it keeps only the columns a search filters on or that nearly every
// span fills; everything that is rarely set and never filtered — trace state,
// non-default flags, dropped counts, a parent outside the block, the status
// message, events and links — is folded into Extra, one optional byte array
// in Clew's own encoding (see encodeExtra). A trace read then opens about 20
// column chunks instead of 56, and a span without any of those fields costs
// one definition level. The attribute layout carries each dedicated
// attribute's value type in its high nibble, so the d*_type columns are gone.
type spanRowV3 struct {
	StartOffset int64   `parquet:"start_offset,delta"`
	Duration    int64   `parquet:"duration"`
	SpanID      [8]byte `parquet:"span_id"`
	ParentIndex int32   `parquet:"parent_index,dict"`
	Resource    int32   `parquet:"resource,dict"`
	Scope       int32   `parquet:"scope,dict"`
	Name        string  `parquet:"name,dict"`
	Kind        int32   `parquet:"kind,dict"`
	StatusCode  int32   `parquet:"status_code,dict"`
	// AttrLayout has one byte per attribute, in the span's order: a
	// dedicated slot (low nibble) with the value's type (high nibble), or
	// layoutGeneric for the next entry of Attrs. Unlike v1/v2 it is never
	// left empty for a span with attributes.
	AttrLayout []byte    `parquet:"attr_layout,dict"`
	Attrs      []attrRow `parquet:"attrs"`
	D0         string    `parquet:"d0,dict"`
	D1         string    `parquet:"d1,dict"`
	D2         string    `parquet:"d2,dict"`
	D3         string    `parquet:"d3,dict"`
	D4         string    `parquet:"d4,dict"`
	D5         string    `parquet:"d5,dict"`
	D6         string    `parquet:"d6,dict"`
	D7         string    `parquet:"d7,dict"`
	D8         string    `parquet:"d8,dict"`
	D9         string    `parquet:"d9,dict"`
	D10        string    `parquet:"d10,dict"` // D10-D15: v8 on
	D11        string    `parquet:"d11,dict"`
	D12        string    `parquet:"d12,dict"`
	D13        string    `parquet:"d13,dict"`
	D14        string    `parquet:"d14,dict"`
	D15        string    `parquet:"d15,dict"`
	// Extra is empty for a span without any of its fields. v3 declared
	// it optional (null for none); parquet-go v0.32 wrote some nulls of
	// sparse optional byte-array columns as present empty values and
	// shifted the real values onto the wrong rows, so v4 stores it as a
	// required column where an empty value means none.
	Extra []byte `parquet:"extra"`
}

func (r *spanRowV3) dedicated(slot int) *string {
	switch slot {
	case 0:
		return &r.D0
	case 1:
		return &r.D1
	case 2:
		return &r.D2
	case 3:
		return &r.D3
	case 4:
		return &r.D4
	case 5:
		return &r.D5
	case 6:
		return &r.D6
	case 7:
		return &r.D7
	case 8:
		return &r.D8
	case 9:
		return &r.D9
	case 10:
		return &r.D10
	case 11:
		return &r.D11
	case 12:
		return &r.D12
	case 13:
		return &r.D13
	case 14:
		return &r.D14
	case 15:
		return &r.D15
	}
	return nil
}

// layoutByte is a v3 layout entry for a dedicated slot.
func layoutByte(slot int, t model.ValueType) byte { return byte(slot) | byte(t)<<4 }

// layoutSlot splits a v3 layout entry; ok is false for layoutGeneric and
// for slots no block has.
func layoutSlot(b byte) (slot int, t model.ValueType, ok bool) {
	if b == layoutGeneric {
		return 0, 0, false
	}
	slot = int(b & 0x0F)
	return slot, model.ValueType(b >> 4), slot < dedicatedSlots
}

// Presence bits of an Extra value: which fields follow, in this order.
const (
	extraFlags = 1 << iota
	extraTraceState
	extraDroppedAttrs
	extraDroppedEvents
	extraDroppedLinks
	extraParentID
	extraStatusMessage
	extraEvents
	extraLinks
	extraKnown = 1<<iota - 1
)

// spanExtra is what Extra holds, decoded.
type spanExtra struct {
	flags                                uint32
	traceState                           string
	droppedAttrs, droppedEvents, dropped uint32 // dropped: links
	parentID                             model.SpanID
	hasParentID                          bool
	statusMessage                        string
	events                               []model.Event // TimeUnixNano relative to the span's start
	links                                []model.Link
}

// encodeExtra appends the Extra value of a span to dst, or returns dst
// unchanged (and false) when the span has nothing to put there: flags equal
// to the block's default and every other field empty. parentID is set only
// when the parent is not in the block.
func encodeExtra(dst []byte, s *model.Span, defaultFlags uint32, explicitParent bool) ([]byte, bool) {
	var bits uint64
	if s.Flags != defaultFlags {
		bits |= extraFlags
	}
	if s.TraceState != "" {
		bits |= extraTraceState
	}
	if s.DroppedAttributesCount != 0 {
		bits |= extraDroppedAttrs
	}
	if s.DroppedEventsCount != 0 {
		bits |= extraDroppedEvents
	}
	if s.DroppedLinksCount != 0 {
		bits |= extraDroppedLinks
	}
	if explicitParent {
		bits |= extraParentID
	}
	if s.StatusMessage != "" {
		bits |= extraStatusMessage
	}
	if len(s.Events) > 0 {
		bits |= extraEvents
	}
	if len(s.Links) > 0 {
		bits |= extraLinks
	}
	if bits == 0 {
		return dst, false
	}
	e := encoder{b: dst}
	e.uvarint(bits)
	if bits&extraFlags != 0 {
		e.uvarint(uint64(s.Flags))
	}
	if bits&extraTraceState != 0 {
		e.str(s.TraceState)
	}
	if bits&extraDroppedAttrs != 0 {
		e.uvarint(uint64(s.DroppedAttributesCount))
	}
	if bits&extraDroppedEvents != 0 {
		e.uvarint(uint64(s.DroppedEventsCount))
	}
	if bits&extraDroppedLinks != 0 {
		e.uvarint(uint64(s.DroppedLinksCount))
	}
	if bits&extraParentID != 0 {
		e.b = append(e.b, s.ParentSpanID[:]...)
	}
	if bits&extraStatusMessage != 0 {
		e.str(s.StatusMessage)
	}
	if bits&extraEvents != 0 {
		e.uvarint(uint64(len(s.Events)))
		for i := range s.Events {
			ev := &s.Events[i]
			e.varint(ev.TimeUnixNano - s.StartUnixNano)
			e.str(ev.Name)
			e.uvarint(uint64(ev.DroppedAttributesCount))
			e.textAttrs(ev.Attributes)
		}
	}
	if bits&extraLinks != 0 {
		e.uvarint(uint64(len(s.Links)))
		for i := range s.Links {
			l := &s.Links[i]
			e.b = append(e.b, l.TraceID[:]...)
			e.b = append(e.b, l.SpanID[:]...)
			e.str(l.TraceState)
			e.uvarint(uint64(l.Flags))
			e.uvarint(uint64(l.DroppedAttributesCount))
			e.textAttrs(l.Attributes)
		}
	}
	return e.b, true
}

// textAttrs writes attributes as key, type byte and the value's text, the
// form search compares and model.ParseValue reads back.
func (e *encoder) textAttrs(attrs []model.Attribute) {
	e.uvarint(uint64(len(attrs)))
	for i := range attrs {
		e.str(attrs[i].Key)
		e.b = append(e.b, byte(attrs[i].Value.Type))
		e.str(attrs[i].Value.String())
	}
}

func (d *decoder) textAttrs(fn func(key string, t model.ValueType, text []byte)) {
	n := d.count("attributes", 3)
	for range n {
		k := d.bytes("attribute key", d.count("attribute key", 1))
		t := d.bytes("value type", 1)
		v := d.bytes("value", d.count("value", 1))
		if d.err == nil && model.ValueType(t[0]) > model.ValueMap {
			d.fail("value type")
		}
		if d.err != nil {
			return
		}
		fn(string(k), model.ValueType(t[0]), v)
	}
}

func (d *decoder) modelAttrs() []model.Attribute {
	var out []model.Attribute
	d.textAttrs(func(k string, t model.ValueType, v []byte) {
		out = append(out, model.Attribute{Key: k, Value: model.ParseValue(t, string(v))})
	})
	return out
}

func (d *decoder) u32n(what string) uint32 {
	v := d.uvarint(what)
	if v > math.MaxUint32 {
		d.fail(what)
	}
	return uint32(v)
}

// decodeExtra decodes an Extra value. Event times stay relative to the
// span's start. It accepts only what encodeExtra writes: a field that is
// present holds a value other than its default.
func decodeExtra(b []byte, defaultFlags uint32) (spanExtra, error) {
	x := spanExtra{flags: defaultFlags}
	d := &decoder{b: b}
	bits := d.uvarint("extra fields")
	if d.err == nil && (bits == 0 || bits&^uint64(extraKnown) != 0) {
		d.fail("extra fields")
	}
	if bits&extraFlags != 0 {
		if x.flags = d.u32n("flags"); x.flags == defaultFlags {
			d.fail("flags") // the writer leaves the default out
		}
	}
	if bits&extraTraceState != 0 {
		if x.traceState = d.str("trace state"); x.traceState == "" {
			d.fail("trace state")
		}
	}
	if bits&extraDroppedAttrs != 0 {
		if x.droppedAttrs = d.u32n("dropped attributes"); x.droppedAttrs == 0 {
			d.fail("dropped attributes")
		}
	}
	if bits&extraDroppedEvents != 0 {
		if x.droppedEvents = d.u32n("dropped events"); x.droppedEvents == 0 {
			d.fail("dropped events")
		}
	}
	if bits&extraDroppedLinks != 0 {
		if x.dropped = d.u32n("dropped links"); x.dropped == 0 {
			d.fail("dropped links")
		}
	}
	if bits&extraParentID != 0 {
		if p := d.bytes("parent ID", 8); p != nil {
			copy(x.parentID[:], p)
			x.hasParentID = true
		}
	}
	if bits&extraStatusMessage != 0 {
		if x.statusMessage = d.str("status message"); x.statusMessage == "" {
			d.fail("status message")
		}
	}
	if bits&extraEvents != 0 {
		n := d.count("events", 4)
		if n == 0 {
			d.fail("event count") // the writer leaves the field out instead
		}
		x.events = make([]model.Event, n)
		for i := range x.events {
			ev := &x.events[i]
			ev.TimeUnixNano = d.varint("event time")
			ev.Name = d.str("event name")
			ev.DroppedAttributesCount = d.u32n("event dropped")
			ev.Attributes = d.modelAttrs()
		}
	}
	if bits&extraLinks != 0 {
		n := d.count("links", 28)
		if n == 0 {
			d.fail("link count")
		}
		x.links = make([]model.Link, n)
		for i := range x.links {
			l := &x.links[i]
			copy(l.TraceID[:], d.bytes("link trace ID", 16))
			copy(l.SpanID[:], d.bytes("link span ID", 8))
			l.TraceState = d.str("link trace state")
			l.Flags = d.u32n("link flags")
			l.DroppedAttributesCount = d.u32n("link dropped")
			l.Attributes = d.modelAttrs()
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("extra: trailing bytes")
	}
	if d.err != nil {
		return spanExtra{}, d.err
	}
	return x, nil
}

// extraValues returns each row's extra value (nil for none) from the
// column: v4 stores every row (empty for none); v3 stored it optional.
func extraValues(col *column, rows int) ([][]byte, error) {
	out := make([][]byte, rows)
	if len(col.def) == 0 { // required (v4)
		if col.len() != rows {
			return nil, fmt.Errorf("%w: extra column has %d values for %d rows", ErrCorrupt, col.len(), rows)
		}
		for r := range out {
			if b := col.bytesAt(r); len(b) > 0 {
				out[r] = b
			}
		}
		return out, nil
	}
	if len(col.def) != rows {
		return nil, fmt.Errorf("%w: extra column has %d levels for %d rows", ErrCorrupt, len(col.def), rows)
	}
	v := 0
	for r := range out {
		if col.def[r] == 0 {
			continue
		}
		if v >= col.len() {
			return nil, fmt.Errorf("%w: extra column has fewer values than levels", ErrCorrupt)
		}
		if b := col.bytesAt(v); len(b) > 0 {
			out[r] = b
		}
		v++
	}
	return out, nil
}

// extraAttrs calls fn for every event and link attribute in an Extra
// value, without building the events and links: what a search needs from
// it.
func extraAttrs(b []byte, fn func(key string, text []byte)) error {
	d := &decoder{b: b}
	bits := d.uvarint("extra fields")
	if bits&(extraEvents|extraLinks) == 0 || d.err != nil {
		return d.err
	}
	if bits&extraFlags != 0 {
		d.uvarint("flags")
	}
	if bits&extraTraceState != 0 {
		d.bytes("trace state", d.count("trace state", 1))
	}
	for _, f := range []uint64{extraDroppedAttrs, extraDroppedEvents, extraDroppedLinks} {
		if bits&f != 0 {
			d.uvarint("dropped")
		}
	}
	if bits&extraParentID != 0 {
		d.bytes("parent ID", 8)
	}
	if bits&extraStatusMessage != 0 {
		d.bytes("status message", d.count("status message", 1))
	}
	attrs := func(k string, _ model.ValueType, v []byte) { fn(k, v) }
	if bits&extraEvents != 0 {
		n := d.count("events", 4)
		for range n {
			d.varint("event time")
			d.bytes("event name", d.count("event name", 1))
			d.uvarint("event dropped")
			d.textAttrs(attrs)
		}
	}
	if bits&extraLinks != 0 {
		n := d.count("links", 28)
		for range n {
			d.bytes("link IDs", 24)
			d.bytes("link trace state", d.count("link trace state", 1))
			d.uvarint("link flags")
			d.uvarint("link dropped")
			d.textAttrs(attrs)
		}
	}
	return d.err
}

// traceEntry is one trace of a v3 block's trace index (traces.bin): where
// its rows are and when it started. Entries are in block order (trace ID
// ascending), grouped by granule; the granule gives the first entry's row.
type traceEntry struct {
	id    model.TraceID
	row   int64 // global row of the trace's first span
	spans int64
	start int64 // trace_start: the first span's start
}

var tracesMagic = [4]byte{'C', 'L', 'W', 'T'}

// appendTraceEntry encodes one entry: the ID, the span count and the start
// as an offset from the block's first start.
func appendTraceEntry(dst []byte, id model.TraceID, spans int, start, blockMin int64) []byte {
	dst = append(dst, id[:]...)
	dst = binary.AppendUvarint(dst, uint64(spans))
	return binary.AppendUvarint(dst, uint64(start-blockMin))
}

// decodeTraceEntries decodes the entries of one granule, whose first span is
// at row and whose rows end before end. Entries must be in ID order and
// cover exactly the granule's rows.
func decodeTraceEntries(b []byte, row, end, blockMin int64) ([]traceEntry, error) {
	return appendTraceEntries(nil, b, row, end, blockMin)
}

// minTraceEntry is the fewest bytes an entry takes (ID, two one-byte
// varints): what sizes the entries slice of a range of traces.bin.
const minTraceEntry = 18

// appendTraceEntries is decodeTraceEntries appending to dst[:0], so that a
// scan decodes each row group's entries into the same slice.
func appendTraceEntries(dst []traceEntry, b []byte, row, end, blockMin int64) ([]traceEntry, error) {
	d := &decoder{b: b}
	out := dst[:0]
	if want := len(b)/minTraceEntry + 1; cap(out) < want {
		out = make([]traceEntry, 0, want)
	}
	for len(d.b) > 0 && d.err == nil {
		var e traceEntry
		copy(e.id[:], d.bytes("trace ID", 16))
		e.spans = int64(d.uvarint("trace spans") & math.MaxInt32)
		e.start = blockMin + int64(d.uvarint("trace start")) // wraps as the writer's subtraction did
		e.row = row
		row += e.spans
		if d.err == nil && (e.spans == 0 || row > end || len(out) > 0 && string(out[len(out)-1].id[:]) >= string(e.id[:])) {
			d.fail("trace entry order")
		}
		out = append(out, e)
	}
	if d.err == nil && row != end {
		d.fail(fmt.Sprintf("trace entries cover %d rows", row))
	}
	if d.err != nil {
		return nil, d.err
	}
	return out, nil
}
