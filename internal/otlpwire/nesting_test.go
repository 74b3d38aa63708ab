package otlpwire

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/clewtrace/clew/internal/otlpwire/otlptest"
)

// valueDepth is the nesting of arrays and maps in v, walked without
// recursion so the test itself survives whatever it is given.
func valueDepth(v pcommon.Value) int {
	type item struct {
		v pcommon.Value
		d int
	}
	deepest := 0
	todo := []item{{v, 0}}
	for len(todo) > 0 {
		it := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		switch it.v.Type() {
		case pcommon.ValueTypeSlice:
			deepest = max(deepest, it.d+1)
			for _, e := range it.v.Slice().All() {
				todo = append(todo, item{e, it.d + 1})
			}
		case pcommon.ValueTypeMap:
			deepest = max(deepest, it.d+1)
			for _, e := range it.v.Map().All() {
				todo = append(todo, item{e, it.d + 1})
			}
		}
	}
	return deepest
}

// TestNestingLimitDecoders: the pre-scans agree with the decoder about the
// depth of what they were given, for every signal, container and encoding,
// at the limit and one past it.
func TestNestingLimitDecoders(t *testing.T) {
	type build struct {
		name  string
		root  Message
		proto func(int, otlptest.Nesting) []byte
		json  func(int, otlptest.Nesting) []byte // nil: no JSON builder
	}
	builds := []build{
		{"traces", Traces, otlptest.TracesProto, otlptest.TracesJSON},
		{"logs", Logs, otlptest.LogsProto, otlptest.LogsJSON},
		{"metrics", Metrics, otlptest.MetricsProto, nil},
	}
	deepValue := func(name string, b []byte, json bool) (pcommon.Value, error) {
		switch name {
		case "traces":
			er := ptraceotlp.NewExportRequest()
			err := er.UnmarshalProto(b)
			if json {
				err = er.UnmarshalJSON(b)
			}
			if err != nil {
				return pcommon.Value{}, err
			}
			v, _ := er.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().Get("deep")
			return v, nil
		case "logs":
			er := plogotlp.NewExportRequest()
			err := er.UnmarshalProto(b)
			if json {
				err = er.UnmarshalJSON(b)
			}
			if err != nil {
				return pcommon.Value{}, err
			}
			return er.Logs().ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body(), nil
		default:
			er := pmetricotlp.NewExportRequest()
			if err := er.UnmarshalProto(b); err != nil {
				return pcommon.Value{}, err
			}
			v, _ := er.Metrics().ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints().At(0).Attributes().Get("deep")
			return v, nil
		}
	}
	for _, b := range builds {
		for _, kind := range []otlptest.Nesting{otlptest.Array, otlptest.KVList} {
			for _, depth := range []int{0, 1, MaxValueDepth, MaxValueDepth + 1} {
				wantErr := depth > MaxValueDepth
				name := fmt.Sprintf("%s/%s/%d", b.name, kind, depth)
				pb := b.proto(depth, kind)
				if err := CheckNesting(pb, b.root); (err != nil) != wantErr || (wantErr && !errors.Is(err, ErrTooDeep)) {
					t.Errorf("%s protobuf: CheckNesting = %v, want error %v", name, err, wantErr)
				}
				v, err := deepValue(b.name, pb, false)
				if err != nil || valueDepth(v) != depth {
					t.Errorf("%s protobuf: decoded depth %d (%v), want %d: the builder is wrong", name, valueDepth(v), err, depth)
				}
				if b.json == nil {
					continue
				}
				jb := b.json(depth, kind)
				if err := CheckJSONNesting(jb); (err != nil) != wantErr || (wantErr && !errors.Is(err, ErrTooDeep)) {
					t.Errorf("%s JSON: CheckJSONNesting = %v, want error %v", name, err, wantErr)
				}
				v, err = deepValue(b.name, jb, true)
				if err != nil || valueDepth(v) != depth {
					t.Errorf("%s JSON: decoded depth %d (%v), want %d: the builder is wrong", name, valueDepth(v), err, depth)
				}
			}
		}
	}
}

// TestNestingJSONTricks: escaped key spellings and snake_case, which the
// decoder reads as the same field, count the same; brackets inside strings
// do not count; raw nesting in unknown fields is bounded too.
func TestNestingJSONTricks(t *testing.T) {
	over := MaxValueDepth + 1
	deep := func(open, close string) []byte {
		return []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"k","value":` +
			strings.Repeat(open, over) + `{"intValue":"1"}` + strings.Repeat(close, over) + `}]}]}]}]}`)
	}
	for _, c := range []struct {
		name string
		body []byte
		want error
	}{
		{"escaped key", deep(`{"arr\u0061yValue" : {"values":[`, `]}}`), ErrTooDeep},
		{"snake case", deep(`{"array_value":{"values":[`, `]}}`), ErrTooDeep},
		{"kvlist snake case", deep(`{"kvlist_value":{"values":[{"key":"k","value":`, `}]}}`), ErrTooDeep},
		{"brackets in strings", []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"` +
			strings.Repeat(`{\"arrayValue\":[`, 10*MaxValueDepth) + `"}]}]}]}`), nil},
		{"deep unknown field", []byte(`{"resourceSpans":[],"x":` + strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth) + `}`), ErrTooDeep},
		{"unclosed string", []byte(`{"resourceSpans":"`), nil},
	} {
		if err := CheckJSONNesting(c.body); !errors.Is(err, c.want) {
			t.Errorf("%s: CheckJSONNesting = %v, want %v", c.name, err, c.want)
		}
	}
	// The escaped spelling really is the same field to the decoder.
	er := ptraceotlp.NewExportRequest()
	body := deep(`{"arr\u0061yValue" : {"values":[`, `]}}`)
	if err := er.UnmarshalJSON(body); err != nil {
		t.Fatal(err)
	}
	v, _ := er.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().Get("k")
	if got := valueDepth(v); got != over {
		t.Errorf("decoder read depth %d from escaped keys, want %d", got, over)
	}
}

func TestNestingProtoMalformed(t *testing.T) {
	good := otlptest.TracesProto(3, otlptest.Array)
	for _, b := range [][]byte{good[:len(good)-1], {0x0a, 0x05, 0x01}, {0xff}, {0x0a}} {
		if err := CheckNesting(b, Traces); !errors.Is(err, ErrMalformed) {
			t.Errorf("%x: %v, want ErrMalformed", b, err)
		}
	}
}

// tracesDepth is the deepest value in any attribute or body of a decoded
// request, walked without recursion.
func tracesDepth(b []byte, json bool) (int, bool) {
	er := ptraceotlp.NewExportRequest()
	err := er.UnmarshalProto(b)
	if json {
		err = er.UnmarshalJSON(b)
	}
	if err != nil {
		return 0, false
	}
	deepest := 0
	for _, rs := range er.Traces().ResourceSpans().All() {
		for _, v := range rs.Resource().Attributes().All() {
			deepest = max(deepest, valueDepth(v))
		}
		for _, ss := range rs.ScopeSpans().All() {
			for _, v := range ss.Scope().Attributes().All() {
				deepest = max(deepest, valueDepth(v))
			}
			for _, s := range ss.Spans().All() {
				for _, v := range s.Attributes().All() {
					deepest = max(deepest, valueDepth(v))
				}
				for _, e := range s.Events().All() {
					for _, v := range e.Attributes().All() {
						deepest = max(deepest, valueDepth(v))
					}
				}
				for _, l := range s.Links().All() {
					for _, v := range l.Attributes().All() {
						deepest = max(deepest, valueDepth(v))
					}
				}
			}
		}
	}
	return deepest, true
}

// FuzzCheckNesting: whatever the bytes, when the scan lets a request through
// and the decoder accepts it, no value in it is deeper than MaxValueDepth:
// the scan and the decoder agree on where the values are.
func FuzzCheckNesting(f *testing.F) {
	for _, levels := range []int{0, 2, MaxValueDepth, MaxValueDepth + 1} {
		for _, kind := range []otlptest.Nesting{otlptest.Array, otlptest.KVList} {
			f.Add(otlptest.TracesProto(levels, kind), false)
			f.Add(otlptest.TracesJSON(levels, kind), true)
		}
	}
	f.Add([]byte(`{"resourceSpans":[{"resource":{"attributes":[{"key":"a","value":{"array_value":{"values":[{"kvlist_value":{}}]}}}]}}]}`), true)
	f.Fuzz(func(t *testing.T, b []byte, json bool) {
		var err error
		if json {
			err = CheckJSONNesting(b)
		} else {
			err = CheckNesting(b, Traces)
		}
		if err != nil {
			return
		}
		if d, ok := tracesDepth(b, json); ok && d > MaxValueDepth {
			t.Fatalf("scan passed a request with a value %d levels deep", d)
		}
	})
}
