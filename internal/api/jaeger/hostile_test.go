package jaeger

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query"
)

// stuckQuerier's searches run until their context ends, like a search over
// far too much data.
type stuckQuerier struct{ fakeQuerier }

func (s *stuckQuerier) FindTraces(ctx context.Context, _ query.TraceQuery) ([][]model.Span, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestSearchTimeout: each request runs under the handler's deadline; a
// search that exceeds it is answered 503 in both API generations.
func TestSearchTimeout(t *testing.T) {
	h := newHandler(&stuckQuerier{}, slog.New(slog.DiscardHandler), func() time.Time { return fixedNow })
	h.timeout = 20 * time.Millisecond
	for _, path := range []string{
		"/api/traces?service=a",
		"/api/v3/traces?query.start_time_min=2026-11-20T00:00:00Z&query.start_time_max=2026-11-21T00:00:00Z",
	} {
		status, body := get(t, h, path)
		if status != http.StatusServiceUnavailable {
			t.Errorf("%s: %d %s, want 503", path, status, body)
		}
	}
}

// TestPanicAfterResponseStarted: a panic once the response has started must
// not append an error body to it (before the fix: two JSON documents and a
// superfluous WriteHeader); the connection is aborted instead.
func TestPanicAfterResponseStarted(t *testing.T) {
	h := newHandler(&fakeQuerier{}, slog.New(slog.DiscardHandler), func() time.Time { return fixedNow })
	h.mux.HandleFunc("GET /api/test-panic-late", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"data":[`))
		panic("conversion failed half-way")
	})
	h.mux.HandleFunc("GET /api/test-panic-early", func(http.ResponseWriter, *http.Request) {
		panic("conversion failed")
	})

	rec := httptest.NewRecorder()
	func() {
		defer func() {
			if p := recover(); p != http.ErrAbortHandler {
				t.Errorf("late panic: recovered %v, want http.ErrAbortHandler so the connection is dropped", p)
			}
		}()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/test-panic-late", nil))
	}()
	if rec.Code != http.StatusOK || rec.Body.String() != `{"data":[` {
		t.Errorf("late panic: %d %q, want the partial 200 untouched", rec.Code, rec.Body.String())
	}

	status, body := get(t, h, "/api/test-panic-early")
	var resp structuredResponse
	if err := json.Unmarshal(body, &resp); err != nil || status != 500 || len(resp.Errors) != 1 {
		t.Errorf("early panic: %d %s, want one 500 error document", status, body)
	}
}
