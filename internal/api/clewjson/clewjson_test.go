package clewjson

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	want := time.Date(2026, 12, 1, 3, 4, 5, 123456000, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "", want: time.Time{}},
		{in: "1796094245123456", want: want},
		{in: "2026-12-01T03:04:05.123456Z", want: want},
		{in: "2026-12-01T04:04:05.123456+01:00", want: want},
		{in: "yesterday", bad: true},
		{in: "2026-12-01", bad: true},
	} {
		got, err := ParseTime("start", tc.in)
		if tc.bad {
			if err == nil || !strings.Contains(err.Error(), `start "`+tc.in+`"`) {
				t.Errorf("ParseTime(%q) error = %v, want one naming the parameter and value", tc.in, err)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %v in UTC", tc.in, got, err, tc.want)
		}
	}
}

func decodeError(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var body ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not the error shape: %v", rec.Body, err)
	}
	return body.Error
}

func TestWriteCannotEncodeIsCleanError(t *testing.T) {
	rec := httptest.NewRecorder()
	err := Write(rec, http.StatusOK, map[string]float64{"x": math.NaN()})
	if err == nil {
		t.Fatal("Write of NaN returned no error")
	}
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", rec.Code)
	}
	if msg := decodeError(t, rec); msg != "encoding response failed" {
		t.Errorf("error %q", msg)
	}
}

func TestErrorAnswers(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/api/clew/nothing", nil)
	for _, tc := range []struct {
		name   string
		answer func(http.ResponseWriter, *http.Request)
		status int
		msg    string
		allow  string
	}{
		{"no endpoint", NoEndpoint, http.StatusNotFound, "no endpoint POST /api/clew/nothing", ""},
		{"only GET", OnlyGET, http.StatusMethodNotAllowed, "POST /api/clew/nothing: only GET", "GET, HEAD"},
		{"fail", func(w http.ResponseWriter, r *http.Request) {
			Fail(w, r, http.StatusServiceUnavailable, errors.New("busy"))
		}, http.StatusServiceUnavailable, "busy", ""},
	} {
		rec := httptest.NewRecorder()
		tc.answer(rec, r)
		if rec.Code != tc.status || rec.Header().Get("Allow") != tc.allow {
			t.Errorf("%s: status %d Allow %q, want %d %q", tc.name, rec.Code, rec.Header().Get("Allow"), tc.status, tc.allow)
		}
		if msg := decodeError(t, rec); msg != tc.msg {
			t.Errorf("%s: error %q, want %q", tc.name, msg, tc.msg)
		}
	}
}
