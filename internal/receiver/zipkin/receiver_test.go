package zipkin

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/consumer"
)

const testTimeout = 2 * time.Minute // catches hangs only; never a speed budget

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func chanSink(n int) (consumer.Traces, chan ptrace.Traces) {
	ch := make(chan ptrace.Traces, n)
	return consumer.TracesFunc(func(_ context.Context, td ptrace.Traces) (consumer.Result, error) {
		ch <- td
		return consumer.Result{}, nil
	}), ch
}

func receive(t *testing.T, ch <-chan ptrace.Traces) ptrace.Traces {
	t.Helper()
	select {
	case td := <-ch:
		return td
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting for the consumer")
		return ptrace.Traces{}
	}
}

func newReceiver(t *testing.T, cfg Config, next consumer.Traces) *Receiver {
	t.Helper()
	r, err := New(cfg, next, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func post(t *testing.T, url, contentType, encoding string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

func TestFixtureAccepted(t *testing.T) {
	tests := []struct {
		name, contentType, encoding string
		body                        func(t *testing.T) []byte
	}{
		{"json", "application/json", "", func(t *testing.T) []byte { return readFixture(t) }},
		{"json gzip", "application/json", "gzip", func(t *testing.T) []byte { return gzipped(t, readFixture(t)) }},
		{"protobuf", "application/x-protobuf", "", func(t *testing.T) []byte { return fixtureProto(t) }},
		{"protobuf gzip", "application/x-protobuf", "gzip", func(t *testing.T) []byte { return gzipped(t, fixtureProto(t)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next, ch := chanSink(1)
			r := newReceiver(t, Config{}, next)
			srv := httptest.NewServer(r.Handler())
			defer srv.Close()
			status, msg := post(t, srv.URL+"/api/v2/spans", tc.contentType, tc.encoding, tc.body(t))
			if status != http.StatusAccepted {
				t.Fatalf("status %d %s", status, msg)
			}
			td := receive(t, ch)
			compareSpans(t, fixtureModel(t), td)
			checkFixtureFacts(t, td)
			if got := counterValue(t, r.metrics.accepted); got != 3 {
				t.Errorf("accepted = %v, want 3", got)
			}
		})
	}
}

func TestHTTPErrors(t *testing.T) {
	fixture := readFixture(t)
	overloaded := fmt.Errorf("store: %w", consumer.ErrOverloaded)
	tests := []struct {
		name        string
		contentType string
		encoding    string
		body        []byte
		maxBytes    int64
		consumerErr error
		wantStatus  int
		wantBody    string
		wantRetry   string
		malformed   float64
		consumed    bool
	}{
		{name: "no content type means json", body: fixture, wantStatus: 202, consumed: true},
		{name: "json with charset", contentType: "application/json; charset=utf-8", body: fixture, wantStatus: 202, consumed: true},
		{name: "empty list", contentType: "application/json", body: []byte(`[]`), wantStatus: 202},
		{name: "thrift refused", contentType: "application/x-thrift", body: fixture, wantStatus: 415},
		{name: "text refused", contentType: "text/plain", body: fixture, wantStatus: 415},
		{name: "brotli refused", contentType: "application/json", encoding: "br", body: fixture, wantStatus: 415},
		{name: "not json", contentType: "application/json", body: []byte(`{"not":"a list"}`), wantStatus: 400, wantBody: "decode zipkin JSON", malformed: 1},
		{name: "truncated json", contentType: "application/json", body: fixture[:100], wantStatus: 400, malformed: 1},
		{name: "bad trace id", contentType: "application/json", body: []byte(`[{"traceId":"xyz","id":"0000000000000001"}]`), wantStatus: 400, wantBody: "traceId", malformed: 1},
		{name: "trace id too long", contentType: "application/json", body: []byte(`[{"traceId":"0123456789abcdef0123456789abcdef0","id":"1"}]`), wantStatus: 400, malformed: 1},
		{name: "zero trace id", contentType: "application/json", body: []byte(`[{"traceId":"0000000000000000","id":"0000000000000001"}]`), wantStatus: 400, malformed: 1},
		{name: "missing id", contentType: "application/json", body: []byte(`[{"traceId":"0000000000000001"}]`), wantStatus: 400, wantBody: "id", malformed: 1},
		{name: "negative timestamp", contentType: "application/json", body: []byte(`[{"traceId":"1","id":"1","timestamp":-5}]`), wantStatus: 400, malformed: 1},
		{name: "bad protobuf", contentType: "application/x-protobuf", body: []byte{0xff, 0xff, 0xff}, wantStatus: 400, malformed: 1},
		{name: "json sent as protobuf", contentType: "application/x-protobuf", body: fixture, wantStatus: 400, malformed: 1},
		{name: "bad gzip", contentType: "application/json", encoding: "gzip", body: fixture, wantStatus: 400, wantBody: "gzip", malformed: 1},
		{name: "over the cap", contentType: "application/json", body: fixture, maxBytes: int64(len(fixture) - 1), wantStatus: 413},
		{name: "exactly the cap", contentType: "application/json", body: fixture, maxBytes: int64(len(fixture)), wantStatus: 202, consumed: true},
		{name: "gzip over the cap after decompression", contentType: "application/json", encoding: "gzip",
			body: gzipped(t, fixture), maxBytes: int64(len(fixture) - 1), wantStatus: 413},
		{name: "overloaded", contentType: "application/json", body: fixture, consumerErr: overloaded, wantStatus: 503, wantRetry: "1", consumed: true},
		{name: "permanent", contentType: "application/json", body: fixture, consumerErr: consumer.Permanentf("bad span"), wantStatus: 400, wantBody: "bad span", consumed: true},
		{name: "other consumer error", contentType: "application/json", body: fixture, consumerErr: errors.New("disk on fire"), wantStatus: 503, wantRetry: "1", consumed: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			consumed := false
			next := consumer.TracesFunc(func(context.Context, ptrace.Traces) (consumer.Result, error) {
				consumed = true
				return consumer.Result{}, tc.consumerErr
			})
			r := newReceiver(t, Config{MaxRequestBytes: tc.maxBytes}, next)
			req := httptest.NewRequest(http.MethodPost, "/api/v2/spans", bytes.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			if tc.encoding != "" {
				req.Header.Set("Content-Encoding", tc.encoding)
			}
			if tc.name == "over the cap" {
				req.ContentLength = -1 // make the LimitReader, not Content-Length, catch it
			}
			rec := httptest.NewRecorder()
			r.Handler().ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tc.wantStatus, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Errorf("body %q does not contain %q", rec.Body, tc.wantBody)
			}
			if got := rec.Header().Get("Retry-After"); got != tc.wantRetry {
				t.Errorf("Retry-After %q, want %q", got, tc.wantRetry)
			}
			if got := counterValue(t, r.metrics.malformed); got != tc.malformed {
				t.Errorf("malformed = %v, want %v", got, tc.malformed)
			}
			if consumed != tc.consumed {
				t.Errorf("consumer called = %v, want %v", consumed, tc.consumed)
			}
			if tc.consumerErr != nil {
				if got := counterValue(t, r.metrics.refused); got != 3 {
					t.Errorf("refused = %v, want 3", got)
				}
			}
		})
	}
}

func TestMethodAndPath(t *testing.T) {
	next, _ := chanSink(1)
	r := newReceiver(t, Config{}, next)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/api/v2/spans", http.StatusMethodNotAllowed},
		{http.MethodPost, "/api/v1/spans", http.StatusNotFound},
	} {
		rec := httptest.NewRecorder()
		r.Handler().ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, rec.Code, tc.want)
		}
	}
}

func TestRejectedSpansCounted(t *testing.T) {
	next := consumer.TracesFunc(func(context.Context, ptrace.Traces) (consumer.Result, error) {
		return consumer.Result{Rejected: 1, Message: "one span too old"}, nil
	})
	r := newReceiver(t, Config{}, next)
	req := httptest.NewRequest(http.MethodPost, "/api/v2/spans", bytes.NewReader(readFixture(t)))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d", rec.Code)
	}
	if a, f := counterValue(t, r.metrics.accepted), counterValue(t, r.metrics.refused); a != 2 || f != 1 {
		t.Errorf("accepted %v refused %v, want 2 and 1", a, f)
	}
}

func TestLifecycle(t *testing.T) {
	next, ch := chanSink(1)
	r := newReceiver(t, Config{HTTPAddr: "127.0.0.1:0"}, next)
	if r.HTTPAddr() != "" {
		t.Error("address before Start")
	}
	ctx := context.Background()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if a := r.HTTPAddr(); a == "" || strings.HasSuffix(a, ":0") {
		t.Fatalf("address %q", a)
	}
	if err := r.Start(ctx); err == nil {
		t.Error("second Start succeeded")
	}
	status, msg := post(t, "http://"+r.HTTPAddr()+"/api/v2/spans", "application/json", "", readFixture(t))
	if status != http.StatusAccepted {
		t.Fatalf("status %d %s", status, msg)
	}
	receive(t, ch)
	sctx, cancel := context.WithTimeout(ctx, testTimeout)
	defer cancel()
	if err := r.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Shutdown(sctx); err != nil {
		t.Fatal("second Shutdown:", err)
	}
	if _, err := http.Post("http://"+r.HTTPAddr()+"/api/v2/spans", "application/json", bytes.NewReader(readFixture(t))); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

func TestDisabledAndEarlyShutdown(t *testing.T) {
	next, _ := chanSink(1)
	r := newReceiver(t, Config{}, next)
	ctx := context.Background()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if r.HTTPAddr() != "" {
		t.Error("disabled listener has an address")
	}
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	r2 := newReceiver(t, Config{HTTPAddr: "127.0.0.1:0"}, next)
	if err := r2.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r2.Start(ctx); err == nil {
		t.Error("Start after Shutdown succeeded")
	}
}

func TestNewValidation(t *testing.T) {
	next, _ := chanSink(1)
	reg := prometheus.NewRegistry()
	if _, err := New(Config{}, next, reg, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{}, next, reg, nil); err == nil {
		t.Error("second receiver on the same registry did not fail")
	}
	if _, err := New(Config{}, nil, nil, nil); err == nil {
		t.Error("nil consumer accepted")
	}
}
