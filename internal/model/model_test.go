package model

import (
	"os"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestParseIDs(t *testing.T) {
	cases := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef", false},
		{"0123456789ABCDEF0123456789ABCDEF", "0123456789abcdef0123456789abcdef", false},
		{"abcdef0123456789", "0000000000000000abcdef0123456789", false}, // Jaeger 64-bit
		{"1", "00000000000000000000000000000001", false},
		{"", "", true},
		{"xyz", "", true},
		{"0123456789abcdef0123456789abcdef0", "", true},
	}
	for _, c := range cases {
		id, err := ParseTraceID(c.in)
		if (err != nil) != c.wantErr || (!c.wantErr && id.String() != c.want) {
			t.Errorf("ParseTraceID(%q) = %s, %v", c.in, id, err)
		}
	}
	if _, err := ParseSpanID("0123456789abcdef0"); err == nil {
		t.Error("17-digit span ID accepted")
	}
	if id, err := ParseSpanID("ff"); err != nil || id.String() != "00000000000000ff" {
		t.Errorf("ParseSpanID(ff) = %s, %v", id, err)
	}
}

// Every field survives pdata → model → pdata, and spans keep sharing their
// resource and scope.
func TestRoundTripThroughPdata(t *testing.T) {
	for _, name := range []string{"testdata/node-otlp-http-json.json", "testdata/browser-otlp-http.json"} {
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		in, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(raw)
		if err != nil {
			t.Fatal(err)
		}
		spans := AppendSpans(nil, in)
		if len(spans) != in.SpanCount() {
			t.Fatalf("%s: %d spans, want %d", name, len(spans), in.SpanCount())
		}
		if len(spans) > 1 && spans[0].Resource != spans[1].Resource {
			t.Errorf("%s: spans of one resource do not share it", name)
		}
		out := ToTraces(spans)
		a, _ := (&ptrace.JSONMarshaler{}).MarshalTraces(in)
		b, _ := (&ptrace.JSONMarshaler{}).MarshalTraces(out)
		if string(a) != string(b) {
			t.Errorf("%s: round trip changed the data\n in: %s\nout: %s", name, a, b)
		}
	}
}

func TestValuesOfEveryType(t *testing.T) {
	m := pcommon.NewMap()
	m.PutStr("s", "x")
	m.PutBool("b", true)
	m.PutInt("i", -7)
	m.PutDouble("d", 1.5)
	m.PutEmptyBytes("y").FromRaw([]byte{0, 1, 2})
	arr := m.PutEmptySlice("a")
	arr.AppendEmpty().SetInt(1)
	arr.AppendEmpty().SetStr("two")
	mp := m.PutEmptyMap("m")
	mp.PutDouble("pi", 3.25)
	attrs := AttributesFromPdata(m)
	strs := map[string]string{"s": "x", "b": "true", "i": "-7", "d": "1.5", "y": "AAEC", "a": `[1,"two"]`, "m": `{"pi":3.25}`}
	for _, a := range attrs {
		if got := a.Value.String(); got != strs[a.Key] {
			t.Errorf("%s: String() = %q, want %q", a.Key, got, strs[a.Key])
		}
	}
	back := pcommon.NewMap()
	CopyAttributes(attrs, back)
	if !back.Equal(m) {
		t.Errorf("attributes changed: %v vs %v", back.AsRaw(), m.AsRaw())
	}
}

func TestSpanHelpers(t *testing.T) {
	s := Span{StartUnixNano: 10, EndUnixNano: 5}
	if s.Duration() != 0 {
		t.Error("negative duration not clamped")
	}
	if s.Service() != UnknownService {
		t.Error("span without resource must be unknown_service")
	}
	s.Attributes = []Attribute{{Key: "error", Value: BoolValue(true)}}
	if !s.IsError() {
		t.Error("error=true attribute is an error")
	}
	if k, ok := ParseSpanKind("SPAN_KIND_SERVER"); !ok || k != KindServer {
		t.Error("SPAN_KIND_SERVER not parsed")
	}
	if KindConsumer.String() != "consumer" || StatusError.String() != "ERROR" {
		t.Error("names changed")
	}
}

// ParseValue undoes String for every value type blocks store.
func TestParseValueInvertsString(t *testing.T) {
	for _, v := range []Value{StringValue("x"), BoolValue(true), BoolValue(false), IntValue(-42), DoubleValue(2.5),
		{Type: ValueBytes, Str: "\x00\x01"}, {Type: ValueArray, Str: `[1,"a"]`}, {Type: ValueMap, Str: `{"k":1}`}, {}} {
		if got := ParseValue(v.Type, v.String()); got != v {
			t.Errorf("ParseValue(%d, %q) = %+v, want %+v", v.Type, v.String(), got, v)
		}
	}
}
