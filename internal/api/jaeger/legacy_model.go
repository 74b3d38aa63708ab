package jaeger

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clewtrace/clew/internal/model"
)

// The types below mirror Jaeger's UI JSON model (model/json in Jaeger) field
// for field and in the same order, because clients and the fixtures compare
// output byte for byte in places. Slices that Jaeger always allocates
// (references, tags, logs, fields, process tags) must be non-nil here so they
// encode as [] rather than null; warnings are nil unless there is one.

// uiTrace is one trace in the legacy API.
type uiTrace struct {
	TraceID   string               `json:"traceID"`
	Spans     []uiSpan             `json:"spans"`
	Processes map[string]uiProcess `json:"processes"`
	Warnings  []string             `json:"warnings"`
}

type uiSpan struct {
	TraceID       string        `json:"traceID"`
	SpanID        string        `json:"spanID"`
	Flags         uint32        `json:"flags,omitempty"` // left 0 like Jaeger's OTLP translator, so omitted
	OperationName string        `json:"operationName"`
	References    []uiReference `json:"references"`
	StartTime     int64         `json:"startTime"` // Unix µs
	Duration      int64         `json:"duration"`  // µs
	Tags          []uiKeyValue  `json:"tags"`
	Logs          []uiLog       `json:"logs"`
	ProcessID     string        `json:"processID"`
	Warnings      []string      `json:"warnings"`
}

type uiReference struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

type uiProcess struct {
	ServiceName string       `json:"serviceName"`
	Tags        []uiKeyValue `json:"tags"`
}

type uiLog struct {
	Timestamp int64        `json:"timestamp"` // Unix µs
	Fields    []uiKeyValue `json:"fields"`
}

type uiKeyValue struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// Jaeger's names for OTel concepts its span model lacks; the same keys the
// OpenTelemetry-to-Jaeger translator (and so Jaeger itself) emits.
const (
	tagSpanKind          = "span.kind"
	tagStatusCode        = "otel.status_code"
	tagStatusDescription = "otel.status_description"
	tagError             = "error"
	tagScopeName         = "otel.scope.name"
	tagScopeVersion      = "otel.scope.version"
	tagTraceState        = "w3c.tracestate"
	logEventField        = "event"
	linkRefTypeAttr      = "opentracing.ref_type"
)

const (
	refChildOf     = "CHILD_OF"
	refFollowsFrom = "FOLLOWS_FROM"
)

// legacyTraceID renders a trace ID as Jaeger does: 64-bit IDs (high half
// zero) as 16 hex digits, others as 32.
func legacyTraceID(id model.TraceID) string {
	if binary.BigEndian.Uint64(id[:8]) == 0 {
		return id.String()[16:]
	}
	return id.String()
}

// toUITrace converts one trace's spans, in the order given. Processes are
// numbered p1, p2, ... in order of first appearance; spans whose resources
// render to the same process share one, as in Jaeger.
func toUITrace(spans []model.Span) uiTrace {
	t := uiTrace{
		Spans:     make([]uiSpan, 0, len(spans)),
		Processes: map[string]uiProcess{},
	}
	if len(spans) > 0 {
		t.TraceID = legacyTraceID(spans[0].TraceID)
	}
	// Spans of one resource share a pointer, so most lookups hit byPtr and
	// only the first span of each resource pays for the content key.
	byPtr := map[*model.Resource]string{}
	byContent := map[string]string{}
	for i := range spans {
		s := &spans[i]
		pid, ok := byPtr[s.Resource]
		if !ok {
			p := toUIProcess(s)
			key := processKey(p)
			if pid, ok = byContent[key]; !ok {
				pid = "p" + strconv.Itoa(len(byContent)+1)
				byContent[key] = pid
				t.Processes[pid] = p
			}
			byPtr[s.Resource] = pid
		}
		t.Spans = append(t.Spans, toUISpan(s, pid))
	}
	return t
}

func toUIProcess(s *model.Span) uiProcess {
	p := uiProcess{ServiceName: s.Service(), Tags: []uiKeyValue{}}
	if s.Resource == nil {
		return p
	}
	for _, a := range sortedAttrs(s.Resource.Attributes) {
		if a.Key == "service.name" {
			continue
		}
		p.Tags = append(p.Tags, toUIKeyValue(a.Key, a.Value))
	}
	return p
}

// processKey identifies a process by its rendered content.
func processKey(p uiProcess) string {
	var b strings.Builder
	b.WriteString(p.ServiceName)
	for _, kv := range p.Tags {
		fmt.Fprintf(&b, "\x00%s\x01%s\x01%v", kv.Key, kv.Type, kv.Value)
	}
	return b.String()
}

func toUISpan(s *model.Span, processID string) uiSpan {
	traceID := legacyTraceID(s.TraceID)
	out := uiSpan{
		TraceID:       traceID,
		SpanID:        s.SpanID.String(),
		OperationName: s.Name,
		References:    toUIReferences(s, traceID),
		StartTime:     s.StartUnixNano / 1000,
		Duration:      int64(s.Duration() / 1000),
		Tags:          toUITags(s),
		Logs:          make([]uiLog, 0, len(s.Events)),
		ProcessID:     processID,
	}
	for _, e := range s.Events {
		out.Logs = append(out.Logs, toUILog(e))
	}
	// The pipeline keeps a span that ended before it started with duration
	// 0 and this marker (limits.AttrEndBeforeStart); Jaeger shows such
	// adjustments as span warnings.
	if v, ok := model.Lookup(s.Attributes, "clew.end_before_start_ns"); ok {
		out.Warnings = []string{fmt.Sprintf("end time was %s before the start time; duration shown as 0", time.Duration(v.Int))}
	}
	return out
}

// toUIReferences puts the parent first as CHILD_OF (clients look for the
// parent there) and links after it as FOLLOWS_FROM, unless a link says
// opentracing.ref_type=child_of. A link to the parent only changes the
// parent's reference type, as in Jaeger's translator.
func toUIReferences(s *model.Span, traceID string) []uiReference {
	refs := make([]uiReference, 0, len(s.Links)+1)
	hasParent := !s.ParentSpanID.IsZero()
	if hasParent {
		refs = append(refs, uiReference{RefType: refChildOf, TraceID: traceID, SpanID: s.ParentSpanID.String()})
	}
	for _, l := range s.Links {
		refType := refFollowsFrom
		if v, ok := model.Lookup(l.Attributes, linkRefTypeAttr); ok && v.String() == "child_of" {
			refType = refChildOf
		}
		if hasParent && l.TraceID == s.TraceID && l.SpanID == s.ParentSpanID {
			refs[0].RefType = refType
			continue
		}
		refs = append(refs, uiReference{RefType: refType, TraceID: legacyTraceID(l.TraceID), SpanID: l.SpanID.String()})
	}
	return refs
}

// toUITags orders tags as Jaeger does: scope, attributes (sorted by key),
// span.kind, status code, error, status description, trace state.
func toUITags(s *model.Span) []uiKeyValue {
	tags := make([]uiKeyValue, 0, len(s.Attributes)+6)
	if s.Scope != nil {
		if s.Scope.Name != "" {
			tags = append(tags, stringTag(tagScopeName, s.Scope.Name))
		}
		if s.Scope.Version != "" {
			tags = append(tags, stringTag(tagScopeVersion, s.Scope.Version))
		}
	}
	for _, a := range sortedAttrs(s.Attributes) {
		tags = append(tags, toUIKeyValue(a.Key, a.Value))
	}
	if s.Kind != model.KindUnspecified {
		tags = append(tags, stringTag(tagSpanKind, s.Kind.String()))
	}
	switch s.StatusCode {
	case model.StatusOK:
		tags = append(tags, stringTag(tagStatusCode, s.StatusCode.String()))
	case model.StatusError:
		tags = append(tags, stringTag(tagStatusCode, s.StatusCode.String()),
			uiKeyValue{Key: tagError, Type: "bool", Value: true})
	}
	if s.StatusMessage != "" {
		tags = append(tags, stringTag(tagStatusDescription, s.StatusMessage))
	}
	if s.TraceState != "" {
		tags = append(tags, stringTag(tagTraceState, s.TraceState))
	}
	return tags
}

// toUILog puts the event name first as the "event" field, unless an
// attribute already carries that key.
func toUILog(e model.Event) uiLog {
	l := uiLog{Timestamp: e.TimeUnixNano / 1000, Fields: make([]uiKeyValue, 0, len(e.Attributes)+1)}
	if _, dup := model.Lookup(e.Attributes, logEventField); e.Name != "" && !dup {
		l.Fields = append(l.Fields, stringTag(logEventField, e.Name))
	}
	for _, a := range sortedAttrs(e.Attributes) {
		l.Fields = append(l.Fields, toUIKeyValue(a.Key, a.Value))
	}
	return l
}

func stringTag(key, value string) uiKeyValue {
	return uiKeyValue{Key: key, Type: "string", Value: value}
}

// toUIKeyValue maps OTLP value types to Jaeger's. Arrays and maps have no
// Jaeger type and become strings holding their JSON, as in Jaeger.
// Non-finite floats become strings because JSON has no literal for them and
// encoding/json would fail the whole response.
func toUIKeyValue(key string, v model.Value) uiKeyValue {
	switch v.Type {
	case model.ValueBool:
		return uiKeyValue{Key: key, Type: "bool", Value: v.Int != 0}
	case model.ValueInt:
		return uiKeyValue{Key: key, Type: "int64", Value: v.Int}
	case model.ValueDouble:
		if math.IsNaN(v.Float) || math.IsInf(v.Float, 0) {
			return stringTag(key, strconv.FormatFloat(v.Float, 'g', -1, 64))
		}
		return uiKeyValue{Key: key, Type: "float64", Value: v.Float}
	case model.ValueBytes:
		return uiKeyValue{Key: key, Type: "binary", Value: []byte(v.Str)} // base64 in JSON, as Jaeger
	default:
		return stringTag(key, v.String())
	}
}

// sortedAttrs returns attrs sorted by key without touching the stored slice
// (stored spans are shared and read-only). Jaeger sorts attributes before
// rendering, so Jaeger UI shows them alphabetically.
func sortedAttrs(attrs []model.Attribute) []model.Attribute {
	if slices.IsSortedFunc(attrs, cmpAttr) {
		return attrs
	}
	sorted := slices.Clone(attrs)
	slices.SortStableFunc(sorted, cmpAttr)
	return sorted
}

func cmpAttr(a, b model.Attribute) int { return strings.Compare(a.Key, b.Key) }
