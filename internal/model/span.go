package model

import (
	"encoding/base64"
	"math"
	"strconv"
	"time"
)

// SpanKind uses OTLP's numbering.
type SpanKind uint8

// Span kinds, numbered as in OTLP.
const (
	KindUnspecified SpanKind = iota
	KindInternal
	KindServer
	KindClient
	KindProducer
	KindConsumer
)

var kindNames = [...]string{"unspecified", "internal", "server", "client", "producer", "consumer"}

// String is the lowercase name Jaeger uses in the span.kind tag ("server", ...).
func (k SpanKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unspecified"
}

// ParseSpanKind reads a kind name in any case, with or without OTLP's
// SPAN_KIND_ prefix. Unknown names give KindUnspecified and false.
func ParseSpanKind(s string) (SpanKind, bool) {
	s = lowerASCII(s)
	if len(s) > 10 && s[:10] == "span_kind_" {
		s = s[10:]
	}
	for i, n := range kindNames {
		if n == s {
			return SpanKind(i), true
		}
	}
	return KindUnspecified, false
}

// StatusCode uses OTLP's numbering.
type StatusCode uint8

// Status codes, numbered as in OTLP.
const (
	StatusUnset StatusCode = iota
	StatusOK
	StatusError
)

// String is the name OTel uses in otel.status_code ("OK", "ERROR"; "" for unset).
func (c StatusCode) String() string {
	switch c {
	case StatusOK:
		return "OK"
	case StatusError:
		return "ERROR"
	}
	return ""
}

// Span is one span as stored. Times are Unix nanoseconds.
type Span struct {
	TraceID       TraceID
	SpanID        SpanID
	ParentSpanID  SpanID // zero for a root span
	TraceState    string
	Flags         uint32
	Name          string
	Kind          SpanKind
	StartUnixNano int64
	EndUnixNano   int64
	StatusCode    StatusCode
	StatusMessage string

	Attributes             []Attribute
	DroppedAttributesCount uint32
	Events                 []Event
	DroppedEventsCount     uint32
	Links                  []Link
	DroppedLinksCount      uint32

	Resource *Resource // shared by the spans of one resource; never nil in stored spans
	Scope    *Scope    // shared by the spans of one scope; never nil in stored spans
}

// Resource describes the entity that produced spans.
type Resource struct {
	ServiceName            string // resource attribute service.name, or "unknown_service"
	Attributes             []Attribute
	DroppedAttributesCount uint32
	SchemaURL              string
}

// Scope is the instrumentation scope that produced spans.
type Scope struct {
	Name                   string
	Version                string
	Attributes             []Attribute
	DroppedAttributesCount uint32
	SchemaURL              string
}

// Event is a timestamped annotation on a span (Jaeger calls them logs).
type Event struct {
	TimeUnixNano           int64
	Name                   string
	Attributes             []Attribute
	DroppedAttributesCount uint32
}

// Link points from a span to a span of the same or another trace.
type Link struct {
	TraceID                TraceID
	SpanID                 SpanID
	TraceState             string
	Flags                  uint32
	Attributes             []Attribute
	DroppedAttributesCount uint32
}

// UnknownService is the service name of spans whose resource has none.
const UnknownService = "unknown_service"

// Duration is End - Start, never negative.
func (s *Span) Duration() time.Duration {
	if s.EndUnixNano < s.StartUnixNano {
		return 0
	}
	return time.Duration(s.EndUnixNano - s.StartUnixNano)
}

// Service is the span's service name.
func (s *Span) Service() string {
	if s.Resource == nil || s.Resource.ServiceName == "" {
		return UnknownService
	}
	return s.Resource.ServiceName
}

// IsError reports whether the span failed: status ERROR, or (legacy tracers)
// an error=true attribute.
func (s *Span) IsError() bool {
	if s.StatusCode == StatusError {
		return true
	}
	v, ok := Lookup(s.Attributes, "error")
	return ok && ((v.Type == ValueBool && v.Int != 0) || (v.Type == ValueString && v.Str == "true"))
}

// Lookup returns the value of key in attrs.
func Lookup(attrs []Attribute, key string) (Value, bool) {
	for i := range attrs {
		if attrs[i].Key == key {
			return attrs[i].Value, true
		}
	}
	return Value{}, false
}

// ValueType tells which field of a Value holds the value.
type ValueType uint8

// Value types, as in OTLP's AnyValue.
const (
	ValueEmpty  ValueType = iota
	ValueString           // Str
	ValueBool             // Int: 0 or 1
	ValueInt              // Int
	ValueDouble           // Float
	ValueBytes            // Str holds the raw bytes
	ValueArray            // Str holds the JSON form of the array (see Raw)
	ValueMap              // Str holds the JSON form of the map (see Raw)
)

// Value is an attribute value. It is small and comparable.
type Value struct {
	Type  ValueType
	Str   string
	Int   int64
	Float float64
}

// Attribute is one key/value pair.
type Attribute struct {
	Key   string
	Value Value
}

// StringValue, BoolValue, IntValue and DoubleValue build Values.
func StringValue(s string) Value { return Value{Type: ValueString, Str: s} }

// BoolValue builds a boolean Value.
func BoolValue(b bool) Value {
	v := Value{Type: ValueBool}
	if b {
		v.Int = 1
	}
	return v
}

// IntValue builds an integer Value.
func IntValue(i int64) Value { return Value{Type: ValueInt, Int: i} }

// DoubleValue builds a floating-point Value.
func DoubleValue(f float64) Value { return Value{Type: ValueDouble, Float: f} }

// String renders the value the way tag search compares it: "true", "200",
// "1.5", the string itself, or the JSON of an array or map. Bytes render as
// standard base64, as in OTLP/JSON.
func (v Value) String() string {
	switch v.Type {
	case ValueString, ValueArray, ValueMap:
		return v.Str
	case ValueBool:
		return strconv.FormatBool(v.Int != 0)
	case ValueInt:
		return strconv.FormatInt(v.Int, 10)
	case ValueDouble:
		return strconv.FormatFloat(v.Float, 'g', -1, 64)
	case ValueBytes:
		return base64Std(v.Str)
	}
	return ""
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// ParseValue is the inverse of Value.String for a value of type t: blocks
// store every attribute as its type plus its string form, so tag matching is
// one string comparison, and rebuild the value with this.
func ParseValue(t ValueType, s string) Value {
	v := Value{Type: t}
	switch t {
	case ValueBool:
		if s == "true" {
			v.Int = 1
		}
	case ValueInt:
		v.Int, _ = strconv.ParseInt(s, 10, 64)
	case ValueDouble:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && s == "NaN" {
			f = math.NaN()
		}
		v.Float = f
	case ValueBytes:
		b, _ := base64.StdEncoding.DecodeString(s)
		v.Str = string(b)
	case ValueEmpty:
	default:
		v.Str = s
	}
	return v
}
