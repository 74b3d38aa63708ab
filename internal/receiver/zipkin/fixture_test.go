package zipkin

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	zipkinmodel "github.com/openzipkin/zipkin-go/model"
	zipkinproto "github.com/openzipkin/zipkin-go/proto/zipkin_proto3"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// This file decodes the fixture with zipkin-go's own model, independently of
// the receiver, and compares every field with the pdata the receiver made.

func readFixture(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/node-zipkin-v2.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixtureModel(t testing.TB) []zipkinmodel.SpanModel {
	t.Helper()
	var spans []zipkinmodel.SpanModel
	if err := json.Unmarshal(readFixture(t), &spans); err != nil {
		t.Fatalf("zipkin-go cannot decode the fixture: %v", err)
	}
	return spans
}

// fixtureProto is the fixture re-encoded as a protobuf ListOfSpans by zipkin-go.
func fixtureProto(t testing.TB) []byte {
	t.Helper()
	model := fixtureModel(t)
	ptrs := make([]*zipkinmodel.SpanModel, len(model))
	for i := range model {
		ptrs[i] = &model[i]
	}
	b, err := zipkinproto.SpanSerializer{}.Serialize(ptrs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func isResourceTag(k string) bool {
	return strings.HasPrefix(k, "service.") || strings.HasPrefix(k, "telemetry.")
}

// compareSpans checks want (as zipkin-go read it) against got. It covers the
// fields the OpenTelemetry JS exporter sends: no remote endpoints, no shared.
func compareSpans(t *testing.T, want []zipkinmodel.SpanModel, got ptrace.Traces) {
	t.Helper()
	type found struct {
		span    ptrace.Span
		service string
		res     map[string]any
	}
	byID := map[string]found{}
	for i := 0; i < got.ResourceSpans().Len(); i++ {
		rs := got.ResourceSpans().At(i)
		svc, _ := rs.Resource().Attributes().Get("service.name")
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			spans := rs.ScopeSpans().At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				byID[spans.At(k).SpanID().String()] = found{spans.At(k), svc.Str(), rs.Resource().Attributes().AsRaw()}
			}
		}
	}
	if len(byID) != len(want) {
		t.Fatalf("got %d spans, want %d", len(byID), len(want))
	}
	for _, w := range want {
		f, ok := byID[w.ID.String()]
		if !ok {
			t.Errorf("span %s missing", w.ID)
			continue
		}
		s, where := f.span, "span "+w.Name
		if wantTrace := fmt.Sprintf("%016x%016x", w.TraceID.High, w.TraceID.Low); s.TraceID().String() != wantTrace {
			t.Errorf("%s: trace %s, want %s", where, s.TraceID(), wantTrace)
		}
		wantParent := ""
		if w.ParentID != nil {
			wantParent = w.ParentID.String()
		}
		if gotParent := s.ParentSpanID(); (wantParent == "") != gotParent.IsEmpty() || (wantParent != "" && gotParent.String() != wantParent) {
			t.Errorf("%s: parent %s, want %q", where, gotParent, wantParent)
		}
		if s.Name() != w.Name {
			t.Errorf("%s: name %q", where, s.Name())
		}
		wantKind := map[zipkinmodel.Kind]ptrace.SpanKind{"": ptrace.SpanKindInternal, "CLIENT": ptrace.SpanKindClient,
			"SERVER": ptrace.SpanKindServer, "PRODUCER": ptrace.SpanKindProducer, "CONSUMER": ptrace.SpanKindConsumer}[w.Kind]
		if s.Kind() != wantKind {
			t.Errorf("%s: kind %v, want %v", where, s.Kind(), wantKind)
		}
		if int64(s.StartTimestamp()) != w.Timestamp.UnixNano() || int64(s.EndTimestamp()-s.StartTimestamp()) != int64(w.Duration) {
			t.Errorf("%s: times %d..%d, want %v + %v", where, s.StartTimestamp(), s.EndTimestamp(), w.Timestamp.UnixNano(), w.Duration)
		}
		if f.service != w.LocalEndpoint.ServiceName {
			t.Errorf("%s: service %q, want %q", where, f.service, w.LocalEndpoint.ServiceName)
		}
		wantCode, wantMsg, plain := ptrace.StatusCodeUnset, "", 0
		for k, v := range w.Tags {
			switch {
			case k == "otel.status_code":
				if v == "ERROR" {
					wantCode = ptrace.StatusCodeError
				}
			case k == "error":
				wantMsg = v
			case isResourceTag(k):
				if fmt.Sprint(f.res[k]) != v {
					t.Errorf("%s: resource %q = %v, want %q", where, k, f.res[k], v)
				}
			default:
				plain++
				if a, ok := s.Attributes().Get(k); !ok || a.Str() != v {
					t.Errorf("%s: attribute %q = %q, want %q", where, k, a.AsString(), v)
				}
			}
		}
		if s.Attributes().Len() != plain {
			t.Errorf("%s: %d attributes, want %d: %v", where, s.Attributes().Len(), plain, s.Attributes().AsRaw())
		}
		if s.Status().Code() != wantCode || s.Status().Message() != wantMsg {
			t.Errorf("%s: status %v %q, want %v %q", where, s.Status().Code(), s.Status().Message(), wantCode, wantMsg)
		}
		if s.Events().Len() != len(w.Annotations) {
			t.Fatalf("%s: %d events, want %d", where, s.Events().Len(), len(w.Annotations))
		}
		for i, a := range w.Annotations {
			ev := s.Events().At(i)
			if ev.Name() != a.Value || int64(ev.Timestamp()) != a.Timestamp.UnixNano() {
				t.Errorf("%s event %d: %q at %d, want %q at %d", where, i, ev.Name(), ev.Timestamp(), a.Value, a.Timestamp.UnixNano())
			}
		}
	}
}

// checkFixtureFacts pins what the OpenTelemetry JS exporter is known to have
// sent, so compareSpans cannot pass by both sides agreeing on nothing.
func checkFixtureFacts(t *testing.T, td ptrace.Traces) {
	t.Helper()
	if td.ResourceSpans().Len() != 1 || td.SpanCount() != 3 {
		t.Fatalf("want 3 spans in 1 resource, got %d in %d", td.SpanCount(), td.ResourceSpans().Len())
	}
	res := td.ResourceSpans().At(0).Resource().Attributes()
	if v, _ := res.Get("telemetry.sdk.language"); v.Str() != "nodejs" {
		t.Error("telemetry.sdk.language not moved to the resource")
	}
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := 0; i < spans.Len(); i++ {
		s := spans.At(i)
		if s.TraceID().String() != "c62ebd537646c8852483ed290d7b76bf" {
			t.Errorf("trace %s", s.TraceID())
		}
		switch s.Name() {
		case "SELECT orders":
			if s.Kind() != ptrace.SpanKindClient || s.Status().Code() != ptrace.StatusCodeError || s.Status().Message() != "boom" {
				t.Errorf("SELECT orders: kind %v status %v %q", s.Kind(), s.Status().Code(), s.Status().Message())
			}
			if uint64(s.StartTimestamp()) != 1795296256720000000 || uint64(s.EndTimestamp()) != 1795296256720210000 {
				t.Errorf("SELECT orders times %d %d", s.StartTimestamp(), s.EndTimestamp())
			}
			if s.Events().Len() != 1 || s.Events().At(0).Name() != "retry" {
				t.Error("SELECT orders: annotation lost")
			}
		case "render":
			if s.Kind() != ptrace.SpanKindInternal {
				t.Errorf("render kind %v", s.Kind())
			}
		case "GET /checkout":
			if s.Kind() != ptrace.SpanKindServer || !s.ParentSpanID().IsEmpty() {
				t.Errorf("GET /checkout kind %v parent %s", s.Kind(), s.ParentSpanID())
			}
		default:
			t.Errorf("unexpected span %q", s.Name())
		}
	}
}
