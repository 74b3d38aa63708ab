package app

import (
	"net/http"
	"testing"

	"github.com/clewtrace/clew/internal/config"
)

// The Tempo API listens on its own address, behind the query token (except
// /ready), and is off when its address is empty.
func TestTempoListener(t *testing.T) {
	a := startApp(t, t.TempDir(), func(c *config.Config) { c.QueryToken = "q-token" })
	base := "http://" + a.Addrs().Tempo
	status := func(path, token string) int {
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("/api/echo", ""); got != http.StatusUnauthorized {
		t.Errorf("echo without token: %d", got)
	}
	if got := status("/api/echo", "q-token"); got != http.StatusOK {
		t.Errorf("echo with token: %d", got)
	}
	if got := status("/api/search?q=%7B%7D", "q-token"); got != http.StatusOK {
		t.Errorf("search with token: %d", got)
	}
	if got := status("/ready", ""); got != http.StatusOK {
		t.Errorf("ready: %d", got)
	}

	off := startApp(t, t.TempDir(), func(c *config.Config) { c.TempoAddr = "" })
	if addr := off.Addrs().Tempo; addr != "" {
		t.Errorf("tempo-addr empty, yet listening on %s", addr)
	}
}
