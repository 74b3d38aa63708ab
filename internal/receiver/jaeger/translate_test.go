package jaeger

import (
	"testing"

	"github.com/jaegertracing/jaeger-idl/thrift-gen/jaeger"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func strTag(k, v string) *jaeger.Tag {
	return &jaeger.Tag{Key: k, VType: jaeger.TagType_STRING, VStr: &v}
}
func boolTag(k string, v bool) *jaeger.Tag {
	return &jaeger.Tag{Key: k, VType: jaeger.TagType_BOOL, VBool: &v}
}

// allFields is how jaeger-client writes a tag: every value field filled in.
func allFields(k string, typ jaeger.TagType) *jaeger.Tag {
	s, d, b, l := "str", 2.0, true, int64(7)
	return &jaeger.Tag{Key: k, VType: typ, VStr: &s, VDouble: &d, VBool: &b, VLong: &l, VBinary: []byte{1, 2}}
}

func oneSpan(t *testing.T, s *jaeger.Span) (ptrace.Span, ptrace.ScopeSpans) {
	t.Helper()
	td := toTraces(&jaeger.Batch{Process: &jaeger.Process{ServiceName: "svc"}, Spans: []*jaeger.Span{s}})
	if td.SpanCount() != 1 {
		t.Fatalf("%d spans", td.SpanCount())
	}
	ss := td.ResourceSpans().At(0).ScopeSpans().At(0)
	return ss.Spans().At(0), ss
}

func TestTagTypes(t *testing.T) {
	tests := []struct {
		typ  jaeger.TagType
		want any
	}{
		{jaeger.TagType_STRING, "str"},
		{jaeger.TagType_DOUBLE, 2.0}, // integral, and still a Double
		{jaeger.TagType_BOOL, true},
		{jaeger.TagType_LONG, int64(7)},
		{jaeger.TagType_BINARY, []byte{1, 2}},
		{jaeger.TagType(99), "str"},
	}
	for _, tc := range tests {
		t.Run(tc.typ.String(), func(t *testing.T) {
			s, _ := oneSpan(t, &jaeger.Span{Tags: []*jaeger.Tag{allFields("k", tc.typ)}})
			v, ok := s.Attributes().Get("k")
			if !ok {
				t.Fatal("missing")
			}
			if got := v.AsRaw(); !equalRaw(got, tc.want) {
				t.Errorf("got %#v (%v), want %#v", got, v.Type(), tc.want)
			}
		})
	}
}

func equalRaw(a, b any) bool {
	if ab, ok := a.([]byte); ok {
		bb, ok := b.([]byte)
		return ok && string(ab) == string(bb)
	}
	return a == b
}

func TestKindStatusScope(t *testing.T) {
	tests := []struct {
		name       string
		tags       []*jaeger.Tag
		kind       ptrace.SpanKind
		code       ptrace.StatusCode
		message    string
		scope      [2]string
		traceState string
		keptAttrs  map[string]any
	}{
		{name: "no tags", kind: ptrace.SpanKindInternal},
		{name: "client", tags: []*jaeger.Tag{strTag("span.kind", "client")}, kind: ptrace.SpanKindClient},
		{name: "producer", tags: []*jaeger.Tag{strTag("span.kind", "PRODUCER")}, kind: ptrace.SpanKindProducer},
		{name: "consumer", tags: []*jaeger.Tag{strTag("span.kind", "consumer")}, kind: ptrace.SpanKindConsumer},
		{name: "unknown kind kept", tags: []*jaeger.Tag{strTag("span.kind", "rpc")}, kind: ptrace.SpanKindInternal,
			keptAttrs: map[string]any{"span.kind": "rpc"}},
		{name: "error true", tags: []*jaeger.Tag{boolTag("error", true)}, code: ptrace.StatusCodeError},
		{name: "error string true", tags: []*jaeger.Tag{strTag("error", "true")}, code: ptrace.StatusCodeError},
		{name: "error false kept", tags: []*jaeger.Tag{boolTag("error", false)},
			keptAttrs: map[string]any{"error": false}},
		{name: "error with description", tags: []*jaeger.Tag{boolTag("error", true), strTag("otel.status_description", "boom")},
			code: ptrace.StatusCodeError, message: "boom"},
		{name: "error wins over OK", tags: []*jaeger.Tag{strTag("otel.status_code", "OK"), boolTag("error", true)},
			code: ptrace.StatusCodeError},
		{name: "otel status error", tags: []*jaeger.Tag{strTag("otel.status_code", "ERROR"), strTag("otel.status_description", "bad")},
			code: ptrace.StatusCodeError, message: "bad"},
		{name: "otel status ok", tags: []*jaeger.Tag{strTag("otel.status_code", "OK")}, code: ptrace.StatusCodeOk},
		{name: "otel status unknown kept", tags: []*jaeger.Tag{strTag("otel.status_code", "MAYBE")},
			keptAttrs: map[string]any{"otel.status_code": "MAYBE"}},
		{name: "description without error kept", tags: []*jaeger.Tag{strTag("otel.status_description", "x")},
			keptAttrs: map[string]any{"otel.status_description": "x"}},
		{name: "scope", tags: []*jaeger.Tag{strTag("otel.scope.name", "lib"), strTag("otel.scope.version", "1.2")},
			scope: [2]string{"lib", "1.2"}},
		{name: "library spelling", tags: []*jaeger.Tag{strTag("otel.library.name", "old"), strTag("otel.library.version", "0.1")},
			scope: [2]string{"old", "0.1"}},
		{name: "trace state", tags: []*jaeger.Tag{strTag("w3c.tracestate", "k=v,a=b")}, traceState: "k=v,a=b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, ss := oneSpan(t, &jaeger.Span{Tags: tc.tags})
			if s.Kind() != tc.kind && !(tc.kind == 0 && s.Kind() == ptrace.SpanKindInternal) {
				t.Errorf("kind %v, want %v", s.Kind(), tc.kind)
			}
			if s.Status().Code() != tc.code || s.Status().Message() != tc.message {
				t.Errorf("status %v %q, want %v %q", s.Status().Code(), s.Status().Message(), tc.code, tc.message)
			}
			if ss.Scope().Name() != tc.scope[0] || ss.Scope().Version() != tc.scope[1] {
				t.Errorf("scope %q %q, want %q", ss.Scope().Name(), ss.Scope().Version(), tc.scope)
			}
			if s.TraceState().AsRaw() != tc.traceState {
				t.Errorf("trace state %q", s.TraceState().AsRaw())
			}
			if got := s.Attributes().AsRaw(); len(got) != len(tc.keptAttrs) {
				t.Errorf("attributes %v, want %v", got, tc.keptAttrs)
			}
			for k, want := range tc.keptAttrs {
				if v, ok := s.Attributes().Get(k); !ok || v.AsRaw() != want {
					t.Errorf("attribute %q = %v, want %v", k, v.AsRaw(), want)
				}
			}
		})
	}
}

func TestScopesGrouped(t *testing.T) {
	td := toTraces(&jaeger.Batch{Process: &jaeger.Process{ServiceName: "svc"}, Spans: []*jaeger.Span{
		{SpanId: 1, Tags: []*jaeger.Tag{strTag("otel.scope.name", "a")}},
		{SpanId: 2},
		{SpanId: 3, Tags: []*jaeger.Tag{strTag("otel.scope.name", "a")}},
		nil,
	}})
	scopes := td.ResourceSpans().At(0).ScopeSpans()
	if scopes.Len() != 2 || scopes.At(0).Spans().Len() != 2 || scopes.At(1).Spans().Len() != 1 {
		t.Fatalf("want scope a with 2 spans and the empty scope with 1, got %d scopes", scopes.Len())
	}
}

func TestParentAndLinks(t *testing.T) {
	const trace = 0x0102030405060708
	ref := func(typ jaeger.SpanRefType, hi, lo, id int64) *jaeger.SpanRef {
		return &jaeger.SpanRef{RefType: typ, TraceIdHigh: hi, TraceIdLow: lo, SpanId: id}
	}
	tests := []struct {
		name       string
		parent     int64
		refs       []*jaeger.SpanRef
		wantParent string
		wantLinks  []string // span IDs with ref type
	}{
		{name: "root"},
		{name: "parent field", parent: 9, wantParent: "0000000000000009"},
		{name: "parent field repeated as CHILD_OF", parent: 9,
			refs: []*jaeger.SpanRef{ref(jaeger.SpanRefType_CHILD_OF, 0, trace, 9)}, wantParent: "0000000000000009"},
		{name: "parent from first CHILD_OF",
			refs: []*jaeger.SpanRef{
				ref(jaeger.SpanRefType_FOLLOWS_FROM, 0, trace, 5),
				ref(jaeger.SpanRefType_CHILD_OF, 0, trace, 6),
				ref(jaeger.SpanRefType_CHILD_OF, 0, trace, 7),
			},
			wantParent: "0000000000000006",
			wantLinks:  []string{"0000000000000005 follows_from", "0000000000000007 child_of"}},
		{name: "CHILD_OF in another trace is a link",
			refs:      []*jaeger.SpanRef{ref(jaeger.SpanRefType_CHILD_OF, 1, trace, 6)},
			wantLinks: []string{"0000000000000006 child_of"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := oneSpan(t, &jaeger.Span{TraceIdLow: trace, SpanId: 1, ParentSpanId: tc.parent, References: tc.refs})
			if tc.wantParent == "" && !s.ParentSpanID().IsEmpty() || tc.wantParent != "" && s.ParentSpanID().String() != tc.wantParent {
				t.Errorf("parent %s, want %q", s.ParentSpanID(), tc.wantParent)
			}
			if s.Links().Len() != len(tc.wantLinks) {
				t.Fatalf("%d links, want %d", s.Links().Len(), len(tc.wantLinks))
			}
			for i, want := range tc.wantLinks {
				l := s.Links().At(i)
				typ, _ := l.Attributes().Get("opentracing.ref_type")
				if got := l.SpanID().String() + " " + typ.Str(); got != want {
					t.Errorf("link %d = %q, want %q", i, got, want)
				}
			}
		})
	}
}

func TestIDsTimesFlags(t *testing.T) {
	tests := []struct {
		name             string
		span             jaeger.Span
		traceID, spanID  string
		start, end       pcommon.Timestamp
		flags            uint32
		samplingPriority bool
	}{
		{name: "128-bit", span: jaeger.Span{TraceIdHigh: 1, TraceIdLow: -1, SpanId: -2, StartTime: 5, Duration: 3, Flags: 1},
			traceID: "0000000000000001ffffffffffffffff", spanID: "fffffffffffffffe", start: 5000, end: 8000, flags: 1},
		{name: "64-bit left-padded", span: jaeger.Span{TraceIdLow: 0xabc, SpanId: 1},
			traceID: "00000000000000000000000000000abc", spanID: "0000000000000001"},
		{name: "negative times clamp", span: jaeger.Span{TraceIdLow: 1, SpanId: 1, StartTime: -5, Duration: -1},
			traceID: "00000000000000000000000000000001", spanID: "0000000000000001"},
		{name: "debug implies sampled", span: jaeger.Span{TraceIdLow: 1, SpanId: 1, Flags: 2},
			traceID: "00000000000000000000000000000001", spanID: "0000000000000001", flags: 1, samplingPriority: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := oneSpan(t, &tc.span)
			if s.TraceID().String() != tc.traceID || s.SpanID().String() != tc.spanID {
				t.Errorf("ids %s %s", s.TraceID(), s.SpanID())
			}
			if s.StartTimestamp() != tc.start || s.EndTimestamp() != tc.end {
				t.Errorf("times %d %d", s.StartTimestamp(), s.EndTimestamp())
			}
			if s.Flags() != tc.flags {
				t.Errorf("flags %#x", s.Flags())
			}
			if _, ok := s.Attributes().Get("sampling.priority"); ok != tc.samplingPriority {
				t.Errorf("sampling.priority present = %v", ok)
			}
		})
	}
}

func TestProcessAndEvents(t *testing.T) {
	td := toTraces(&jaeger.Batch{
		Process: &jaeger.Process{Tags: []*jaeger.Tag{strTag("service.name", "liar"), strTag("host.name", "h")}},
		Spans: []*jaeger.Span{{SpanId: 1, Logs: []*jaeger.Log{
			{Timestamp: 2, Fields: []*jaeger.Tag{strTag("message", "no event field")}},
			{Timestamp: 3, Fields: []*jaeger.Tag{strTag("event", "first"), strTag("event", "second")}},
		}}},
	})
	res := td.ResourceSpans().At(0).Resource().Attributes()
	if v, _ := res.Get("service.name"); v.Str() != "unknown_service" {
		t.Errorf("service.name %q: an empty serviceName must become unknown_service, not a tag", v.Str())
	}
	if v, _ := res.Get("host.name"); v.Str() != "h" {
		t.Error("process tag lost")
	}
	evs := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Events()
	if evs.Len() != 2 || evs.At(0).Name() != "" || evs.At(0).Timestamp() != 2000 {
		t.Fatalf("first event wrong")
	}
	if v, _ := evs.At(0).Attributes().Get("message"); v.Str() != "no event field" {
		t.Error("field lost")
	}
	if evs.At(1).Name() != "first" {
		t.Errorf("name %q", evs.At(1).Name())
	}
	if v, _ := evs.At(1).Attributes().Get("event"); v.Str() != "second" {
		t.Error("a second event field must stay an attribute")
	}
}

func TestNilProcess(t *testing.T) {
	td := toTraces(&jaeger.Batch{Spans: []*jaeger.Span{{SpanId: 1, Tags: []*jaeger.Tag{nil}, Logs: []*jaeger.Log{nil}, References: []*jaeger.SpanRef{nil}}}})
	if td.SpanCount() != 1 {
		t.Fatal("span lost")
	}
}
