// Package otlptest builds hostile OTLP requests for tests: attribute values
// and log bodies nested as deep as asked, in the protobuf and JSON encodings,
// written directly (not through pdata, whose own recursion could not build
// them) in one pass, so a million levels cost a few megabytes and milliseconds.
package otlptest

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// Nesting picks the container repeated at every level.
type Nesting int

const (
	// Array nests AnyValue{array_value: ArrayValue{values: [AnyValue{...}]}}.
	Array Nesting = iota
	// KVList nests AnyValue{kvlist_value: KeyValueList{values: [{key: "k", value: AnyValue{...}}]}}.
	KVList
)

func (n Nesting) String() string {
	if n == KVList {
		return "kvlist"
	}
	return "array"
}

// TraceID and SpanID are the IDs of the one span in every request built here.
var (
	TraceID = [16]byte{0xde, 0xe9}
	SpanID  = [8]byte{0xde, 0xe9}
)

// layer is one enclosing message: its fields before the nested one
// (pres[pre]), then the nested one, field number num. Layers hold no pointers
// and are two bytes, so a million levels stay cheap to build.
type layer struct {
	pre uint8
	num uint8
}

// builder collects layers, outermost first, and the fields they start with.
type builder struct {
	pres   [][]byte
	layers []layer
}

func (b *builder) add(pre []byte, num protowire.Number) {
	b.pres = append(b.pres, pre)
	b.layers = append(b.layers, layer{pre: uint8(len(b.pres) - 1), num: uint8(num)})
}

// addValues adds levels containers of kind; the innermost AnyValue is the
// caller's.
func (b *builder) addValues(levels int, kind Nesting) {
	b.pres = append(b.pres, nil, str(1, "k"))
	none, key := uint8(len(b.pres)-2), uint8(len(b.pres)-1)
	b.layers = slices.Grow(b.layers, 3*levels)
	for range levels {
		if kind == KVList {
			// AnyValue.kvlist_value, KeyValueList.values, KeyValue.value
			b.layers = append(b.layers, layer{none, 6}, layer{none, 1}, layer{key, 2})
		} else {
			// AnyValue.array_value, ArrayValue.values
			b.layers = append(b.layers, layer{none, 5}, layer{none, 1})
		}
	}
}

// encode writes the layers around inner.
func (b *builder) encode(inner []byte) []byte {
	sizes := make([]int, len(b.layers)+1) // sizes[i]: encoded size of the message at layer i
	sizes[len(b.layers)] = len(inner)
	for i := len(b.layers) - 1; i >= 0; i-- {
		l := b.layers[i]
		num := protowire.Number(l.num)
		sizes[i] = len(b.pres[l.pre]) + protowire.SizeTag(num) + protowire.SizeBytes(sizes[i+1])
	}
	out := make([]byte, 0, sizes[0])
	for i, l := range b.layers {
		out = append(out, b.pres[l.pre]...)
		out = protowire.AppendTag(out, protowire.Number(l.num), protowire.BytesType)
		out = protowire.AppendVarint(out, uint64(sizes[i+1]))
	}
	return append(out, inner...)
}

func str(num protowire.Number, s string) []byte {
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// innermost is AnyValue{string_value: "x"}.
var innermost = str(1, "x")

func spanFields(name string) []byte {
	b := protowire.AppendTag(nil, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, TraceID[:])
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, SpanID[:])
	b = append(b, str(5, name)...)
	b = protowire.AppendTag(b, 7, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, 1_700_000_000_000_000_000)
	b = protowire.AppendTag(b, 8, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, 1_700_000_000_001_000_000)
}

// TracesProto is an ExportTraceServiceRequest with one span whose attribute
// "deep" holds levels containers of kind around the string "x".
func TracesProto(levels int, kind Nesting) []byte {
	var b builder
	b.add(nil, 1)                // ExportTraceServiceRequest.resource_spans
	b.add(nil, 2)                // ResourceSpans.scope_spans
	b.add(nil, 2)                // ScopeSpans.spans
	b.add(spanFields("deep"), 9) // Span.attributes
	b.add(str(1, "deep"), 2)     // KeyValue.value
	b.addValues(levels, kind)
	return b.encode(innermost)
}

// LogsProto is an ExportLogsServiceRequest with one log record whose body
// holds levels containers of kind around the string "x".
func LogsProto(levels int, kind Nesting) []byte {
	var rec []byte
	rec = protowire.AppendTag(rec, 1, protowire.Fixed64Type)
	rec = protowire.AppendFixed64(rec, 1_700_000_000_000_000_000)
	var b builder
	b.add(nil, 1) // ExportLogsServiceRequest.resource_logs
	b.add(nil, 2) // ResourceLogs.scope_logs
	b.add(nil, 2) // ScopeLogs.log_records
	b.add(rec, 5) // LogRecord.body
	b.addValues(levels, kind)
	return b.encode(innermost)
}

// MetricsProto is an ExportMetricsServiceRequest with one gauge point whose
// attribute "deep" holds levels containers of kind around the string "x".
func MetricsProto(levels int, kind Nesting) []byte {
	var point []byte
	point = protowire.AppendTag(point, 6, protowire.Fixed64Type) // as_int
	point = binary.LittleEndian.AppendUint64(point, 1)
	var b builder
	b.add(nil, 1)            // ExportMetricsServiceRequest.resource_metrics
	b.add(nil, 2)            // ResourceMetrics.scope_metrics
	b.add(nil, 2)            // ScopeMetrics.metrics
	b.add(str(1, "m"), 5)    // Metric.gauge
	b.add(nil, 1)            // Gauge.data_points
	b.add(point, 7)          // NumberDataPoint.attributes
	b.add(str(1, "deep"), 2) // KeyValue.value
	b.addValues(levels, kind)
	return b.encode(innermost)
}

// jsonValue writes levels containers of kind around {"stringValue":"x"}.
func jsonValue(b *bytes.Buffer, levels int, kind Nesting) {
	open, close := `{"arrayValue":{"values":[`, `]}}`
	if kind == KVList {
		open, close = `{"kvlistValue":{"values":[{"key":"k","value":`, `}]}}`
	}
	b.Grow(levels * (len(open) + len(close)))
	b.WriteString(strings.Repeat(open, levels))
	b.WriteString(`{"stringValue":"x"}`)
	b.WriteString(strings.Repeat(close, levels))
}

// TracesJSON is TracesProto in OTLP/JSON.
func TracesJSON(levels int, kind Nesting) []byte {
	var b bytes.Buffer
	b.WriteString(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"dee90000000000000000000000000000","spanId":"dee9000000000000",` +
		`"name":"deep","startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000001000000","attributes":[{"key":"deep","value":`)
	jsonValue(&b, levels, kind)
	b.WriteString(`}]}]}]}]}`)
	return b.Bytes()
}

// LogsJSON is LogsProto in OTLP/JSON.
func LogsJSON(levels int, kind Nesting) []byte {
	var b bytes.Buffer
	b.WriteString(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000000","body":`)
	jsonValue(&b, levels, kind)
	b.WriteString(`}]}]}]}`)
	return b.Bytes()
}
