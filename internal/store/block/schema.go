package block

import (
	"encoding/base64"
	"math"
	"strconv"

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
	DroppedAttrs  int64      `parquet:"dropped_attrs,dict"`
	DroppedEvents int64      `parquet:"dropped_events,dict"`
	DroppedLinks  int64      `parquet:"dropped_links,dict"`
	Attrs         []attrRow  `parquet:"attrs"`
	Events        []eventRow `parquet:"events"`
	Links         []linkRow  `parquet:"links"`
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

// decodeValue is the inverse of Value.String() given the type. It is exact
// for every value except NaNs with a non-canonical payload (all NaNs read
// back as math.NaN()).
func decodeValue(t int32, s string) model.Value {
	v := model.Value{Type: model.ValueType(t)}
	switch v.Type {
	case model.ValueString, model.ValueArray, model.ValueMap:
		v.Str = s
	case model.ValueBool:
		if s == "true" {
			v.Int = 1
		}
	case model.ValueInt:
		v.Int, _ = strconv.ParseInt(s, 10, 64)
	case model.ValueDouble:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && s == "NaN" {
			f = math.NaN()
		}
		v.Float = f
	case model.ValueBytes:
		b, _ := base64.StdEncoding.DecodeString(s)
		v.Str = string(b)
	case model.ValueEmpty:
	default:
		v.Str = s
	}
	return v
}

func decodeAttrs(rows []attrRow) []model.Attribute {
	if len(rows) == 0 {
		return nil
	}
	out := make([]model.Attribute, len(rows))
	for i := range rows {
		out[i] = model.Attribute{Key: rows[i].Key, Value: decodeValue(rows[i].Type, rows[i].Val)}
	}
	return out
}
