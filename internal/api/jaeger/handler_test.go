package jaeger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query"
)

const hotrodTraceID = "c05050ff032e5c314edffcc32c5d02be"

// fakeQuerier is a test double for the handler: it holds whole traces in
// memory and records what the handler asked for. Search semantics are the
// query package's business and are tested there; FindTraces here only
// filters by service so that tests can tell "no match" from "match".
type fakeQuerier struct {
	mu        sync.Mutex
	traces    [][]model.Span // most recent first
	services  []string
	deps      []query.Dependency
	ops       []query.Operation
	err       error // returned by every method when set
	lastQuery query.TraceQuery
	lastOps   [2]string // service, spanKind
	lastDeps  struct {
		end      time.Time
		lookback time.Duration
	}
}

var _ Querier = (*fakeQuerier)(nil)

func (f *fakeQuerier) Services(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.services, f.err
}

func (f *fakeQuerier) Operations(_ context.Context, service, spanKind string) ([]query.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastOps = [2]string{service, spanKind}
	return f.ops, f.err
}

func (f *fakeQuerier) FindTraces(_ context.Context, q query.TraceQuery) ([][]model.Span, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastQuery = q
	if f.err != nil {
		return nil, f.err
	}
	var out [][]model.Span
	for _, t := range f.traces {
		if q.ServiceName == "" || slices.ContainsFunc(t, func(s model.Span) bool { return s.Service() == q.ServiceName }) {
			out = append(out, t)
		}
	}
	return out, nil
}

func (f *fakeQuerier) GetTrace(_ context.Context, id model.TraceID) ([]model.Span, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	for _, t := range f.traces {
		if len(t) > 0 && t[0].TraceID == id {
			return t, nil
		}
	}
	return nil, query.ErrNotFound
}

func (f *fakeQuerier) Dependencies(_ context.Context, endTs time.Time, lookback time.Duration) ([]query.Dependency, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastDeps.end, f.lastDeps.lookback = endTs, lookback
	return f.deps, f.err
}

// hotrodSpans decodes the OTLP inside testdata/hotrod-trace-v3.json, the
// same trace Jaeger rendered into the other hotrod fixtures.
func hotrodSpans(t *testing.T) []model.Span {
	t.Helper()
	var wrapper struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(readFile(t, "testdata/hotrod-trace-v3.json"), &wrapper); err != nil {
		t.Fatal(err)
	}
	var u ptrace.JSONUnmarshaler
	td, err := u.UnmarshalTraces(wrapper.Result)
	if err != nil {
		t.Fatal(err)
	}
	spans := model.AppendSpans(nil, td)
	if len(spans) != 40 {
		t.Fatalf("fixture has %d spans, want 40", len(spans))
	}
	return spans
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixedNow is the clock of every test handler.
var fixedNow = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func newTestHandler(f *fakeQuerier) http.Handler {
	return newHandler(f, slog.New(slog.DiscardHandler), func() time.Time { return fixedNow })
}

// get performs a GET and checks the Content-Type every response must have.
func get(t *testing.T, h http.Handler, target string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q, want application/json", target, ct)
	}
	return res.StatusCode, body
}

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, b)
	}
	return buf.String()
}

// assertSameJSON compares byte for byte after removing insignificant
// whitespace, so field order, null vs [] and number formatting all count.
// On failure it reports the first differing span of text.
func assertSameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	g, w := compact(t, got), compact(t, want)
	if g == w {
		return
	}
	i := 0
	for i < len(g) && i < len(w) && g[i] == w[i] {
		i++
	}
	from := max(0, i-200)
	t.Errorf("JSON differs at byte %d\n got: ...%s\nwant: ...%s", i, g[from:min(len(g), i+200)], w[from:min(len(w), i+200)])
}

func TestLegacyGetTraceMatchesJaeger(t *testing.T) {
	f := &fakeQuerier{traces: [][]model.Span{hotrodSpans(t)}}
	h := newTestHandler(f)
	for _, id := range []string{hotrodTraceID, strings.ToUpper(hotrodTraceID)} {
		status, body := get(t, h, "/api/traces/"+id)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		assertSameJSON(t, body, readFile(t, "testdata/hotrod-trace-legacy.json"))
	}
}

func TestV3GetTraceMatchesJaeger(t *testing.T) {
	f := &fakeQuerier{traces: [][]model.Span{hotrodSpans(t)}}
	status, body := get(t, newTestHandler(f), "/api/v3/traces/"+hotrodTraceID)
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	assertSameJSON(t, body, readFile(t, "testdata/hotrod-trace-v3.json"))
}

func TestV3TraceSummariesMatchJaeger(t *testing.T) {
	f := &fakeQuerier{traces: [][]model.Span{hotrodSpans(t)}}
	status, body := get(t, newTestHandler(f),
		"/api/v3/trace-summaries?query.service_name=frontend&query.start_time_min=2026-11-20T00:00:00Z&query.start_time_max=2026-11-22T00:00:00Z")
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	assertSameJSON(t, body, readFile(t, "testdata/hotrod-trace-summaries-v3.json"))
}

func TestLegacyServicesMatchJaeger(t *testing.T) {
	status, body := get(t, newTestHandler(&fakeQuerier{services: []string{"bench-svc"}}), "/api/services")
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	assertSameJSON(t, body, readFile(t, "testdata/services.json"))
}

// TestSimpleEndpoints covers the list endpoints' shapes, including empty
// answers ([] rather than null) and what the handler passes to the Querier.
func TestSimpleEndpoints(t *testing.T) {
	ops := []query.Operation{{Name: "GET /b", SpanKind: "server"}, {Name: "GET /a", SpanKind: "client"}, {Name: "GET /a", SpanKind: "server"}, {Name: "work"}}
	tests := []struct {
		name     string
		services []string
		ops      []query.Operation
		target   string
		want     string
		wantOps  [2]string
	}{
		{"services empty", nil, nil, "/api/services",
			`{"data":[],"total":0,"limit":0,"offset":0,"errors":null}`, [2]string{}},
		{"service operations unique sorted", nil, ops, "/api/services/frontend/operations",
			`{"data":["GET /a","GET /b","work"],"total":3,"limit":0,"offset":0,"errors":null}`, [2]string{"frontend", ""}},
		{"service name with slash and space", nil, nil, "/api/services/a%2Fb%20c/operations",
			`{"data":[],"total":0,"limit":0,"offset":0,"errors":null}`, [2]string{"a/b c", ""}},
		{"operations with kind", nil, ops[:1], "/api/operations?service=frontend&spanKind=server",
			`{"data":[{"name":"GET /b","spanKind":"server"}],"total":1,"limit":0,"offset":0,"errors":null}`, [2]string{"frontend", "server"}},
		{"operations unspecified kind", nil, ops[3:], "/api/operations?service=frontend",
			`{"data":[{"name":"work","spanKind":""}],"total":1,"limit":0,"offset":0,"errors":null}`, [2]string{"frontend", ""}},
		{"operations without service", nil, nil, "/api/operations",
			`{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":400,"msg":"parameter 'service' is required"}]}`, [2]string{}},
		{"v3 services", []string{"a", "b"}, nil, "/api/v3/services",
			`{"services":["a","b"]}`, [2]string{}},
		{"v3 services empty", nil, nil, "/api/v3/services", `{"services":[]}`, [2]string{}},
		{"v3 operations", nil, ops[2:], "/api/v3/operations?service=frontend&span_kind=server",
			`{"operations":[{"name":"GET /a","spanKind":"server"},{"name":"work"}]}`, [2]string{"frontend", "server"}},
		{"v3 operations camel alias", nil, nil, "/api/v3/operations?service=x&spanKind=client",
			`{"operations":[]}`, [2]string{"x", "client"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeQuerier{services: tt.services, ops: tt.ops}
			_, body := get(t, newTestHandler(f), tt.target)
			if got := compact(t, body); got != tt.want {
				t.Errorf("body\n got: %s\nwant: %s", got, tt.want)
			}
			if f.lastOps != tt.wantOps {
				t.Errorf("Operations called with %q, want %q", f.lastOps, tt.wantOps)
			}
		})
	}
}

// TestErrors covers status codes and error bodies of both generations.
func TestErrors(t *testing.T) {
	boom := errors.New("disk on fire")
	const v3Window = "query.start_time_min=2026-11-20T00:00:00Z&query.start_time_max=2026-11-22T00:00:00Z"
	tests := []struct {
		name       string
		err        error
		target     string
		wantStatus int
		want       string
	}{
		{"legacy unknown trace", nil, "/api/traces/0123456789abcdef0123456789abcdef", 404,
			`{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":404,"msg":"trace not found"}]}`},
		{"legacy malformed trace ID", nil, "/api/traces/xyz", 400,
			`{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":400,"msg":"cannot parse traceID: trace ID \"xyz\": not hexadecimal"}]}`},
		{"legacy trace ID too long", nil, "/api/traces/0123456789abcdef0123456789abcdef0", 400,
			`{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":400,"msg":"cannot parse traceID: trace ID \"0123456789abcdef0123456789abcdef0\": longer than 32 hex digits"}]}`},
		{"legacy internal error", boom, "/api/traces/" + hotrodTraceID, 500,
			`{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":500,"msg":"disk on fire"}]}`},
		{"legacy search internal error", boom, "/api/traces?service=a", 500,
			`{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":500,"msg":"searching traces: disk on fire"}]}`},
		{"legacy services internal error", boom, "/api/services", 500,
			`{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":500,"msg":"listing services: disk on fire"}]}`},
		{"legacy dependencies internal error", boom, "/api/dependencies", 500,
			`{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":500,"msg":"computing dependencies: disk on fire"}]}`},
		{"legacy unknown path", nil, "/api/nope", 404,
			`{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":404,"msg":"no such endpoint: GET /api/nope"}]}`},
		{"v3 unknown trace", nil, "/api/v3/traces/0123456789abcdef0123456789abcdef", 404,
			`{"error":{"httpCode":404,"message":"No traces found"}}`},
		{"v3 malformed trace ID", nil, "/api/v3/traces/nothex", 400,
			`{"error":{"httpCode":400,"message":"malformed parameter trace_id: trace ID \"nothex\": not hexadecimal"}}`},
		{"v3 search no match", nil, "/api/v3/traces?query.service_name=nobody&" + v3Window, 404,
			`{"error":{"httpCode":404,"message":"No traces found"}}`},
		{"v3 summaries no match", nil, "/api/v3/trace-summaries?query.service_name=nobody&" + v3Window, 200,
			`{"summaries":[]}`},
		{"v3 search missing window", nil, "/api/v3/traces?query.service_name=frontend", 400,
			`{"error":{"httpCode":400,"message":"query.start_time_min and query.start_time_max are required"}}`},
		{"v3 search internal error", boom, "/api/v3/traces?" + v3Window, 500,
			`{"error":{"httpCode":500,"message":"searching traces: disk on fire"}}`},
		{"v3 get internal error", boom, "/api/v3/traces/" + hotrodTraceID, 500,
			`{"error":{"httpCode":500,"message":"fetching trace c05050ff032e5c314edffcc32c5d02be: disk on fire"}}`},
		{"v3 services internal error", boom, "/api/v3/services", 500,
			`{"error":{"httpCode":500,"message":"listing services: disk on fire"}}`},
		{"v3 unknown path", nil, "/api/v3/nope", 404,
			`{"error":{"httpCode":404,"message":"no such endpoint: GET /api/v3/nope"}}`},
	}
	spans := hotrodSpans(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeQuerier{traces: [][]model.Span{spans}, err: tt.err}
			status, body := get(t, newTestHandler(f), tt.target)
			if status != tt.wantStatus {
				t.Errorf("status %d, want %d", status, tt.wantStatus)
			}
			if got := compact(t, body); got != tt.want {
				t.Errorf("body\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

// panicQuerier fails the way a bug in a Querier would.
type panicQuerier struct{ *fakeQuerier }

func (panicQuerier) Services(context.Context) ([]string, error) { panic("nil map somewhere") }

func TestPanicBecomes500(t *testing.T) {
	h := newHandler(panicQuerier{&fakeQuerier{}}, nil, time.Now)
	for _, tt := range []struct{ target, want string }{
		{"/api/services", `{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":500,"msg":"internal error"}]}`},
		{"/api/v3/services", `{"error":{"httpCode":500,"message":"internal error"}}`},
	} {
		status, body := get(t, h, tt.target)
		if status != http.StatusInternalServerError || compact(t, body) != tt.want {
			t.Errorf("GET %s: %d %s, want 500 %s", tt.target, status, body, tt.want)
		}
	}
}

func TestLegacySearchResponse(t *testing.T) {
	spans := hotrodSpans(t)
	other := []model.Span{{
		TraceID: model.TraceID{15: 1}, SpanID: model.SpanID{7: 1}, Name: "op",
		StartUnixNano: 1_000_000, EndUnixNano: 3_000_000,
		Resource: &model.Resource{ServiceName: "solo"}, Scope: &model.Scope{},
	}}
	f := &fakeQuerier{traces: [][]model.Span{spans, other}}
	h := newTestHandler(f)

	t.Run("search returns whole traces in the Querier's order", func(t *testing.T) {
		_, body := get(t, h, "/api/traces?lookback=1h&limit=20")
		var resp struct {
			Data   []uiTrace
			Errors []structuredError
		}
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatal(err)
		}
		if len(resp.Data) != 2 || resp.Data[0].TraceID != hotrodTraceID || len(resp.Data[0].Spans) != 40 ||
			resp.Data[1].TraceID != "0000000000000001" || resp.Errors != nil {
			t.Errorf("unexpected response: %s", body)
		}
	})
	t.Run("no match is an empty list", func(t *testing.T) {
		status, body := get(t, h, "/api/traces?service=nobody")
		if want := `{"data":[],"total":0,"limit":0,"offset":0,"errors":null}`; status != 200 || compact(t, body) != want {
			t.Errorf("got %d %s, want 200 %s", status, body, want)
		}
	})
	t.Run("traceID lookups report unknown IDs in errors", func(t *testing.T) {
		_, body := get(t, h, "/api/traces?traceID=1&traceID=abc&traceID="+hotrodTraceID+"&service=ignored")
		var resp struct {
			Data   []uiTrace
			Errors []structuredError
		}
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, tr := range resp.Data {
			ids = append(ids, tr.TraceID)
		}
		if want := []string{"0000000000000001", hotrodTraceID}; !slices.Equal(ids, want) {
			t.Errorf("traces %v, want %v", ids, want)
		}
		if want := []structuredError{{Msg: "trace not found", TraceID: "0000000000000abc"}}; !reflect.DeepEqual(resp.Errors, want) {
			t.Errorf("errors %+v, want %+v", resp.Errors, want)
		}
	})
}

func TestV3FindTracesResponse(t *testing.T) {
	spans := hotrodSpans(t)
	f := &fakeQuerier{traces: [][]model.Span{spans}}
	status, body := get(t, newTestHandler(f),
		"/api/v3/traces?query.serviceName=frontend&query.startTimeMin=2026-11-20T00:00:00Z&query.startTimeMax=2026-11-22T00:00:00Z")
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	// A search for the one trace answers exactly what a lookup by ID does.
	assertSameJSON(t, body, readFile(t, "testdata/hotrod-trace-v3.json"))
}

func TestDependencies(t *testing.T) {
	deps := []query.Dependency{
		{Parent: "frontend", Child: "driver", CallCount: 2, ErrorCount: 1},
		{Parent: "frontend", Child: "route", CallCount: 10},
		{Parent: "frontend", Child: "driver", CallCount: 3},
	}
	tests := []struct {
		name         string
		target       string
		wantStatus   int
		wantEnd      time.Time
		wantLookback time.Duration
		want         string
	}{
		{"defaults", "/api/dependencies", 200, fixedNow, 24 * time.Hour,
			`{"data":[{"parent":"frontend","child":"driver","callCount":5},{"parent":"frontend","child":"route","callCount":10}],"total":0,"limit":0,"offset":0,"errors":null}`},
		{"explicit ms", "/api/dependencies?endTs=1795297831000&lookback=3600000", 200, time.UnixMilli(1795297831000), time.Hour, ""},
		{"bad endTs", "/api/dependencies?endTs=yesterday", 400, time.Time{}, 0,
			`{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":400,"msg":"unable to parse param 'endTs': strconv.ParseInt: parsing \"yesterday\": invalid syntax"}]}`},
		{"bad lookback", "/api/dependencies?lookback=-5", 400, time.Time{}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeQuerier{deps: deps}
			status, body := get(t, newTestHandler(f), tt.target)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tt.wantStatus, body)
			}
			if tt.want != "" && compact(t, body) != tt.want {
				t.Errorf("body\n got: %s\nwant: %s", compact(t, body), tt.want)
			}
			if status == 200 && (!f.lastDeps.end.Equal(tt.wantEnd) || f.lastDeps.lookback != tt.wantLookback) {
				t.Errorf("Dependencies(%v, %v), want (%v, %v)", f.lastDeps.end, f.lastDeps.lookback, tt.wantEnd, tt.wantLookback)
			}
		})
	}
}

// TestConcurrentRequests gives the race detector something to look at: the
// handler keeps no per-request state outside the request.
func TestConcurrentRequests(t *testing.T) {
	f := &fakeQuerier{traces: [][]model.Span{hotrodSpans(t)}, services: []string{"frontend"}}
	h := newTestHandler(f)
	targets := []string{"/api/traces/" + hotrodTraceID, "/api/v3/traces/" + hotrodTraceID, "/api/services", "/api/traces?service=frontend"}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, targets[i%len(targets)], nil))
			if rec.Code != http.StatusOK {
				t.Errorf("%s: status %d", targets[i%len(targets)], rec.Code)
			}
		})
	}
	wg.Wait()
}
