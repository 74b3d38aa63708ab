package logsapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clewtrace/clew/internal/logstore"
	"github.com/clewtrace/clew/internal/model"
)

type panicSearcher struct{}

func (panicSearcher) Search(context.Context, logstore.LogQuery) ([]logstore.Record, error) {
	panic("nil map somewhere")
}

func (panicSearcher) CountByTrace(context.Context, []model.TraceID) (map[model.TraceID]int, error) {
	panic("nil map somewhere")
}

// TestPanicBecomes500: a panic in the log store costs the request a 500 in
// this API's error shape, not a dropped connection.
func TestPanicBecomes500(t *testing.T) {
	srv := httptest.NewServer(NewHandler(panicSearcher{}, nil))
	defer srv.Close()
	for _, path := range []string{Path, Path + "/count?traceID=0102030405060708090a0b0c0d0e0f10"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v (connection dropped instead of a 500?)", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError || string(body) != "{\"error\":\"internal error\"}\n" {
			t.Errorf("GET %s: %d %q, want 500 {\"error\":\"internal error\"}", path, resp.StatusCode, body)
		}
	}
}
