package otlp

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/consumer"
)

// sink records every batch it is given and answers with result/err, or with
// what answer returns when it is set.
type sink struct {
	mu     sync.Mutex
	traces []ptrace.Traces
	logs   []plog.Logs
	result consumer.Result
	err    error
	// block, when non-nil, is waited on (or ctx) before answering, to hold a
	// request in flight.
	block   chan struct{}
	entered chan struct{} // receives once per call, when non-nil
}

func (s *sink) ConsumeTraces(ctx context.Context, td ptrace.Traces) (consumer.Result, error) {
	s.mu.Lock()
	s.traces = append(s.traces, td)
	block, entered := s.block, s.entered
	s.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return consumer.Result{}, ctx.Err()
		}
	}
	return s.result, s.err
}

func (s *sink) ConsumeLogs(_ context.Context, ld plog.Logs) (consumer.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs = append(s.logs, ld)
	return s.result, s.err
}

// spanRef identifies a span in test expectations.
type spanRef struct{ traceID, spanID, name string }

// spans lists every span the sink received, sorted for comparison.
func (s *sink) spans() []spanRef {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []spanRef
	for _, td := range s.traces {
		out = append(out, spansOf(td)...)
	}
	slices.SortFunc(out, func(a, b spanRef) int {
		if c := bytes.Compare([]byte(a.traceID), []byte(b.traceID)); c != 0 {
			return c
		}
		return bytes.Compare([]byte(a.spanID), []byte(b.spanID))
	})
	return out
}

func (s *sink) logRecordCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ld := range s.logs {
		n += ld.LogRecordCount()
	}
	return n
}

func spansOf(td ptrace.Traces) []spanRef {
	var out []spanRef
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		sss := rss.At(i).ScopeSpans()
		for j := range sss.Len() {
			sp := sss.At(j).Spans()
			for k := range sp.Len() {
				s := sp.At(k)
				out = append(out, spanRef{s.TraceID().String(), s.SpanID().String(), s.Name()})
			}
		}
	}
	return out
}

func sortedRefs(refs ...spanRef) []spanRef {
	out := slices.Clone(refs)
	slices.SortFunc(out, func(a, b spanRef) int {
		if c := bytes.Compare([]byte(a.traceID), []byte(b.traceID)); c != 0 {
			return c
		}
		return bytes.Compare([]byte(a.spanID), []byte(b.spanID))
	})
	return out
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

// newTestReceiver builds a Receiver on a fresh registry; logs may be nil.
func newTestReceiver(t testing.TB, cfg Config, traces consumer.Traces, logs consumer.Logs) (*Receiver, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	r, err := New(cfg, traces, logs, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r, reg
}

// post sends body to the receiver's HTTP handler and returns the recorded
// response.
func post(t testing.TB, h http.Handler, path, contentType string, body []byte, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func newRequest(method, path, contentType string, body []byte, hdr map[string]string) *http.Request {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return req
}

func serve(r *Receiver, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	r.HTTPHandler().ServeHTTP(rec, req)
	return rec
}

// counterValue reads a counter without prometheus/testutil, whose
// dependencies are not in go.mod.
func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatalf("read counter: %v", err)
	}
	return m.GetCounter().GetValue()
}

func httptestBody(b []byte) *bytes.Reader { return bytes.NewReader(b) }

var errOverloadedForTest = consumer.ErrOverloaded
