package tempo

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/traceql"
)

type panicQuerier struct{ Querier }

func (panicQuerier) GetTrace(context.Context, model.TraceID) ([]model.Span, error) {
	panic("nil map somewhere")
}

type panicMatcher struct{}

func (panicMatcher) MatchTraceQL(context.Context, model.TraceID, *traceql.Query) (*traceql.Trace, []traceql.Set, error) {
	panic("nil map somewhere")
}

// TestPanicBecomes500: a panic in the query layer costs the request a 500 in
// Tempo's error shape (plain text), not a dropped connection, on both the
// Tempo API and the UI's match endpoint.
func TestPanicBecomes500(t *testing.T) {
	for _, tt := range []struct {
		h    http.Handler
		path string
	}{
		{NewHandler(panicQuerier{}, BuildInfo{}, nil), "/api/traces/0102030405060708090a0b0c0d0e0f10"},
		{NewMatchHandler(panicMatcher{}, nil), MatchPath + "traces/0102030405060708090a0b0c0d0e0f10?q=%7B%7D"},
	} {
		srv := httptest.NewServer(tt.h)
		resp, err := srv.Client().Get(srv.URL + tt.path)
		if err != nil {
			srv.Close()
			t.Fatalf("GET %s: %v (connection dropped instead of a 500?)", tt.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != http.StatusInternalServerError || string(body) != "internal error\n" {
			t.Errorf("GET %s: %d %q, want 500 \"internal error\"", tt.path, resp.StatusCode, body)
		}
	}
}
