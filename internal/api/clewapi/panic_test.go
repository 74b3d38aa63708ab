package clewapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clewtrace/clew/internal/model"
)

type panicQuerier struct{}

func (panicQuerier) GetTrace(context.Context, model.TraceID) ([]model.Span, error) {
	panic("nil map somewhere")
}

// TestPanicBecomes500: a panic in the query layer costs the request a 500 in
// this API's error shape, not a dropped connection.
func TestPanicBecomes500(t *testing.T) {
	srv := httptest.NewServer(NewHandler(panicQuerier{}, nil))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + Prefix + "traces/0102030405060708090a0b0c0d0e0f10/analysis")
	if err != nil {
		t.Fatalf("GET: %v (connection dropped instead of a 500?)", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusInternalServerError || string(body) != "{\"error\":\"internal error\"}\n" {
		t.Errorf("got %d %q, want 500 {\"error\":\"internal error\"}", resp.StatusCode, body)
	}
}
