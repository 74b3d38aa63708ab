package zipkin

import (
	"testing"

	zipkinproto "github.com/openzipkin/zipkin-go/proto/zipkin_proto3"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/proto"
)

func decodeOne(t *testing.T, js string) (ptrace.Span, ptrace.ResourceSpans, ptrace.ScopeSpans) {
	t.Helper()
	spans, err := decodeJSON([]byte("[" + js + "]"))
	if err != nil {
		t.Fatal(err)
	}
	td := toTraces(spans)
	if td.SpanCount() != 1 {
		t.Fatalf("%d spans", td.SpanCount())
	}
	rs := td.ResourceSpans().At(0)
	ss := rs.ScopeSpans().At(0)
	return ss.Spans().At(0), rs, ss
}

func TestSpanMapping(t *testing.T) {
	const ids = `"traceId":"463ac35c9f6413ad","id":"a2fb4a1d1a96d312"`
	tests := []struct {
		name       string
		json       string
		kind       ptrace.SpanKind
		code       ptrace.StatusCode
		message    string
		attrs      map[string]any
		service    string
		scope      [2]string
		spanID     string
		parentID   string
		traceID    string
		flags      uint32
		start, end uint64
	}{
		{name: "64-bit trace id left-padded", json: `{` + ids + `,"timestamp":10,"duration":5}`,
			traceID: "0000000000000000463ac35c9f6413ad", start: 10000, end: 15000},
		{name: "128-bit trace id", json: `{"traceId":"5af7183fb1d4cf5f463ac35c9f6413ad","id":"a2fb4a1d1a96d312"}`,
			traceID: "5af7183fb1d4cf5f463ac35c9f6413ad"},
		{name: "short ids padded", json: `{"traceId":"abc","id":"1","parentId":"2"}`,
			traceID: "00000000000000000000000000000abc", spanID: "0000000000000001", parentID: "0000000000000002"},
		{name: "uppercase hex", json: `{"traceId":"463AC35C9F6413AD","id":"A2FB4A1D1A96D312"}`},
		{name: "zero parent is root", json: `{` + ids + `,"parentId":"0000000000000000"}`},
		{name: "kind absent", json: `{` + ids + `}`, kind: ptrace.SpanKindInternal},
		{name: "client", json: `{` + ids + `,"kind":"CLIENT"}`, kind: ptrace.SpanKindClient},
		{name: "server", json: `{` + ids + `,"kind":"SERVER"}`, kind: ptrace.SpanKindServer},
		{name: "producer lowercase", json: `{` + ids + `,"kind":"producer"}`, kind: ptrace.SpanKindProducer},
		{name: "consumer", json: `{` + ids + `,"kind":"CONSUMER"}`, kind: ptrace.SpanKindConsumer},
		{name: "shared server re-parented", json: `{` + ids + `,"parentId":"0000000000000009","kind":"SERVER","shared":true}`,
			kind: ptrace.SpanKindServer, spanID: "derived", parentID: "a2fb4a1d1a96d312"},
		{name: "shared client untouched", json: `{` + ids + `,"kind":"CLIENT","shared":true}`, kind: ptrace.SpanKindClient},
		{name: "error tag alone", json: `{` + ids + `,"tags":{"error":"timeout"}}`, code: ptrace.StatusCodeError, message: "timeout"},
		{name: "error tag empty", json: `{` + ids + `,"tags":{"error":""}}`, code: ptrace.StatusCodeError},
		{name: "otel error with description", json: `{` + ids + `,"tags":{"otel.status_code":"ERROR","error":"boom"}}`,
			code: ptrace.StatusCodeError, message: "boom"},
		{name: "older description tag", json: `{` + ids + `,"tags":{"otel.status_code":"ERROR","otel.status_description":"old"}}`,
			code: ptrace.StatusCodeError, message: "old"},
		{name: "ok status keeps error tag", json: `{` + ids + `,"tags":{"otel.status_code":"OK","error":"x"}}`,
			code: ptrace.StatusCodeOk, attrs: map[string]any{"error": "x"}},
		{name: "unknown status code kept", json: `{` + ids + `,"tags":{"otel.status_code":"WEIRD"}}`,
			attrs: map[string]any{"otel.status_code": "WEIRD"}},
		{name: "scope", json: `{` + ids + `,"tags":{"otel.scope.name":"lib","otel.scope.version":"2"}}`, scope: [2]string{"lib", "2"}},
		{name: "library spelling", json: `{` + ids + `,"tags":{"otel.library.name":"old","otel.library.version":"1"}}`, scope: [2]string{"old", "1"}},
		{name: "missing local endpoint", json: `{` + ids + `}`, service: "unknown_service"},
		{name: "service from tag as fallback", json: `{` + ids + `,"tags":{"service.name":"tagged"}}`, service: "tagged"},
		{name: "local endpoint wins", json: `{` + ids + `,"localEndpoint":{"serviceName":"ep"},"tags":{"service.name":"tagged"}}`, service: "ep"},
		{name: "endpoints", json: `{` + ids + `,"localEndpoint":{"serviceName":"a","ipv4":"10.0.0.1","port":8080},` +
			`"remoteEndpoint":{"serviceName":"db","ipv6":"2001:db8::1","ipv4":"10.0.0.2","port":5432}}`,
			service: "a", attrs: map[string]any{"network.local.address": "10.0.0.1", "network.local.port": int64(8080),
				"peer.service": "db", "network.peer.address": "2001:db8::1", "network.peer.port": int64(5432)}},
		{name: "tags beat endpoints", json: `{` + ids + `,"remoteEndpoint":{"serviceName":"db"},"tags":{"peer.service":"explicit"}}`,
			attrs: map[string]any{"peer.service": "explicit"}},
		{name: "bad ip dropped", json: `{` + ids + `,"remoteEndpoint":{"ipv4":"not-an-ip"}}`},
		{name: "non-string tags", json: `{` + ids + `,"tags":{"n":42,"b":true,"z":null}}`,
			attrs: map[string]any{"n": "42", "b": "true", "z": ""}},
		{name: "debug", json: `{` + ids + `,"debug":true}`, attrs: map[string]any{"sampling.priority": int64(1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, rs, ss := decodeOne(t, tc.json)
			if tc.kind == 0 {
				tc.kind = ptrace.SpanKindInternal
			}
			if s.Kind() != tc.kind {
				t.Errorf("kind %v, want %v", s.Kind(), tc.kind)
			}
			if s.Status().Code() != tc.code || s.Status().Message() != tc.message {
				t.Errorf("status %v %q, want %v %q", s.Status().Code(), s.Status().Message(), tc.code, tc.message)
			}
			if got := s.Attributes().AsRaw(); len(got) != len(tc.attrs) {
				t.Errorf("attributes %v, want %v", got, tc.attrs)
			}
			for k, want := range tc.attrs {
				if v, ok := s.Attributes().Get(k); !ok || v.AsRaw() != want {
					t.Errorf("attribute %q = %#v, want %#v", k, v.AsRaw(), want)
				}
			}
			if tc.service == "" {
				tc.service = "unknown_service"
			}
			if v, _ := rs.Resource().Attributes().Get("service.name"); v.Str() != tc.service {
				t.Errorf("service %q, want %q", v.Str(), tc.service)
			}
			if ss.Scope().Name() != tc.scope[0] || ss.Scope().Version() != tc.scope[1] {
				t.Errorf("scope %q %q", ss.Scope().Name(), ss.Scope().Version())
			}
			switch tc.spanID {
			case "":
			case "derived":
				if s.SpanID().IsEmpty() || s.SpanID().String() == tc.parentID {
					t.Errorf("shared server span ID %s not derived", s.SpanID())
				}
			default:
				if s.SpanID().String() != tc.spanID {
					t.Errorf("span ID %s", s.SpanID())
				}
			}
			if got := s.ParentSpanID(); (tc.parentID == "") != got.IsEmpty() || (tc.parentID != "" && got.String() != tc.parentID) {
				t.Errorf("parent %s, want %q", got, tc.parentID)
			}
			if tc.traceID != "" && s.TraceID().String() != tc.traceID {
				t.Errorf("trace %s, want %s", s.TraceID(), tc.traceID)
			}
			if s.Flags() != 1 {
				t.Errorf("flags %#x, want sampled", s.Flags())
			}
			if uint64(s.StartTimestamp()) != tc.start || uint64(s.EndTimestamp()) != tc.end {
				t.Errorf("times %d %d, want %d %d", s.StartTimestamp(), s.EndTimestamp(), tc.start, tc.end)
			}
		})
	}
}

func TestSharedServerIDStable(t *testing.T) {
	const js = `{"traceId":"1","id":"2","kind":"SERVER","shared":true}`
	a, _, _ := decodeOne(t, js)
	b, _, _ := decodeOne(t, js)
	if a.SpanID() != b.SpanID() {
		t.Error("re-delivery of a shared span got a different ID")
	}
}

func TestResourceGrouping(t *testing.T) {
	spans, err := decodeJSON([]byte(`[
		{"traceId":"1","id":"1","localEndpoint":{"serviceName":"a"},"tags":{"host.name":"h1"}},
		{"traceId":"1","id":"2","localEndpoint":{"serviceName":"b"}},
		{"traceId":"1","id":"3","localEndpoint":{"serviceName":"a"},"tags":{"host.name":"h1","http.route":"/x"}},
		{"traceId":"1","id":"4","localEndpoint":{"serviceName":"a"},"tags":{"host.name":"h2"}}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	td := toTraces(spans)
	if n := td.ResourceSpans().Len(); n != 3 {
		t.Fatalf("%d resources, want 3 (a/h1, b, a/h2)", n)
	}
	first := td.ResourceSpans().At(0)
	if first.ScopeSpans().At(0).Spans().Len() != 2 {
		t.Error("spans of one resource not grouped")
	}
	if v, _ := first.Resource().Attributes().Get("host.name"); v.Str() != "h1" {
		t.Error("host.name not on the resource")
	}
	s := first.ScopeSpans().At(0).Spans().At(1)
	if _, ok := s.Attributes().Get("host.name"); ok {
		t.Error("host.name left on the span")
	}
	if _, ok := s.Attributes().Get("http.route"); !ok {
		t.Error("span tag lost")
	}
}

func TestProtoSpecifics(t *testing.T) {
	base := func() *zipkinproto.Span {
		return &zipkinproto.Span{TraceId: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Id: []byte{0, 0, 0, 0, 0, 0, 0, 9},
			ParentId: make([]byte, 8), Kind: zipkinproto.Span_PRODUCER, Debug: true,
			RemoteEndpoint: &zipkinproto.Endpoint{Ipv4: []byte{10, 0, 0, 3}, Port: 9092}}
	}
	tests := []struct {
		name    string
		mutate  func(*zipkinproto.Span)
		wantErr bool
	}{
		{name: "64-bit trace, zero parent, debug", mutate: func(*zipkinproto.Span) {}},
		{name: "bad trace length", mutate: func(s *zipkinproto.Span) { s.TraceId = []byte{1} }, wantErr: true},
		{name: "zero trace", mutate: func(s *zipkinproto.Span) { s.TraceId = make([]byte, 16) }, wantErr: true},
		{name: "missing id", mutate: func(s *zipkinproto.Span) { s.Id = nil }, wantErr: true},
		{name: "bad parent length", mutate: func(s *zipkinproto.Span) { s.ParentId = []byte{1, 2} }, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps := base()
			tc.mutate(ps)
			b, err := proto.Marshal(&zipkinproto.ListOfSpans{Spans: []*zipkinproto.Span{ps}})
			if err != nil {
				t.Fatal(err)
			}
			spans, err := decodeProto(b)
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := toTraces(spans).ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
			if s.TraceID().String() != "00000000000000000102030405060708" || !s.ParentSpanID().IsEmpty() ||
				s.Kind() != ptrace.SpanKindProducer {
				t.Errorf("trace %s parent %s kind %v", s.TraceID(), s.ParentSpanID(), s.Kind())
			}
			want := map[string]any{"sampling.priority": int64(1), "network.peer.address": "10.0.0.3", "network.peer.port": int64(9092)}
			if got := s.Attributes().AsRaw(); len(got) != len(want) {
				t.Errorf("attributes %v, want %v", got, want)
			}
			for k, v := range want {
				if a, _ := s.Attributes().Get(k); a.AsRaw() != v {
					t.Errorf("%s = %v, want %v", k, a.AsRaw(), v)
				}
			}
		})
	}
}
