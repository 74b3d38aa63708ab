package jaeger

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"

	"github.com/jaegertracing/jaeger-idl/thrift-gen/jaeger"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Tag keys the OpenTelemetry Jaeger mapping gives a meaning beyond "attribute".
const (
	tagSpanKind          = "span.kind"
	tagError             = "error"
	tagStatusCode        = "otel.status_code"
	tagStatusDescription = "otel.status_description"
	tagScopeName         = "otel.scope.name"
	tagScopeVersion      = "otel.scope.version"
	tagLibraryName       = "otel.library.name"    // deprecated spelling of otel.scope.name
	tagLibraryVersion    = "otel.library.version" // deprecated spelling of otel.scope.version
	tagTraceState        = "w3c.tracestate"
	logFieldEvent        = "event"

	attrServiceName      = "service.name"
	attrRefType          = "opentracing.ref_type"
	attrSamplingPriority = "sampling.priority"

	unknownService = "unknown_service"
)

// Jaeger span flags (jaeger-client SpanContext flags).
const (
	flagSampled = 0x01
	flagDebug   = 0x02
)

// w3cSampled is the sampled bit of the W3C trace flags kept in the low byte of
// an OTLP span's flags.
const w3cSampled = 0x01

// toTraces converts one Jaeger batch into a pdata batch: the process becomes
// the resource, spans are grouped into scopes by their otel.scope.* tags.
func toTraces(b *jaeger.Batch) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	res := rs.Resource().Attributes()
	service := ""
	if p := b.GetProcess(); p != nil {
		putTags(res, p.GetTags())
		service = p.GetServiceName()
	}
	if service == "" {
		service = unknownService
	}
	// serviceName is the authoritative field; a process tag of the same name loses.
	res.PutStr(attrServiceName, service)

	scopes := make(map[scopeKey]ptrace.SpanSlice)
	for _, s := range b.GetSpans() {
		if s == nil {
			continue
		}
		key := spanScope(s)
		spans, ok := scopes[key]
		if !ok {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName(key.name)
			ss.Scope().SetVersion(key.version)
			spans = ss.Spans()
			scopes[key] = spans
		}
		convertSpan(spans.AppendEmpty(), s)
	}
	return td
}

type scopeKey struct{ name, version string }

func spanScope(s *jaeger.Span) scopeKey {
	var k scopeKey
	for _, t := range s.GetTags() {
		if t == nil {
			continue
		}
		switch t.GetKey() {
		case tagScopeName, tagLibraryName:
			k.name = tagString(t)
		case tagScopeVersion, tagLibraryVersion:
			k.version = tagString(t)
		}
	}
	return k
}

// spanStatus collects the tags that together decide the OTLP status.
type spanStatus struct {
	errorTag    bool
	code        string
	hasCode     bool
	description string
	hasDesc     bool
}

func convertSpan(dst ptrace.Span, s *jaeger.Span) {
	tid := traceID(s.GetTraceIdHigh(), s.GetTraceIdLow())
	dst.SetTraceID(tid)
	dst.SetSpanID(spanID(s.GetSpanId()))
	dst.SetName(s.GetOperationName())
	start := micros(s.GetStartTime())
	dst.SetStartTimestamp(start)
	dst.SetEndTimestamp(start + micros(s.GetDuration()))

	parent := s.GetParentSpanId()
	if parent == 0 {
		// Newer clients leave parentSpanId 0 and put the parent in references.
		for _, ref := range s.GetReferences() {
			if ref != nil && ref.GetRefType() == jaeger.SpanRefType_CHILD_OF &&
				traceID(ref.GetTraceIdHigh(), ref.GetTraceIdLow()) == tid {
				parent = ref.GetSpanId()
				break
			}
		}
	}
	if parent != 0 {
		dst.SetParentSpanID(spanID(parent))
	}
	for _, ref := range s.GetReferences() {
		if ref == nil {
			continue
		}
		rtid := traceID(ref.GetTraceIdHigh(), ref.GetTraceIdLow())
		if ref.GetRefType() == jaeger.SpanRefType_CHILD_OF && rtid == tid && ref.GetSpanId() == parent {
			continue // the parent itself, not a link
		}
		l := dst.Links().AppendEmpty()
		l.SetTraceID(rtid)
		l.SetSpanID(spanID(ref.GetSpanId()))
		if ref.GetRefType() == jaeger.SpanRefType_FOLLOWS_FROM {
			l.Attributes().PutStr(attrRefType, "follows_from")
		} else {
			l.Attributes().PutStr(attrRefType, "child_of")
		}
	}

	flags := s.GetFlags()
	if flags&(flagSampled|flagDebug) != 0 {
		// Debug spans are sampled by definition.
		dst.SetFlags(w3cSampled)
	}

	dst.SetKind(ptrace.SpanKindInternal)
	attrs := dst.Attributes()
	var st spanStatus
	for _, t := range s.GetTags() {
		if t == nil {
			continue
		}
		switch t.GetKey() {
		case tagSpanKind:
			if k, ok := spanKind(tagString(t)); ok {
				dst.SetKind(k)
				continue
			}
		case tagError:
			if tagBool(t) {
				st.errorTag = true
				continue
			}
		case tagStatusCode:
			st.code, st.hasCode = strings.ToUpper(tagString(t)), true
			continue
		case tagStatusDescription:
			st.description, st.hasDesc = tagString(t), true
			continue
		case tagScopeName, tagScopeVersion, tagLibraryName, tagLibraryVersion:
			continue // already used for grouping
		case tagTraceState:
			dst.TraceState().FromRaw(tagString(t))
			continue
		}
		putTag(attrs, t)
	}
	applyStatus(dst, attrs, st)
	if flags&flagDebug != 0 {
		// OTLP has no debug flag; sampling.priority=1 is the OpenTracing way of
		// saying "keep this span", which samplers downstream can honour.
		if _, ok := attrs.Get(attrSamplingPriority); !ok {
			attrs.PutInt(attrSamplingPriority, 1)
		}
	}

	for _, lg := range s.GetLogs() {
		if lg == nil {
			continue
		}
		ev := dst.Events().AppendEmpty()
		ev.SetTimestamp(micros(lg.GetTimestamp()))
		named := false
		for _, f := range lg.GetFields() {
			if f == nil {
				continue
			}
			if !named && f.GetKey() == logFieldEvent {
				ev.SetName(tagString(f))
				named = true
				continue
			}
			putTag(ev.Attributes(), f)
		}
	}
}

// applyStatus follows the collector's long-standing rule: error=true is the
// ultimate truth for a Jaeger span, otel.status_code is used only without it.
func applyStatus(dst ptrace.Span, attrs pcommon.Map, st spanStatus) {
	switch {
	case st.errorTag:
		dst.Status().SetCode(ptrace.StatusCodeError)
		dst.Status().SetMessage(st.description)
		return
	case st.hasCode && st.code == "ERROR":
		dst.Status().SetCode(ptrace.StatusCodeError)
		dst.Status().SetMessage(st.description)
		return
	case st.hasCode && st.code == "OK":
		dst.Status().SetCode(ptrace.StatusCodeOk)
	case st.hasCode:
		// An unknown code is data we cannot map; keep it rather than lose it.
		attrs.PutStr(tagStatusCode, st.code)
	}
	// A description only belongs to an ERROR status; elsewhere keep it as data.
	if st.hasDesc {
		attrs.PutStr(tagStatusDescription, st.description)
	}
}

func spanKind(v string) (ptrace.SpanKind, bool) {
	switch strings.ToLower(v) {
	case "client":
		return ptrace.SpanKindClient, true
	case "server":
		return ptrace.SpanKindServer, true
	case "producer":
		return ptrace.SpanKindProducer, true
	case "consumer":
		return ptrace.SpanKindConsumer, true
	case "internal":
		return ptrace.SpanKindInternal, true
	}
	return ptrace.SpanKindUnspecified, false
}

func putTags(dst pcommon.Map, tags []*jaeger.Tag) {
	for _, t := range tags {
		if t != nil {
			putTag(dst, t)
		}
	}
}

// putTag selects the value by vType: jaeger-client writes every value field of
// a tag, so "which field is set" says nothing. Numbers from JavaScript clients
// arrive as DOUBLE even when integral; they stay Double because guessing an
// Int would change the type of values that merely happen to be whole.
func putTag(dst pcommon.Map, t *jaeger.Tag) {
	k := t.GetKey()
	switch t.GetVType() {
	case jaeger.TagType_DOUBLE:
		dst.PutDouble(k, t.GetVDouble())
	case jaeger.TagType_BOOL:
		dst.PutBool(k, t.GetVBool())
	case jaeger.TagType_LONG:
		dst.PutInt(k, t.GetVLong())
	case jaeger.TagType_BINARY:
		dst.PutEmptyBytes(k).FromRaw(t.GetVBinary())
	default: // STRING, and unknown types from future clients
		dst.PutStr(k, t.GetVStr())
	}
}

// tagString renders a tag's value as text, for tags whose meaning is textual.
func tagString(t *jaeger.Tag) string {
	switch t.GetVType() {
	case jaeger.TagType_DOUBLE:
		return strconv.FormatFloat(t.GetVDouble(), 'g', -1, 64)
	case jaeger.TagType_BOOL:
		return strconv.FormatBool(t.GetVBool())
	case jaeger.TagType_LONG:
		return strconv.FormatInt(t.GetVLong(), 10)
	case jaeger.TagType_BINARY:
		return string(t.GetVBinary())
	default:
		return t.GetVStr()
	}
}

// tagBool reports whether a tag is true; some clients send error="true".
func tagBool(t *jaeger.Tag) bool {
	switch t.GetVType() {
	case jaeger.TagType_BOOL:
		return t.GetVBool()
	case jaeger.TagType_STRING:
		return strings.EqualFold(t.GetVStr(), "true")
	}
	return false
}

// traceID joins the two halves; a 64-bit ID (high = 0) ends up left-padded.
func traceID(high, low int64) pcommon.TraceID {
	var id [16]byte
	binary.BigEndian.PutUint64(id[:8], uint64(high))
	binary.BigEndian.PutUint64(id[8:], uint64(low))
	return id
}

func spanID(v int64) pcommon.SpanID {
	var id [8]byte
	binary.BigEndian.PutUint64(id[:], uint64(v))
	return id
}

// micros converts Jaeger microseconds to nanoseconds. Negative values (broken
// clocks, fuzzed input) become 0 and huge ones saturate instead of wrapping.
func micros(v int64) pcommon.Timestamp {
	if v <= 0 {
		return 0
	}
	if v > math.MaxInt64/1000 {
		return pcommon.Timestamp(math.MaxInt64)
	}
	return pcommon.Timestamp(v * 1000)
}
