package app

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/clewtrace/clew/internal/config"
)

// TestClewAPIErrorShape: every endpoint under /api/clew/ answers an error as
// {"error": "message"} and nothing else (issue 13 found two shapes).
func TestClewAPIErrorShape(t *testing.T) {
	const token = "a-query-token-long-enough-0123456789"
	a := startApp(t, t.TempDir(), func(c *config.Config) { c.QueryToken = token })
	base := "http://" + a.Addrs().Query
	for _, c := range []struct {
		path  string
		code  int
		token bool
	}{
		{"/api/clew/traces/xyz/analysis", 400, true},
		{"/api/clew/traces/abc/analysis", 404, true},
		{"/api/clew/nothing", 404, true},
		{"/api/clew/logs?start=soon", 400, true},
		{"/api/clew/metrics/services?start=soon", 400, true},
		{"/api/clew/metrics/timeseries", 400, true},
		{"/api/clew/servicegraph?end=soon", 400, true},
		{"/api/clew/errors?start=soon", 400, true},
		{"/api/clew/errors/nope", 404, true},
		{"/api/clew/metrics/services", 401, false},
	} {
		req, _ := http.NewRequest(http.MethodGet, base+c.path, nil)
		if c.token {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var shape map[string]any
		err = json.Unmarshal(body, &shape)
		msg, isString := shape["error"].(string)
		if resp.StatusCode != c.code || err != nil || len(shape) != 1 || !isString || msg == "" {
			t.Errorf("%s: %d %s, want %d and {\"error\": \"message\"}", c.path, resp.StatusCode, body, c.code)
		}
	}
}
