package jaeger

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/clewtrace/clew/internal/model"
)

func TestToUISpanMapsOTelConcepts(t *testing.T) {
	tid := model.TraceID{0: 0xab, 15: 1}
	other := model.TraceID{15: 2}
	parent := model.SpanID{7: 9}
	res := &model.Resource{ServiceName: "svc"}
	base := func(mod func(*model.Span)) model.Span {
		s := model.Span{TraceID: tid, SpanID: model.SpanID{7: 1}, Name: "op", StartUnixNano: 1_500_000, EndUnixNano: 4_499_999,
			Resource: res, Scope: &model.Scope{}}
		mod(&s)
		return s
	}
	tests := []struct {
		name     string
		span     model.Span
		wantTags string // JSON of tags
		wantRefs string // JSON of references; "" skips the check
		wantLogs string // JSON of logs; "" skips the check
	}{
		{name: "bare span", span: base(func(*model.Span) {}), wantTags: `[]`, wantRefs: `[]`, wantLogs: `[]`},
		{name: "internal kind and OK status", span: base(func(s *model.Span) { s.Kind = model.KindInternal; s.StatusCode = model.StatusOK }),
			wantTags: `[{"key":"span.kind","type":"string","value":"internal"},{"key":"otel.status_code","type":"string","value":"OK"}]`},
		{name: "error with message and trace state", span: base(func(s *model.Span) {
			s.Kind = model.KindProducer
			s.StatusCode, s.StatusMessage = model.StatusError, "boom"
			s.TraceState = "vendor=1"
			s.Scope = &model.Scope{Name: "lib"}
		}), wantTags: `[{"key":"otel.scope.name","type":"string","value":"lib"},{"key":"span.kind","type":"string","value":"producer"},{"key":"otel.status_code","type":"string","value":"ERROR"},{"key":"error","type":"bool","value":true},{"key":"otel.status_description","type":"string","value":"boom"},{"key":"w3c.tracestate","type":"string","value":"vendor=1"}]`},
		{name: "value types, sorted by key", span: base(func(s *model.Span) {
			s.Attributes = []model.Attribute{
				{Key: "z.str", Value: model.StringValue("s")},
				{Key: "b.bool", Value: model.BoolValue(false)},
				{Key: "i.int", Value: model.IntValue(-7)},
				{Key: "d.double", Value: model.DoubleValue(1.5)},
				{Key: "d.nan", Value: model.DoubleValue(math.NaN())},
				{Key: "d.inf", Value: model.DoubleValue(math.Inf(-1))},
				{Key: "x.bytes", Value: model.Value{Type: model.ValueBytes, Str: "\x00\xff"}},
				{Key: "a.array", Value: model.Value{Type: model.ValueArray, Str: `["a",1]`}},
				{Key: "m.map", Value: model.Value{Type: model.ValueMap, Str: `{"k":true}`}},
				{Key: "e.empty", Value: model.Value{}},
			}
		}), wantTags: `[{"key":"a.array","type":"string","value":"[\"a\",1]"},{"key":"b.bool","type":"bool","value":false},{"key":"d.double","type":"float64","value":1.5},{"key":"d.inf","type":"string","value":"-Inf"},{"key":"d.nan","type":"string","value":"NaN"},{"key":"e.empty","type":"string","value":""},{"key":"i.int","type":"int64","value":-7},{"key":"m.map","type":"string","value":"{\"k\":true}"},{"key":"x.bytes","type":"binary","value":"AP8="},{"key":"z.str","type":"string","value":"s"}]`},
		{name: "parent then links", span: base(func(s *model.Span) {
			s.ParentSpanID = parent
			s.Links = []model.Link{
				{TraceID: other, SpanID: model.SpanID{7: 3}},
				{TraceID: tid, SpanID: model.SpanID{7: 4}, Attributes: []model.Attribute{{Key: "opentracing.ref_type", Value: model.StringValue("child_of")}}},
			}
		}), wantTags: `[]`, wantRefs: `[{"refType":"CHILD_OF","traceID":"ab000000000000000000000000000001","spanID":"0000000000000009"},{"refType":"FOLLOWS_FROM","traceID":"0000000000000002","spanID":"0000000000000003"},{"refType":"CHILD_OF","traceID":"ab000000000000000000000000000001","spanID":"0000000000000004"}]`},
		{name: "link to parent changes its type", span: base(func(s *model.Span) {
			s.ParentSpanID = parent
			s.Links = []model.Link{{TraceID: tid, SpanID: parent, Attributes: []model.Attribute{{Key: "opentracing.ref_type", Value: model.StringValue("follows_from")}}}}
		}), wantTags: `[]`, wantRefs: `[{"refType":"FOLLOWS_FROM","traceID":"ab000000000000000000000000000001","spanID":"0000000000000009"}]`},
		{name: "events become logs", span: base(func(s *model.Span) {
			s.Events = []model.Event{
				{TimeUnixNano: 2_000_999, Name: "exception", Attributes: []model.Attribute{{Key: "z", Value: model.IntValue(1)}, {Key: "a", Value: model.StringValue("x")}}},
				{TimeUnixNano: 3_000_000, Name: "named", Attributes: []model.Attribute{{Key: "event", Value: model.StringValue("own")}}},
				{TimeUnixNano: 4_000_000},
			}
		}), wantTags: `[]`, wantLogs: `[{"timestamp":2000,"fields":[{"key":"event","type":"string","value":"exception"},{"key":"a","type":"string","value":"x"},{"key":"z","type":"int64","value":1}]},{"timestamp":3000,"fields":[{"key":"event","type":"string","value":"own"}]},{"timestamp":4000,"fields":[]}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := func() (ks []string) { // keys, because NaN values never compare equal
				for _, a := range tt.span.Attributes {
					ks = append(ks, a.Key)
				}
				return ks
			}
			before := keys()
			got := toUISpan(&tt.span, "p1")
			if got.StartTime != 1500 || got.Duration != 2999 {
				t.Errorf("startTime %d duration %d, want 1500 2999 (truncated µs)", got.StartTime, got.Duration)
			}
			check := func(what string, v any, want string) {
				if want == "" {
					return
				}
				b, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				if string(b) != want {
					t.Errorf("%s\n got: %s\nwant: %s", what, b, want)
				}
			}
			check("tags", got.Tags, tt.wantTags)
			check("references", got.References, tt.wantRefs)
			check("logs", got.Logs, tt.wantLogs)
			if !reflect.DeepEqual(before, keys()) {
				t.Errorf("conversion reordered the stored attributes")
			}
		})
	}
}

func TestToUITraceProcesses(t *testing.T) {
	attrs := func(host string) []model.Attribute {
		return []model.Attribute{{Key: "service.name", Value: model.StringValue("a")}, {Key: "host.name", Value: model.StringValue(host)}}
	}
	resA1 := &model.Resource{ServiceName: "a", Attributes: attrs("h1")}
	resA1Copy := &model.Resource{ServiceName: "a", Attributes: attrs("h1")} // same content, other pointer
	resA2 := &model.Resource{ServiceName: "a", Attributes: attrs("h2")}
	resB := &model.Resource{ServiceName: "b"}
	span := func(r *model.Resource) model.Span {
		return model.Span{TraceID: model.TraceID{15: 5}, Resource: r, Scope: &model.Scope{}}
	}
	tr := toUITrace([]model.Span{span(resB), span(resA1), span(resA2), span(resA1Copy), span(nil)})
	var pids []string
	for _, s := range tr.Spans {
		pids = append(pids, s.ProcessID)
	}
	if want := []string{"p1", "p2", "p3", "p2", "p4"}; !reflect.DeepEqual(pids, want) {
		t.Errorf("process IDs %v, want %v", pids, want)
	}
	b, _ := json.Marshal(tr.Processes)
	want := `{"p1":{"serviceName":"b","tags":[]},"p2":{"serviceName":"a","tags":[{"key":"host.name","type":"string","value":"h1"}]},"p3":{"serviceName":"a","tags":[{"key":"host.name","type":"string","value":"h2"}]},"p4":{"serviceName":"unknown_service","tags":[]}}`
	if string(b) != want {
		t.Errorf("processes\n got: %s\nwant: %s", b, want)
	}
	if tr.TraceID != "0000000000000005" || tr.Warnings != nil {
		t.Errorf("traceID %q warnings %v", tr.TraceID, tr.Warnings)
	}
}

// A span the pipeline kept with duration 0 because it ended before it
// started carries a span warning, as Jaeger shows clock adjustments.
func TestEndBeforeStartSpanWarns(t *testing.T) {
	s := model.Span{TraceID: model.TraceID{15: 1}, SpanID: model.SpanID{7: 1}, Name: "op",
		StartUnixNano: 5_000_000, EndUnixNano: 5_000_000, Resource: &model.Resource{ServiceName: "svc"},
		Attributes: []model.Attribute{{Key: "clew.end_before_start_ns", Value: model.IntValue(1_500_000)}}}
	got := toUISpan(&s, "p1")
	if got.Duration != 0 || len(got.Warnings) != 1 || got.Warnings[0] != "end time was 1.5ms before the start time; duration shown as 0" {
		t.Fatalf("duration %d, warnings %q", got.Duration, got.Warnings)
	}
	if plain := toUISpan(&model.Span{Resource: s.Resource}, "p1"); plain.Warnings != nil {
		t.Fatalf("warnings on a normal span: %q", plain.Warnings)
	}
}
