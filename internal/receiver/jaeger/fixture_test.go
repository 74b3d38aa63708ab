package jaeger

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/jaegertracing/jaeger-idl/thrift-gen/agent"
	"github.com/jaegertracing/jaeger-idl/thrift-gen/jaeger"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// This file holds the test-side, independent reading of the fixtures and the
// field-by-field comparison of a Jaeger batch with the pdata the receiver made.

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureBatch decodes the collector fixture through a stream transport, not
// the receiver's memory-buffer path.
func fixtureBatch(t testing.TB) *jaeger.Batch {
	t.Helper()
	p := thrift.NewTBinaryProtocolConf(thrift.NewStreamTransportR(bytes.NewReader(readFixture(t, "jaeger-client-http.thrift"))), nil)
	b := jaeger.NewBatch()
	if err := b.Read(context.Background(), p); err != nil {
		t.Fatalf("decode fixture: %v", err)
	}
	return b
}

// datagramBatch decodes an agent datagram by hand: message header, then args.
func datagramBatch(t testing.TB, datagram []byte, compact bool) *jaeger.Batch {
	t.Helper()
	tr := thrift.NewStreamTransportR(bytes.NewReader(datagram))
	var p thrift.TProtocol = thrift.NewTBinaryProtocolConf(tr, nil)
	if compact {
		p = thrift.NewTCompactProtocolConf(tr, nil)
	}
	ctx := context.Background()
	name, typ, _, err := p.ReadMessageBegin(ctx)
	// jaeger-client for Node marks the message ONEWAY, the Go thrift client CALL.
	if err != nil || name != "emitBatch" || (typ != thrift.ONEWAY && typ != thrift.CALL) {
		t.Fatalf("datagram header: name %q type %d err %v", name, typ, err)
	}
	args := agent.NewAgentEmitBatchArgs()
	if err := args.Read(ctx, p); err != nil {
		t.Fatalf("datagram args: %v", err)
	}
	return args.Batch
}

// compactDatagram encodes batch as jaeger-client-go does for the :6831 socket.
func compactDatagram(t testing.TB, batch *jaeger.Batch) []byte {
	t.Helper()
	buf := thrift.NewTMemoryBuffer()
	p := thrift.NewTCompactProtocolConf(buf, nil)
	if err := agent.NewAgentClientProtocol(buf, p, p).EmitBatch(context.Background(), batch); err != nil {
		t.Fatalf("encode compact datagram: %v", err)
	}
	return buf.Bytes()
}

func hexTraceID(hi, lo int64) string { return fmt.Sprintf("%016x%016x", uint64(hi), uint64(lo)) }
func hexSpanID(v int64) string       { return fmt.Sprintf("%016x", uint64(v)) }

// checkTag asserts that attribute t.Key in m holds t's value, chosen by vType.
func checkTag(t *testing.T, where string, m pcommon.Map, tag *jaeger.Tag) {
	t.Helper()
	v, ok := m.Get(tag.Key)
	if !ok {
		t.Errorf("%s: attribute %q missing", where, tag.Key)
		return
	}
	var want any
	var gotT pcommon.ValueType
	switch tag.VType {
	case jaeger.TagType_STRING:
		want, gotT = *tag.VStr, pcommon.ValueTypeStr
	case jaeger.TagType_DOUBLE:
		want, gotT = *tag.VDouble, pcommon.ValueTypeDouble
	case jaeger.TagType_BOOL:
		want, gotT = *tag.VBool, pcommon.ValueTypeBool
	case jaeger.TagType_LONG:
		want, gotT = *tag.VLong, pcommon.ValueTypeInt
	case jaeger.TagType_BINARY:
		want, gotT = tag.VBinary, pcommon.ValueTypeBytes
	}
	if v.Type() != gotT {
		t.Errorf("%s: attribute %q type %v, want %v", where, tag.Key, v.Type(), gotT)
		return
	}
	if got := v.AsRaw(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: attribute %q = %v, want %v", where, tag.Key, got, want)
	}
}

// compareBatch checks every field of every span of want against got. It only
// handles what jaeger-client sends (no references, no otel.* tags).
func compareBatch(t *testing.T, want *jaeger.Batch, got ptrace.Traces) {
	t.Helper()
	if got.ResourceSpans().Len() != 1 {
		t.Fatalf("resource spans: %d, want 1", got.ResourceSpans().Len())
	}
	rs := got.ResourceSpans().At(0)
	res := rs.Resource().Attributes()
	if v, _ := res.Get("service.name"); v.Str() != want.Process.ServiceName {
		t.Errorf("service.name = %q, want %q", v.Str(), want.Process.ServiceName)
	}
	for _, tag := range want.Process.Tags {
		checkTag(t, "resource", res, tag)
	}
	if res.Len() != len(want.Process.Tags)+1 {
		t.Errorf("resource has %d attributes, want %d", res.Len(), len(want.Process.Tags)+1)
	}

	byID := map[string]ptrace.Span{}
	for i := 0; i < rs.ScopeSpans().Len(); i++ {
		spans := rs.ScopeSpans().At(i).Spans()
		for j := 0; j < spans.Len(); j++ {
			byID[spans.At(j).SpanID().String()] = spans.At(j)
		}
	}
	if len(byID) != len(want.Spans) {
		t.Fatalf("got %d spans, want %d", len(byID), len(want.Spans))
	}
	for _, js := range want.Spans {
		s, ok := byID[hexSpanID(js.SpanId)]
		if !ok {
			t.Errorf("span %s missing", hexSpanID(js.SpanId))
			continue
		}
		where := "span " + js.OperationName
		if s.TraceID().String() != hexTraceID(js.TraceIdHigh, js.TraceIdLow) {
			t.Errorf("%s: trace ID %s, want %s", where, s.TraceID(), hexTraceID(js.TraceIdHigh, js.TraceIdLow))
		}
		wantParent := ""
		if js.ParentSpanId != 0 {
			wantParent = hexSpanID(js.ParentSpanId)
		}
		if got := s.ParentSpanID(); (wantParent == "" && !got.IsEmpty()) || (wantParent != "" && got.String() != wantParent) {
			t.Errorf("%s: parent %s, want %q", where, got, wantParent)
		}
		if s.Name() != js.OperationName {
			t.Errorf("%s: name %q", where, s.Name())
		}
		if uint64(s.StartTimestamp()) != uint64(js.StartTime)*1000 ||
			uint64(s.EndTimestamp()) != uint64(js.StartTime+js.Duration)*1000 {
			t.Errorf("%s: times %d..%d, want µs %d+%d", where, s.StartTimestamp(), s.EndTimestamp(), js.StartTime, js.Duration)
		}
		if got, want := s.Flags(), uint32(js.Flags&1); got != want {
			t.Errorf("%s: flags %#x, want %#x", where, got, want)
		}
		wantKind, wantCode, plain := ptrace.SpanKindInternal, ptrace.StatusCodeUnset, 0
		for _, tag := range js.Tags {
			switch {
			case tag.Key == "span.kind":
				wantKind = map[string]ptrace.SpanKind{"server": ptrace.SpanKindServer, "client": ptrace.SpanKindClient,
					"producer": ptrace.SpanKindProducer, "consumer": ptrace.SpanKindConsumer}[*tag.VStr]
			case tag.Key == "error" && tag.VType == jaeger.TagType_BOOL && *tag.VBool:
				wantCode = ptrace.StatusCodeError
			default:
				plain++
				checkTag(t, where, s.Attributes(), tag)
			}
		}
		if s.Attributes().Len() != plain {
			t.Errorf("%s: %d attributes, want %d", where, s.Attributes().Len(), plain)
		}
		if s.Kind() != wantKind {
			t.Errorf("%s: kind %v, want %v", where, s.Kind(), wantKind)
		}
		if s.Status().Code() != wantCode {
			t.Errorf("%s: status %v, want %v", where, s.Status().Code(), wantCode)
		}
		if s.Events().Len() != len(js.Logs) {
			t.Fatalf("%s: %d events, want %d", where, s.Events().Len(), len(js.Logs))
		}
		for i, lg := range js.Logs {
			ev := s.Events().At(i)
			if uint64(ev.Timestamp()) != uint64(lg.Timestamp)*1000 {
				t.Errorf("%s event %d: time %d, want µs %d", where, i, ev.Timestamp(), lg.Timestamp)
			}
			attrs := 0
			for _, f := range lg.Fields {
				if f.Key == "event" {
					if ev.Name() != *f.VStr {
						t.Errorf("%s event %d: name %q, want %q", where, i, ev.Name(), *f.VStr)
					}
					continue
				}
				attrs++
				checkTag(t, fmt.Sprintf("%s event %d", where, i), ev.Attributes(), f)
			}
			if ev.Attributes().Len() != attrs {
				t.Errorf("%s event %d: %d attributes, want %d", where, i, ev.Attributes().Len(), attrs)
			}
		}
	}
}

// checkFixtureFacts pins what jaeger-client 3.19 is known to have sent, so the
// comparison above cannot pass by both sides agreeing on nothing.
func checkFixtureFacts(t *testing.T, td ptrace.Traces) {
	t.Helper()
	if td.SpanCount() != 2 {
		t.Fatalf("fixture: %d spans, want 2", td.SpanCount())
	}
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := 0; i < spans.Len(); i++ {
		s := spans.At(i)
		if !strings.HasPrefix(s.TraceID().String(), "0000000000000000") {
			t.Errorf("64-bit trace ID not left-padded: %s", s.TraceID())
		}
		switch s.Name() {
		case "GET /checkout":
			if s.Kind() != ptrace.SpanKindServer {
				t.Errorf("GET /checkout kind %v", s.Kind())
			}
			if v, ok := s.Attributes().Get("http.status_code"); !ok || v.Type() != pcommon.ValueTypeDouble || v.Double() != 200 {
				t.Errorf("http.status_code = %v (%v), want Double 200", v.AsRaw(), v.Type())
			}
			if _, ok := s.Attributes().Get("span.kind"); ok {
				t.Error("span.kind kept as attribute")
			}
		case "SELECT orders":
			if s.Status().Code() != ptrace.StatusCodeError {
				t.Errorf("SELECT orders status %v", s.Status().Code())
			}
			if _, ok := s.Attributes().Get("error"); ok {
				t.Error("error tag kept as attribute")
			}
			if s.Events().Len() != 1 || s.Events().At(0).Name() != "error" {
				t.Errorf("SELECT orders events wrong")
			}
		default:
			t.Errorf("unexpected span %q", s.Name())
		}
	}
}
