package otlp

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/clewtrace/clew/internal/otlpwire"
	"github.com/clewtrace/clew/internal/otlpwire/otlptest"
)

// FuzzHTTPTraces feeds arbitrary bodies, content types and gzip flags to the
// HTTP handler, on /v1/traces, /v1/logs and /v1/metrics (picked by signal): it must never panic and must answer only documented statuses.
func FuzzHTTPTraces(f *testing.F) {
	for _, fx := range httpFixtures {
		b := readFixture(f, fx.file)
		f.Add(b, fx.contentType, fx.gzip, uint8(0))
		if !fx.gzip && len(b) > 10 {
			f.Add(b[:len(b)/2], fx.contentType, false, uint8(0))
		}
	}
	f.Add(readFixture(f, "node-otlp-grpc.grpc")[5:], "application/x-protobuf", false, uint8(0))
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}`), "application/json", false, uint8(0))
	f.Add([]byte{}, "text/plain", false, uint8(0))
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"},"traceId":"0102"}]}]}]}`), "application/json", false, uint8(1))
	f.Add([]byte(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","gauge":{"dataPoints":[{"asInt":"1"}]}}]}]}]}`), "application/json", false, uint8(2))
	f.Add([]byte("\x1f\x8b"), "application/json; charset=utf-8", true, uint8(0))
	// Text that is not UTF-8, in names, keys and values.
	f.Add([]byte("{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"svc\xff\"}}]},"+
		"\"scopeSpans\":[{\"spans\":[{\"traceId\":\"01\",\"spanId\":\"02\",\"name\":\"op\xff\xfe\",\"attributes\":[{\"key\":\"k\xc3\",\"value\":{\"stringValue\":\"\x80\"}}]}]}]}]}"), "application/json", false, uint8(0))
	utf8Bad := ptrace.NewTraces()
	badSpan := utf8Bad.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	badSpan.SetName("op\xff")
	badSpan.Attributes().PutStr("k\xfe", "v\xc3")
	if b, err := ptraceotlp.NewExportRequestFromTraces(utf8Bad).MarshalProto(); err == nil {
		f.Add(b, "application/x-protobuf", false, uint8(0))
	}
	// Nesting at and past otlpwire.MaxValueDepth, in every signal and encoding.
	for _, levels := range []int{otlpwire.MaxValueDepth, otlpwire.MaxValueDepth + 1, 5000} {
		for _, kind := range []otlptest.Nesting{otlptest.Array, otlptest.KVList} {
			f.Add(otlptest.TracesProto(levels, kind), "application/x-protobuf", false, uint8(0))
			f.Add(otlptest.TracesJSON(levels, kind), "application/json", false, uint8(0))
			f.Add(otlptest.LogsProto(levels, kind), "application/x-protobuf", false, uint8(1))
			f.Add(otlptest.LogsJSON(levels, kind), "application/json", true, uint8(1))
			f.Add(otlptest.MetricsProto(levels, kind), "application/x-protobuf", false, uint8(2))
		}
	}

	allowed := map[int]bool{200: true, 400: true, 413: true, 415: true, 503: true}
	s := &sink{}
	r, _ := newTestReceiver(f, Config{MaxRequestBytes: 1 << 20}, s, nil)
	f.Fuzz(func(t *testing.T, body []byte, contentType string, gzipped bool, signal uint8) {
		path := [...]string{"/v1/traces", "/v1/logs", "/v1/metrics"}[signal%3]
		// A hang is a bug too; panicking in the watchdog crashes the fuzz
		// worker, so the engine saves the input (a t.Fatal could not fire
		// from a stuck handler).
		watchdog := time.AfterFunc(10*time.Second, func() {
			panic(fmt.Sprintf("handler hung on content type %q gzip %v body %q", contentType, gzipped, body))
		})
		defer watchdog.Stop()
		hdr := map[string]string{}
		if gzipped {
			// Half the time send the bytes as if they were gzip already, to
			// exercise the gzip reader's error paths too.
			if len(body) > 0 && body[0]&1 == 0 {
				var buf bytes.Buffer
				zw := gzip.NewWriter(&buf)
				_, _ = zw.Write(body)
				_ = zw.Close()
				body = buf.Bytes()
			}
			hdr["Content-Encoding"] = "gzip"
		}
		req := newRequest(http.MethodPost, path, "", body, hdr)
		req.Header.Set("Content-Type", contentType)
		rec := serve(r, req)
		if !allowed[rec.Code] {
			t.Fatalf("status %d for content type %q: %s", rec.Code, contentType, rec.Body.String())
		}
		if rec.Code != 200 && rec.Body.Len() == 0 {
			t.Fatalf("status %d with empty body", rec.Code)
		}
		if used := r.inFlight.used.Load(); used != 0 {
			t.Fatalf("budget leaked %d bytes", used)
		}
		s.mu.Lock()
		s.traces = nil // keep memory flat over a long fuzz run
		s.mu.Unlock()
	})
}
