package app

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/jaegertracing/jaeger-idl/thrift-gen/jaeger"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/clewtrace/clew/internal/config"
	"github.com/clewtrace/clew/kit"
)

func post(t *testing.T, url, contentType string, body []byte, header map[string]string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func otlpRequest(t *testing.T, fill func(ptrace.Span)) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "bad-input")
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetTraceID(pcommon.TraceID{0xba, 0xd1})
	s.SetSpanID(pcommon.SpanID{1})
	s.SetName("op")
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(time.Now().Add(time.Millisecond)))
	fill(s)
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBadInputGetsItsAnswerAndServerKeepsServing sends each kind of bad
// request to a running Clew and checks the documented status, then that a
// good export still works.
func TestBadInputGetsItsAnswerAndServerKeepsServing(t *testing.T) {
	a := startApp(t, t.TempDir(), func(c *config.Config) { c.MaxRequestBytes = 1 << 20 })
	url := "http://" + a.Addrs().OTLPHTTP + "/v1/traces"
	good := otlpRequest(t, func(ptrace.Span) {})

	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	_, _ = zw.Write(make([]byte, 64<<20)) // 64 MiB of zeros, 64 KiB compressed
	_ = zw.Close()

	cases := []struct {
		name        string
		contentType string
		body        []byte
		header      map[string]string
		want        int
	}{
		{"truncated protobuf", "application/x-protobuf", good[:len(good)-3], nil, 400},
		{"garbage JSON", "application/json", []byte(`{"resourceSpans":[{`), nil, 400},
		{"wrong content type", "text/plain", good, nil, 415},
		{"gzip bomb over the cap", "application/x-protobuf", bomb.Bytes(), map[string]string{"Content-Encoding": "gzip"}, 413},
	}
	for _, c := range cases {
		if got, body := post(t, url, c.contentType, c.body, c.header); got != c.want {
			t.Errorf("%s: status %d, want %d (%s)", c.name, got, c.want, body)
		}
	}

	// An invalid span is rejected alone; the valid one in the batch is kept.
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i, tid := range []pcommon.TraceID{{}, {0x0c, 0x0c}} {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(tid)
		s.SetSpanID(pcommon.SpanID{byte(i + 1)})
		s.SetName("half")
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	}
	body, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
	status, resp := post(t, url, "application/json", body, nil)
	var partial struct {
		PartialSuccess struct {
			RejectedSpans string `json:"rejectedSpans"`
			ErrorMessage  string `json:"errorMessage"`
		} `json:"partialSuccess"`
	}
	_ = json.Unmarshal(resp, &partial)
	if status != 200 || partial.PartialSuccess.RejectedSpans != "1" || partial.PartialSuccess.ErrorMessage == "" {
		t.Errorf("invalid ID: status %d body %s, want 200 with 1 rejected span", status, resp)
	}

	// A huge attribute value is cut to the limit, marked, and stored.
	huge := otlpRequest(t, func(s ptrace.Span) { s.Attributes().PutStr("payload", strings.Repeat("x", 200_000)) })
	if got, body := post(t, url, "application/x-protobuf", huge, nil); got != 200 {
		t.Fatalf("huge attribute: status %d (%s)", got, body)
	}
	var tr jaegerResponse[[]jaegerTrace]
	getJSON(t, "http://"+a.Addrs().Query+"/api/traces/bad10000000000000000000000000000", 200, &tr)
	tags := map[string]any{}
	for _, tag := range tr.Data[0].Spans[0].Tags {
		tags[tag.Key] = tag.Value
	}
	if v, _ := tags["payload"].(string); len(v) == 0 || len(v) > 16<<10 {
		t.Errorf("payload tag has %d bytes, want it cut to at most 16 KiB", len(v))
	}
	if tags["clew.truncated_attribute_values_count"] == nil {
		t.Errorf("truncated span not marked: %v", tags)
	}

	if got, body := post(t, url, "application/x-protobuf", otlpRequest(t, func(s ptrace.Span) { s.SetTraceID(pcommon.TraceID{0x60, 0x0d}) }), nil); got != 200 {
		t.Fatalf("good request after the bad ones: status %d (%s)", got, body)
	}
	getJSON(t, "http://"+a.Addrs().Query+"/api/traces/600d0000000000000000000000000000", 200, nil)
}

// TestMixedJaegerAndOTLPTrace: a span from an old jaeger-client service is the
// parent of an OTel service's span (they share IDs through the jaeger
// propagator); the query API returns one trace.
func TestMixedJaegerAndOTLPTrace(t *testing.T) {
	a := startApp(t, t.TempDir(), func(c *config.Config) { c.JaegerHTTPAddr = "127.0.0.1:0" })
	now := time.Now()
	const traceLow, parentSpan = int64(0x1234567890abcdef), int64(0x1111)
	batch := &jaeger.Batch{
		Process: &jaeger.Process{ServiceName: "legacy-frontend"},
		Spans: []*jaeger.Span{{
			TraceIdLow: traceLow, TraceIdHigh: 0, SpanId: parentSpan, OperationName: "GET /checkout",
			StartTime: now.UnixMicro(), Duration: 50_000,
			Tags: []*jaeger.Tag{{Key: "span.kind", VType: jaeger.TagType_STRING, VStr: thrift.StringPtr("server")}},
		}},
	}
	buf := thrift.NewTMemoryBuffer()
	if err := batch.Write(context.Background(), thrift.NewTBinaryProtocolConf(buf, nil)); err != nil {
		t.Fatal(err)
	}
	if got, body := post(t, "http://"+a.Addrs().JaegerHTTP+"/api/traces", "application/x-thrift", buf.Bytes(), nil); got != 202 {
		t.Fatalf("jaeger thrift: status %d (%s)", got, body)
	}
	child := otlpRequest(t, func(s ptrace.Span) {
		tid := pcommon.TraceID{}
		copy(tid[8:], []byte{0x12, 0x34, 0x56, 0x78, 0x90, 0xab, 0xcd, 0xef})
		s.SetTraceID(tid)
		s.SetParentSpanID(pcommon.SpanID{0, 0, 0, 0, 0, 0, 0x11, 0x11})
		s.SetSpanID(pcommon.SpanID{0x22})
		s.SetName("reserve stock")
	})
	if got, body := post(t, "http://"+a.Addrs().OTLPHTTP+"/v1/traces", "application/x-protobuf", child, nil); got != 200 {
		t.Fatalf("otlp: status %d (%s)", got, body)
	}
	var tr jaegerResponse[[]jaegerTrace]
	getJSON(t, "http://"+a.Addrs().Query+"/api/traces/1234567890abcdef", 200, &tr)
	if len(tr.Data) != 1 || len(tr.Data[0].Spans) != 2 {
		t.Fatalf("want one trace of 2 spans, got %+v", tr.Data)
	}
	for _, s := range tr.Data[0].Spans {
		if s.OperationName == "reserve stock" && (len(s.References) != 1 || s.References[0].SpanID != "0000000000001111") {
			t.Errorf("OTLP child not linked to the Jaeger parent: %+v", s.References)
		}
	}
}

// TestKitLogsLandUnderTheirSpan: a service using the kit's slog handler
// exports logs over OTLP; the logs API returns them for the trace and span.
func TestKitLogsLandUnderTheirSpan(t *testing.T) {
	a := startApp(t, t.TempDir())
	ctx := context.Background()
	exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(a.Addrs().OTLPHTTP), otlploghttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)),
		sdklog.WithResource(resource.NewSchemaless(attribute.String("service.name", "checkout"))))
	defer lp.Shutdown(ctx)
	logger := slog.New(kit.NewLogHandler(slog.NewTextHandler(io.Discard, nil), kit.WithOTLPLogs(lp)))

	tracer := provider(t, "checkout", httpExporter(t, a.Addrs().OTLPHTTP)).Tracer("logs")
	sctx, span := tracer.Start(ctx, "charge card")
	logger.InfoContext(sctx, "charging card", "amount", 42)
	logger.ErrorContext(sctx, "card declined")
	span.End()
	if err := lp.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	sc := span.SpanContext()
	var got struct {
		Logs []struct {
			SpanID       string `json:"spanId"`
			Body         string `json:"body"`
			SeverityText string `json:"severityText"`
			Service      string `json:"service"`
		} `json:"logs"`
	}
	getJSON(t, fmt.Sprintf("http://%s/api/clew/logs?traceID=%s", a.Addrs().Query, sc.TraceID()), 200, &got)
	if len(got.Logs) != 2 || got.Logs[0].Body != "charging card" || got.Logs[1].SeverityText != "ERROR" {
		t.Fatalf("logs of the trace: %+v", got.Logs)
	}
	for _, l := range got.Logs {
		if l.SpanID != sc.SpanID().String() || l.Service != "checkout" {
			t.Errorf("log not tied to its span/service: %+v", l)
		}
	}
}

// TestTokensGuardIngestAndQuery: with tokens set, OTLP and Zipkin ingest and
// the query API refuse requests without them; the UI page itself loads (it
// then needs the token for its API calls).
func TestTokensGuardIngestAndQuery(t *testing.T) {
	a := startApp(t, t.TempDir(), func(c *config.Config) {
		c.IngestToken, c.QueryToken, c.ZipkinAddr = "in-token", "q-token", "127.0.0.1:0"
	})
	ad := a.Addrs()
	body := otlpRequest(t, func(ptrace.Span) {})
	if got, _ := post(t, "http://"+ad.OTLPHTTP+"/v1/traces", "application/x-protobuf", body, nil); got != 401 {
		t.Errorf("OTLP without token: %d, want 401", got)
	}
	if got, _ := post(t, "http://"+ad.OTLPHTTP+"/v1/traces", "application/x-protobuf", body, map[string]string{"Authorization": "Bearer in-token"}); got != 200 {
		t.Errorf("OTLP with token: %d, want 200", got)
	}
	if got, _ := post(t, "http://"+ad.Zipkin+"/api/v2/spans", "application/json", []byte("[]"), nil); got != 401 {
		t.Errorf("Zipkin without token: %d, want 401", got)
	}
	get := func(path, token string) int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+ad.Query+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get("/api/services", ""); got != 401 {
		t.Errorf("query API without token: %d, want 401", got)
	}
	if got := get("/api/services", "in-token"); got != 401 {
		t.Errorf("query API with the ingest token: %d, want 401", got)
	}
	if got := get("/api/services", "q-token"); got != 200 {
		t.Errorf("query API with token: %d, want 200", got)
	}
	if got := get("/search", ""); got != 200 {
		t.Errorf("UI page: %d, want 200", got)
	}
}
