package logsapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/logstore"
	"github.com/clewtrace/clew/internal/model"
)

// fakeSearcher records the query it was given and returns canned results.
type fakeSearcher struct {
	q      logstore.LogQuery
	ids    []model.TraceID
	recs   []logstore.Record
	counts map[model.TraceID]int
	err    error
}

func (f *fakeSearcher) Search(_ context.Context, q logstore.LogQuery) ([]logstore.Record, error) {
	f.q = q
	return f.recs, f.err
}

func (f *fakeSearcher) CountByTrace(_ context.Context, ids []model.TraceID) (map[model.TraceID]int, error) {
	f.ids = ids
	return f.counts, f.err
}

func get(t *testing.T, h http.Handler, url string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", url, ct)
	}
	return rec.Code, rec.Body.String()
}

func TestSearchParameters(t *testing.T) {
	tid := model.TraceID{15: 0xab}
	sid := model.SpanID{7: 0xcd}
	t1 := time.Date(2026, 3, 1, 12, 0, 0, 500, time.UTC)
	tests := []struct {
		query   string
		want    logstore.LogQuery
		wantErr string // substring of the 400 message; "" for success
	}{
		{query: "", want: logstore.LogQuery{}},
		{query: "traceID=ab&spanID=CD", want: logstore.LogQuery{TraceID: &tid, SpanID: &sid}},
		{query: "service=api&contains=Timeout", want: logstore.LogQuery{Service: "api", Contains: "Timeout"}},
		{query: "severity=13", want: logstore.LogQuery{MinSeverity: 13}},
		{query: "severity=warn", want: logstore.LogQuery{MinSeverity: 13}},
		{query: "severity=ERROR", want: logstore.LogQuery{MinSeverity: 17}},
		{query: "severity=TRACE", want: logstore.LogQuery{MinSeverity: 1}},
		{query: "start=2026-03-01T12:00:00.0000005Z", want: logstore.LogQuery{Start: t1}},
		{query: "end=1772366400000000", want: logstore.LogQuery{End: time.UnixMicro(1772366400000000).UTC()}},
		{query: "attr=http.route:/a:b&attr=region:eu", want: logstore.LogQuery{Attributes: map[string]string{"http.route": "/a:b", "region": "eu"}}},
		{query: "attr=empty:", want: logstore.LogQuery{Attributes: map[string]string{"empty": ""}}},
		{query: "limit=20", want: logstore.LogQuery{Limit: 20}},
		{query: "limit=99999", want: logstore.LogQuery{Limit: logstore.MaxLimit}},
		{query: "unknown=1", want: logstore.LogQuery{}},

		{query: "traceID=xyz", wantErr: "traceID"},
		{query: "spanID=" + strings.Repeat("a", 17), wantErr: "spanID"},
		{query: "severity=0", wantErr: "severity"},
		{query: "severity=25", wantErr: "severity"},
		{query: "severity=loud", wantErr: "severity"},
		{query: "start=yesterday", wantErr: "start"},
		{query: "end=2026-13-01", wantErr: "end"},
		{query: "start=2000&end=1000", wantErr: "before start"},
		{query: "attr=novalue", wantErr: "attr"},
		{query: "attr=:v", wantErr: "attr"},
		{query: "limit=0", wantErr: "limit"},
		{query: "limit=ten", wantErr: "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			f := &fakeSearcher{}
			code, body := get(t, NewHandler(f, nil), Path+"?"+tt.query)
			if tt.wantErr != "" {
				var e struct{ Error string }
				if code != http.StatusBadRequest || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error, tt.wantErr) {
					t.Fatalf("got %d %s, want 400 mentioning %q", code, body, tt.wantErr)
				}
				return
			}
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, body)
			}
			if !reflect.DeepEqual(f.q, tt.want) {
				t.Fatalf("query %+v, want %+v", f.q, tt.want)
			}
			if body != "{\"logs\":[]}\n" {
				t.Fatalf("empty result rendered as %q", body)
			}
		})
	}
}

func TestSearchJSONShape(t *testing.T) {
	f := &fakeSearcher{recs: []logstore.Record{{
		Time:               time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC),
		ObservedTime:       time.Date(2026, 3, 1, 12, 0, 1, 0, time.UTC),
		TraceID:            model.TraceID{0: 1, 15: 2},
		SpanID:             model.SpanID{0: 3, 7: 4},
		SeverityNumber:     9,
		SeverityText:       "INFO",
		Body:               "hello",
		ServiceName:        "api",
		Attributes:         []model.Attribute{{Key: "n", Value: model.IntValue(5)}},
		ResourceAttributes: []model.Attribute{{Key: "service.name", Value: model.StringValue("api")}},
		ScopeName:          "lib",
	}, {
		Time: time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC), Body: "no trace", ServiceName: "api",
	}}}
	code, body := get(t, NewHandler(f, nil), Path)
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	want := `{"logs":[` +
		`{"time":"2026-03-01T12:00:00.123456789Z","observedTime":"2026-03-01T12:00:01Z","traceId":"01000000000000000000000000000002","spanId":"0300000000000004","severityNumber":9,"severityText":"INFO","body":"hello","service":"api","attributes":{"n":"5"},"resource":{"service.name":"api"},"scope":"lib"},` +
		`{"time":"2026-03-01T11:00:00Z","severityNumber":0,"severityText":"","body":"no trace","service":"api","attributes":{},"resource":{},"scope":""}` +
		"]}\n"
	if body != want {
		t.Fatalf("body\n%s\nwant\n%s", body, want)
	}
}

func TestCount(t *testing.T) {
	a, b := model.TraceID{15: 0xa}, model.TraceID{15: 0xb}
	tests := []struct {
		name     string
		query    string
		counts   map[model.TraceID]int
		wantCode int
		wantBody string
	}{
		{"two ids, one without logs", "traceID=a&traceID=B", map[model.TraceID]int{a: 3}, 200,
			`{"counts":{"0000000000000000000000000000000a":3,"0000000000000000000000000000000b":0}}`},
		{"no id", "", nil, 400, `{"error":"at least one traceID is required"}`},
		{"bad id", "traceID=a&traceID=zz", nil, 400, `{"error":"traceID: trace ID \"zz\": not hexadecimal"}`},
		{"too many", "traceID=a" + strings.Repeat("&traceID=b", maxCountIDs), nil, 400, `{"error":"at most 1000 traceIDs per request"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSearcher{counts: tt.counts}
			code, body := get(t, NewHandler(f, nil), Path+"/count?"+tt.query)
			if code != tt.wantCode || body != tt.wantBody+"\n" {
				t.Fatalf("got %d %s, want %d %s", code, body, tt.wantCode, tt.wantBody)
			}
			if code == 200 && !reflect.DeepEqual(f.ids, []model.TraceID{a, b}) {
				t.Fatalf("asked for %v", f.ids)
			}
		})
	}
}

func TestErrorsAndRouting(t *testing.T) {
	f := &fakeSearcher{err: errors.New("disk on fire")}
	h := NewHandler(f, nil)
	for _, tt := range []struct {
		method, url string
		code        int
	}{
		{http.MethodGet, Path, 500},
		{http.MethodGet, Path + "/count?traceID=1", 500},
		{http.MethodPost, Path, 405},
		{http.MethodGet, Path + "/nope", 404},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.url, nil))
		if rec.Code != tt.code {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.url, rec.Code, tt.code)
		}
		if strings.Contains(rec.Body.String(), "disk on fire") {
			t.Errorf("%s %s leaks the internal error: %s", tt.method, tt.url, rec.Body)
		}
	}
}

// TestWithStore runs the handler over a real store once, so the Searcher
// contract (trace search oldest first, counts) holds end to end.
func TestWithStore(t *testing.T) {
	ctx := context.Background()
	s, err := logstore.Open(ctx, logstore.Options{Dir: t.TempDir(), DisableRunLoop: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	ld := newLogs("first", "second")
	if _, err := s.ConsumeLogs(ctx, ld); err != nil {
		t.Fatal(err)
	}
	h := NewHandler(s, nil)
	code, body := get(t, h, Path+"?traceID=1&severity=info")
	var resp SearchResponse
	if code != 200 || json.Unmarshal([]byte(body), &resp) != nil || len(resp.Logs) != 2 ||
		resp.Logs[0].Body != "first" || resp.Logs[1].Body != "second" {
		t.Fatalf("search: %d %s", code, body)
	}
	code, body = get(t, h, Path+"/count?traceID=1")
	if code != 200 || body != `{"counts":{"00000000000000000000000000000001":2}}`+"\n" {
		t.Fatalf("count: %d %s", code, body)
	}
}
