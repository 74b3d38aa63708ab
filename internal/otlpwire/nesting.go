package otlpwire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// MaxValueDepth is how deeply arrays and maps (OTLP's ArrayValue and
// KeyValueList) may nest inside one attribute value or log body: a value
// [[1]] has depth 2. Every later walk over a value (conversion, limits,
// redaction, the JSON form the store keeps) recurses, and a Go stack overflow
// kills the process rather than panicking, so a deeper request is refused
// before it is decoded. Real instrumentation nests a handful of levels.
const MaxValueDepth = 64

// maxJSONDepth bounds the raw nesting of brackets in an OTLP/JSON body: the
// fixed envelope (about a dozen levels down to an event's attribute) plus four
// per value level, with room to spare. It only guards against deep nesting in
// fields OTLP does not define, which the decoder skips.
const maxJSONDepth = 4*MaxValueDepth + 64

// ErrTooDeep is the decode error for a request nested past MaxValueDepth.
var ErrTooDeep = fmt.Errorf("an attribute value or log body nests arrays and maps more than %d levels deep", MaxValueDepth)

// ErrMalformed is returned by the protobuf pre-scan for bytes that are not a
// well-formed protobuf message.
var ErrMalformed = errors.New("malformed protobuf")

// Message identifies an OTLP protobuf message type, for the pre-scan. Only
// the types on a path from a request to an AnyValue are named; any other
// field is skipped without looking inside.
type Message uint8

// The request types a scan can start from.
const (
	// Traces is ExportTraceServiceRequest, also TracesData (the same fields).
	Traces Message = msgTracesRequest
	// Logs is ExportLogsServiceRequest, also LogsData.
	Logs Message = msgLogsRequest
	// Metrics is ExportMetricsServiceRequest, also MetricsData.
	Metrics Message = msgMetricsRequest
)

const (
	msgOther Message = iota
	msgTracesRequest
	msgResourceSpans
	msgScopeSpans
	msgSpan
	msgSpanEvent
	msgSpanLink
	msgLogsRequest
	msgResourceLogs
	msgScopeLogs
	msgLogRecord
	msgMetricsRequest
	msgResourceMetrics
	msgScopeMetrics
	msgMetric
	msgNumberPoints // Gauge and Sum
	msgHistogram
	msgExpHistogram
	msgSummary
	msgNumberDataPoint
	msgHistogramDataPoint
	msgExpHistogramDataPoint
	msgSummaryDataPoint
	msgExemplar
	msgResource
	msgScope
	msgKeyValue
	msgAnyValue
	msgArrayValue
	msgKeyValueList
)

// field returns the message type of field num of m, or msgOther when that
// field cannot lead to an AnyValue. Field numbers are those of
// opentelemetry-proto (collector/*/v1, trace/v1, logs/v1, metrics/v1,
// common/v1, resource/v1).
func (m Message) field(num protowire.Number) Message {
	switch m {
	case msgTracesRequest:
		return pick(num, 1, msgResourceSpans)
	case msgResourceSpans:
		return pick2(num, 1, msgResource, 2, msgScopeSpans)
	case msgScopeSpans:
		return pick2(num, 1, msgScope, 2, msgSpan)
	case msgSpan:
		switch num {
		case 9:
			return msgKeyValue
		case 11:
			return msgSpanEvent
		case 13:
			return msgSpanLink
		}
	case msgSpanEvent:
		return pick(num, 3, msgKeyValue)
	case msgSpanLink:
		return pick(num, 4, msgKeyValue)
	case msgLogsRequest:
		return pick(num, 1, msgResourceLogs)
	case msgResourceLogs:
		return pick2(num, 1, msgResource, 2, msgScopeLogs)
	case msgScopeLogs:
		return pick2(num, 1, msgScope, 2, msgLogRecord)
	case msgLogRecord:
		return pick2(num, 5, msgAnyValue, 6, msgKeyValue)
	case msgMetricsRequest:
		return pick(num, 1, msgResourceMetrics)
	case msgResourceMetrics:
		return pick2(num, 1, msgResource, 2, msgScopeMetrics)
	case msgScopeMetrics:
		return pick2(num, 1, msgScope, 2, msgMetric)
	case msgMetric:
		switch num {
		case 5, 7:
			return msgNumberPoints
		case 9:
			return msgHistogram
		case 10:
			return msgExpHistogram
		case 11:
			return msgSummary
		case 12:
			return msgKeyValue
		}
	case msgNumberPoints:
		return pick(num, 1, msgNumberDataPoint)
	case msgHistogram:
		return pick(num, 1, msgHistogramDataPoint)
	case msgExpHistogram:
		return pick(num, 1, msgExpHistogramDataPoint)
	case msgSummary:
		return pick(num, 1, msgSummaryDataPoint)
	case msgNumberDataPoint:
		return pick2(num, 7, msgKeyValue, 5, msgExemplar)
	case msgHistogramDataPoint:
		return pick2(num, 9, msgKeyValue, 8, msgExemplar)
	case msgExpHistogramDataPoint:
		return pick2(num, 1, msgKeyValue, 11, msgExemplar)
	case msgSummaryDataPoint:
		return pick(num, 7, msgKeyValue)
	case msgExemplar:
		return pick(num, 7, msgKeyValue)
	case msgResource:
		return pick(num, 1, msgKeyValue)
	case msgScope:
		return pick(num, 3, msgKeyValue)
	case msgKeyValue:
		return pick(num, 2, msgAnyValue)
	case msgAnyValue:
		return pick2(num, 5, msgArrayValue, 6, msgKeyValueList)
	case msgArrayValue:
		return pick(num, 1, msgAnyValue)
	case msgKeyValueList:
		return pick(num, 1, msgKeyValue)
	}
	return msgOther
}

func pick(num, want protowire.Number, m Message) Message {
	if num == want {
		return m
	}
	return msgOther
}

func pick2(num, a protowire.Number, ma Message, b protowire.Number, mb Message) Message {
	if num == a {
		return ma
	}
	return pick(num, b, mb)
}

// CheckNesting scans an OTLP message of type root in protobuf wire format,
// without recursion, and reports ErrTooDeep when a value nests past
// MaxValueDepth, ErrMalformed when the bytes are not protobuf. It allocates
// only its stack, whose height the depth bound caps.
func CheckNesting(b []byte, root Message) error {
	type frame struct {
		msg   Message
		end   int // offset in b where this message ends
		depth int // arrays and maps enclosing this message, itself included
	}
	stack := make([]frame, 1, 32)
	stack[0] = frame{msg: root, end: len(b)}
	pos := 0
	for len(stack) > 0 {
		top := stack[len(stack)-1]
		if pos == top.end {
			stack = stack[:len(stack)-1]
			continue
		}
		in := b[pos:top.end]
		num, typ, n := protowire.ConsumeTag(in)
		if n < 0 {
			return ErrMalformed
		}
		in = in[n:]
		if typ != protowire.BytesType {
			// Scalars and (deprecated) groups; protowire bounds the
			// recursion of nested groups itself.
			m := protowire.ConsumeFieldValue(num, typ, in)
			if m < 0 {
				return ErrMalformed
			}
			pos += n + m
			continue
		}
		size, m := protowire.ConsumeVarint(in)
		if m < 0 || size > uint64(len(in)-m) {
			return ErrMalformed
		}
		start := pos + n + m
		child := top.msg.field(num)
		if child == msgOther {
			pos = start + int(size)
			continue
		}
		depth := top.depth
		if child == msgArrayValue || child == msgKeyValueList {
			depth++
			if depth > MaxValueDepth {
				return ErrTooDeep
			}
		}
		stack = append(stack, frame{msg: child, end: start + int(size), depth: depth})
		pos = start
	}
	return nil
}

// CheckJSONNesting scans an OTLP/JSON body, without recursion, and reports
// ErrTooDeep when a value nests past MaxValueDepth: it counts the objects
// opened as the value of an "arrayValue" or "kvlistValue" key (either
// spelling, escapes decoded as the decoder would), and refuses any bracket
// nesting past maxJSONDepth. It does not validate the JSON; the decoder does.
func CheckJSONNesting(b []byte) error {
	// depths[i] is the value depth inside the i-th open bracket.
	depths := make([]int, 0, 32)
	depth := 0
	containerKey := false // the last token was a key naming an array or map value
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			end := stringEnd(b, i)
			tok := b[i:end]
			i = end - 1
			j := end
			for j < len(b) && isJSONSpace(b[j]) {
				j++
			}
			containerKey = j < len(b) && b[j] == ':' && isContainerKey(tok)
		case '{', '[':
			if len(depths) == maxJSONDepth {
				return ErrTooDeep
			}
			depths = append(depths, depth)
			if c == '{' && containerKey {
				depth++
				if depth > MaxValueDepth {
					return ErrTooDeep
				}
			}
			containerKey = false
		case '}', ']':
			if n := len(depths); n > 0 {
				depth = depths[n-1]
				depths = depths[:n-1]
			}
			containerKey = false
		case ':', ' ', '\t', '\n', '\r':
		default:
			containerKey = false
		}
	}
	return nil
}

// stringEnd returns the offset just past the JSON string starting at b[i]
// (a '"'), or len(b) when it is not closed.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// isContainerKey reports whether the quoted JSON string tok names AnyValue's
// array or map field, in either of the spellings the decoder accepts.
func isContainerKey(tok []byte) bool {
	if len(tok) < 2 || len(tok) > 128 || tok[len(tok)-1] != '"' {
		return false // not closed, or longer than any spelling with every letter escaped
	}
	if bytes.IndexByte(tok, '\\') >= 0 {
		var s string
		if json.Unmarshal(tok, &s) != nil {
			return false
		}
		tok = []byte(s)
	} else {
		tok = tok[1 : len(tok)-1]
	}
	switch string(tok) {
	case "arrayValue", "array_value", "kvlistValue", "kvlist_value":
		return true
	}
	return false
}
