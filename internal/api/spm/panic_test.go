package spm

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/spanmetrics"
)

type panicSource struct{ Source }

func (panicSource) Services(context.Context, time.Time, time.Time) ([]spanmetrics.ServiceStats, error) {
	panic("nil map somewhere")
}

func (panicSource) Series(context.Context, spanmetrics.SeriesQuery) ([]spanmetrics.Series, error) {
	panic("nil map somewhere")
}

// TestPanicBecomes500: a panic in the metrics store costs the request a 500
// in the error shape of the API the path belongs to, not a dropped connection.
func TestPanicBecomes500(t *testing.T) {
	srv := httptest.NewServer(NewHandler(panicSource{}, nil))
	defer srv.Close()
	for _, tt := range []struct {
		path string
		ok   func(map[string]any) bool
	}{
		{"/api/clew/metrics/services", func(m map[string]any) bool { return m["error"] == "internal error" }},
		{"/api/metrics/calls?service=a", func(m map[string]any) bool {
			errs, _ := m["errors"].([]any)
			if len(errs) != 1 {
				return false
			}
			e, _ := errs[0].(map[string]any)
			return e["msg"] == "internal error"
		}},
	} {
		resp, err := srv.Client().Get(srv.URL + tt.path)
		if err != nil {
			t.Fatalf("GET %s: %v (connection dropped instead of a 500?)", tt.path, err)
		}
		var body map[string]any
		decErr := json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError || decErr != nil || !tt.ok(body) {
			t.Errorf("GET %s: %d %v %v, want 500 saying internal error", tt.path, resp.StatusCode, body, decErr)
		}
	}
}
