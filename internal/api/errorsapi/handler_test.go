package errorsapi

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/errgroups"
	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query"
)

type fakeGroups struct{ lastQuery errgroups.Query }

func (f *fakeGroups) Groups(q errgroups.Query) []errgroups.Group {
	f.lastQuery = q
	return []errgroups.Group{{ID: "abc", Info: errgroups.Info{Type: "E", Service: "s"}, Count: 2}}
}

func (f *fakeGroups) Group(id string, from, to time.Time) (errgroups.Group, bool) {
	if id != "abc" {
		return errgroups.Group{}, false
	}
	return errgroups.Group{ID: id, Count: 2, Examples: []errgroups.Example{{TraceID: "00000000000000000000000000000001", Time: 1}, {TraceID: "00000000000000000000000000000002", Time: 2}}}, true
}

func (f *fakeGroups) Services() []string { return []string{"s"} }

type fakeTraces struct{}

func (fakeTraces) GetTrace(_ context.Context, id model.TraceID) ([]model.Span, error) {
	if id[15] != 1 {
		return nil, query.ErrNotFound
	}
	return []model.Span{{TraceID: id, SpanID: model.SpanID{7: 1}, Name: "op", Kind: model.KindServer, StatusCode: model.StatusError, StatusMessage: "order 12 failed",
		Resource: &model.Resource{ServiceName: "svc"}, Scope: &model.Scope{}}}, nil
}

func TestHandler(t *testing.T) {
	g := &fakeGroups{}
	h := NewHandler(g, fakeTraces{}, nil)
	tests := []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", Path + "?service=s&q=boom&limit=5", 200, `"id":"abc"`},
		{"GET", Path + "?start=yesterday", 400, "start"},
		{"GET", Path + "?start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z", 400, "not after start"},
		{"GET", Path + "?start=2020-01-01T00:00:00Z&end=2026-01-01T00:00:00Z", 400, "longer than"},
		{"GET", Path + "?limit=0", 400, "limit"},
		{"GET", Path + "/abc", 200, `"count":2`},
		{"GET", Path + "/nope", 404, "no occurrences"},
		{"GET", Path + "/abc/traces", 200, `"stored":true`},
		{"GET", Path + "/lookup?traceID=00000000000000000000000000000001&spanID=0000000000000001", 200, `"pattern":"order \u003cn\u003e failed"`},
		{"GET", Path + "/lookup?traceID=00000000000000000000000000000002&spanID=0000000000000001", 404, "trace not found"},
		{"GET", Path + "/lookup?traceID=00000000000000000000000000000001&spanID=0000000000000009", 404, "span not found"},
		{"GET", Path + "/lookup?traceID=xyz&spanID=0000000000000001", 400, "traceID"},
		{"POST", Path, 405, "only GET"},
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("%s %s: %d %s, want %d containing %q", tc.method, tc.path, rec.Code, rec.Body.String(), tc.status, tc.body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Errorf("%s %s: body is not JSON: %s", tc.method, tc.path, rec.Body.String())
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", Path+"?service=s&q=boom&limit=5", nil))
	if g.lastQuery.Service != "s" || g.lastQuery.Text != "boom" || g.lastQuery.Limit != 5 || g.lastQuery.To.Sub(g.lastQuery.From) != 24*time.Hour {
		t.Errorf("query passed to the store: %+v", g.lastQuery)
	}
	var tr TracesResponse
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", Path+"/abc/traces", nil))
	if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil || len(tr.Traces) != 2 || !tr.Traces[0].Stored || tr.Traces[1].Stored || tr.Traces[0].RootOperation != "op" {
		t.Errorf("traces %+v (%v): want the stored one first", tr, err)
	}
}
