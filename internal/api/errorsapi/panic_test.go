package errorsapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/errgroups"
)

type panicGroups struct{}

func (panicGroups) Groups(errgroups.Query) []errgroups.Group { panic("nil map somewhere") }
func (panicGroups) Group(string, time.Time, time.Time) (errgroups.Group, bool) {
	panic("nil map somewhere")
}
func (panicGroups) Services() []string { panic("nil map somewhere") }

// TestPanicBecomes500: a panic in the error groups costs the request a 500 in
// this API's error shape, not a dropped connection.
func TestPanicBecomes500(t *testing.T) {
	srv := httptest.NewServer(NewHandler(panicGroups{}, fakeTraces{}, nil))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + Path)
	if err != nil {
		t.Fatalf("GET: %v (connection dropped instead of a 500?)", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusInternalServerError || string(body) != "{\"error\":\"internal error\"}\n" {
		t.Errorf("got %d %q, want 500 {\"error\":\"internal error\"}", resp.StatusCode, body)
	}
}
