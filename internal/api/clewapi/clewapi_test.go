package clewapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/api/clewjson"
	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query"
)

type fakeQuerier map[model.TraceID][]model.Span

func (f fakeQuerier) GetTrace(_ context.Context, id model.TraceID) ([]model.Span, error) {
	if id == (model.TraceID{0xee}) {
		return nil, errors.New("disk on fire")
	}
	spans, ok := f[id]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", id, query.ErrNotFound)
	}
	return spans, nil
}

var _ Querier = fakeQuerier(nil)

const base = int64(1_700_000_000_000_000_000)

func span(tid model.TraceID, id, parent byte, startMs, endMs int64) model.Span {
	return model.Span{
		TraceID: tid, SpanID: model.SpanID{7: id}, ParentSpanID: model.SpanID{7: parent},
		StartUnixNano: base + startMs*1e6, EndUnixNano: base + endMs*1e6,
		Resource: &model.Resource{ServiceName: "svc"}, Scope: &model.Scope{},
	}
}

func get(t *testing.T, h http.Handler, path string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", path, ct)
	}
	return rec.Code, rec.Body.Bytes()
}

func TestAnalysis(t *testing.T) {
	tid := model.TraceID{15: 1}
	// A browser root whose first child starts 1.4 s late.
	q := fakeQuerier{tid: {
		span(tid, 1, 0, 0, 2000),
		span(tid, 2, 1, 1400, 1900),
	}}
	h := NewHandler(q, nil)
	code, body := get(t, h, "/api/clew/traces/"+tid.String()+"/analysis")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var got AnalysisResponse
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	us := base / 1000
	want := AnalysisResponse{
		TraceID:   tid.String(),
		SpanCount: 2,
		CriticalPath: []SegmentJSON{
			{SpanID: "0000000000000001", Start: us, End: us + 1_400_000},
			{SpanID: "0000000000000002", Start: us + 1_400_000, End: us + 1_900_000},
			{SpanID: "0000000000000001", Start: us + 1_900_000, End: us + 2_000_000},
		},
		Gaps:         []GapJSON{{SpanID: "0000000000000001", Start: us, End: us + 1_400_000, Duration: 1_400_000}},
		SelfTime:     map[string]int64{"0000000000000001": 1_500_000, "0000000000000002": 500_000},
		CriticalTime: map[string]int64{"0000000000000001": 1_500_000, "0000000000000002": 500_000},
		Options:      OptionsJSON{GapMinFraction: 0.1, GapMinDuration: "1ms"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	// Thresholds come from the query string; 64-bit (short) IDs are accepted.
	code, body = get(t, h, "/api/clew/traces/1/analysis?gapMinFraction=0.01&gapMinDuration=50ms")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	got = AnalysisResponse{}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Gaps) != 2 || got.Options.GapMinDuration != (50*time.Millisecond).String() {
		t.Errorf("with thresholds 1%%/50ms want 2 gaps (1.4s and 100ms), got %+v", got)
	}
}

func TestAnalysisErrors(t *testing.T) {
	h := NewHandler(fakeQuerier{}, nil)
	for _, tc := range []struct {
		path string
		code int
		msg  string
	}{
		{"/api/clew/traces/abc/analysis", http.StatusNotFound, "trace not found"},
		{"/api/clew/traces/xyz/analysis", http.StatusBadRequest, "not hexadecimal"},
		{"/api/clew/traces/1/analysis?gapMinFraction=2", http.StatusBadRequest, "gapMinFraction"},
		{"/api/clew/traces/1/analysis?gapMinDuration=soon", http.StatusBadRequest, "gapMinDuration"},
		{"/api/clew/traces/ee000000000000000000000000000000/analysis", http.StatusInternalServerError, "cannot read trace"},
		{"/api/clew/nothing", http.StatusNotFound, "no endpoint"},
	} {
		code, body := get(t, h, tc.path)
		var e clewjson.ErrorBody
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("%s: %v: %s", tc.path, err, body)
		}
		if code != tc.code || !strings.Contains(e.Error, tc.msg) {
			t.Errorf("%s: got %d %+v, want %d containing %q", tc.path, code, e, tc.code, tc.msg)
		}
	}
}
