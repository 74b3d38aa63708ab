package cluster

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/clewtrace/clew/internal/objstore"
)

// Bad peer requests get a clear 4xx in Clew's error shape, and every
// answer names the node.
func TestHandlerRefusesBadRequests(t *testing.T) {
	srv := serve(t, "node-x", openNode(t, objstore.NewMemory()))
	for _, c := range []struct {
		method, path, body string
		code               int
	}{
		{"GET", RecentPath + "traces/not-hex", "", 400},
		{"POST", RecentPath + "search", "{", 400},
		{"POST", RecentPath + "search", `{"predicate": {"Kind": -1}, "limit": 0}`, 400},
		{"POST", RecentPath + "search", `{"predicate": {"Kind": -1}, "limit": 1000000}`, 400},
		{"POST", RecentPath + "search", `{"predicate": {"Kind": -1, "Service": "` + strings.Repeat("x", 2<<20) + `"}, "limit": 5}`, 400},
		{"GET", RecentPath + "dependencies?from=yesterday&to=1", "", 400},
		{"GET", RecentPath + "search", "", 404},
		{"GET", RecentPath + "nothing", "", 404},
		{"POST", RecentPath + "search", `{"predicate": {"Kind": -1}, "limit": 5}`, 200},
		{"GET", RecentPath + "operations", "", 200},
		{"GET", RecentPath + "dependencies?from=0&to=1", "", 200},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, resp.StatusCode, body, c.code)
			continue
		}
		if resp.Header.Get(NodeHeader) != "node-x" {
			t.Errorf("%s %s: %s = %q", c.method, c.path, NodeHeader, resp.Header.Get(NodeHeader))
		}
		if c.code >= 400 {
			var e struct{ Error string }
			if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
				t.Errorf("%s %s: error body %q is not {\"error\": ...}", c.method, c.path, body)
			}
		}
	}
}
