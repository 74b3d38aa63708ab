package block

import (
	"github.com/clewtrace/clew/internal/model"
)

// spanRow is one Parquet row: one span. Column choices (see
// docs/format-block.md) are driven by size: rows are sorted by trace ID, so
// trace_id and trace_start are dictionary+RLE encoded and cost about a byte a
// span; start is stored as an offset from the trace's first span and end as
// a duration, both small numbers; the parent is usually a span of the same
// trace, so it is stored as that span's position inside the trace instead of
// eight random bytes. Resources and scopes are per-block tables in the index
// object; rows refer to them by number.
type spanRow struct {
	TraceID       [16]byte `parquet:"trace_id,dict"`
	TraceStart    int64    `parquet:"trace_start,dict"`
	StartOffset   int64    `parquet:"start_offset,delta"`
	Duration      int64    `parquet:"duration"`
	SpanID        [8]byte  `parquet:"span_id"`
	ParentIndex   int32    `parquet:"parent_index,dict"` // see parent* constants
	ParentID      []byte   `parquet:"parent_id,optional"`
	Resource      int32    `parquet:"resource,dict"`
	Scope         int32    `parquet:"scope,dict"`
	Name          string   `parquet:"name,dict"`
	Kind          int32    `parquet:"kind,dict"`
	StatusCode    int32    `parquet:"status_code,dict"`
	StatusMessage string   `parquet:"status_message,dict"`
	TraceState    string   `parquet:"trace_state,dict"`
	Flags         int64    `parquet:"flags,dict"`
	// Dropped counts are almost always zero: one dictionary entry and an
	// RLE run per column chunk.
	DroppedAttrs  int64 `parquet:"dropped_attrs,dict"`
	DroppedEvents int64 `parquet:"dropped_events,dict"`
	DroppedLinks  int64 `parquet:"dropped_links,dict"`
	// Span attributes: the block's most common keys each have a dedicated
	// column pair (value text, type; type -1 when the span lacks the key),
	// so each gets its own small dictionary and a scan reads one column.
	// The rest go to Attrs. AttrLayout restores the original order: one
	// byte per attribute, the dedicated slot or layoutGeneric; it is empty
	// when every attribute is generic.
	AttrLayout []byte     `parquet:"attr_layout,dict"`
	Attrs      []attrRow  `parquet:"attrs"`
	D0         string     `parquet:"d0,dict"`
	D0Type     int32      `parquet:"d0_type,dict"`
	D1         string     `parquet:"d1,dict"`
	D1Type     int32      `parquet:"d1_type,dict"`
	D2         string     `parquet:"d2,dict"`
	D2Type     int32      `parquet:"d2_type,dict"`
	D3         string     `parquet:"d3,dict"`
	D3Type     int32      `parquet:"d3_type,dict"`
	D4         string     `parquet:"d4,dict"`
	D4Type     int32      `parquet:"d4_type,dict"`
	D5         string     `parquet:"d5,dict"`
	D5Type     int32      `parquet:"d5_type,dict"`
	D6         string     `parquet:"d6,dict"`
	D6Type     int32      `parquet:"d6_type,dict"`
	D7         string     `parquet:"d7,dict"`
	D7Type     int32      `parquet:"d7_type,dict"`
	D8         string     `parquet:"d8,dict"`
	D8Type     int32      `parquet:"d8_type,dict"`
	D9         string     `parquet:"d9,dict"`
	D9Type     int32      `parquet:"d9_type,dict"`
	Events     []eventRow `parquet:"events"`
	Links      []linkRow  `parquet:"links"`
}

const (
	// dedicatedSlots is the most dedicated columns a block has: 16 from
	// v8 on, 10 before (slotsOf).
	dedicatedSlots = 16
	layoutGeneric  = 0xFF
	typeAbsent     = -1
)

// slotsOf is the number of dedicated columns a block of the given format
// version has.
func slotsOf(version int) int {
	if version >= FormatV8 {
		return dedicatedSlots
	}
	return 10
}

// dedicated returns the value and type fields of a dedicated slot.
func (r *spanRow) dedicated(slot int) (*string, *int32) {
	switch slot {
	case 0:
		return &r.D0, &r.D0Type
	case 1:
		return &r.D1, &r.D1Type
	case 2:
		return &r.D2, &r.D2Type
	case 3:
		return &r.D3, &r.D3Type
	case 4:
		return &r.D4, &r.D4Type
	case 5:
		return &r.D5, &r.D5Type
	case 6:
		return &r.D6, &r.D6Type
	case 7:
		return &r.D7, &r.D7Type
	case 8:
		return &r.D8, &r.D8Type
	case 9:
		return &r.D9, &r.D9Type
	}
	return nil, nil
}

// attrRow stores a value as its type and its Value.String() text. The text is
// exactly what tag search compares, so a predicate is one string comparison
// (or one dictionary-index comparison), whatever the value's type; and the
// text parses back to the same Value (see decodeValue).
type attrRow struct {
	Key  string `parquet:"key,dict"`
	Type int32  `parquet:"type,dict"`
	Val  string `parquet:"val,dict"`
}

type eventRow struct {
	TimeOffset int64     `parquet:"time_offset"` // event time - span start
	Name       string    `parquet:"name,dict"`
	Dropped    int64     `parquet:"dropped,dict"`
	Attrs      []attrRow `parquet:"attrs"`
}

type linkRow struct {
	TraceID    []byte    `parquet:"trace_id"`
	SpanID     []byte    `parquet:"span_id"`
	TraceState string    `parquet:"trace_state,dict"`
	Flags      int64     `parquet:"flags,dict"`
	Dropped    int64     `parquet:"dropped,dict"`
	Attrs      []attrRow `parquet:"attrs"`
}

// ParentIndex values below zero; zero and above give the parent's position
// among the trace's spans in the block.
const (
	parentNone     = -1 // root span: ParentSpanID is zero
	parentExplicit = -2 // parent not in this block: ParentID holds it
)

func appendAttrs(dst []attrRow, attrs []model.Attribute) []attrRow {
	for i := range attrs {
		a := &attrs[i]
		dst = append(dst, attrRow{Key: a.Key, Type: int32(a.Value.Type), Val: a.Value.String()})
	}
	return dst
}

// spanAttrs rebuilds a span's attributes from the dedicated columns, the
// generic list and the layout.
func (r *spanRow) spanAttrs(keys []string) []model.Attribute {
	if len(r.AttrLayout) == 0 {
		return decodeAttrs(r.Attrs)
	}
	out := make([]model.Attribute, 0, len(r.AttrLayout))
	g := 0
	for _, slot := range r.AttrLayout {
		if slot == layoutGeneric {
			if g < len(r.Attrs) {
				out = append(out, model.Attribute{Key: r.Attrs[g].Key, Value: model.ParseValue(model.ValueType(r.Attrs[g].Type), r.Attrs[g].Val)})
				g++
			}
			continue
		}
		val, typ := r.dedicated(int(slot))
		if val == nil || int(slot) >= len(keys) || *typ == typeAbsent {
			continue // corrupt layout; drop rather than invent
		}
		out = append(out, model.Attribute{Key: keys[slot], Value: model.ParseValue(model.ValueType(*typ), *val)})
	}
	return out
}

func decodeAttrs(rows []attrRow) []model.Attribute {
	if len(rows) == 0 {
		return nil
	}
	out := make([]model.Attribute, len(rows))
	for i := range rows {
		out[i] = model.Attribute{Key: rows[i].Key, Value: model.ParseValue(model.ValueType(rows[i].Type), rows[i].Val)}
	}
	return out
}
