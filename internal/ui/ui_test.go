package ui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandlerRoutes(t *testing.T) {
	h := Handler()
	for _, path := range []string{"/", "/search?service=x", "/trace/abc", "/services?service=x", "/map", "/compare?a=1&b=2", "/logs?service=x", "/unknown/page"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `<div id="app">`) {
			t.Errorf("%s: %d, not index.html", path, rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
	}
}

func TestHandlerAssets(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for path, ct := range map[string]string{
		"/assets/js/app.mjs":              "text/javascript",
		"/assets/js/services.mjs":         "text/javascript",
		"/assets/vendor/preact.mjs":       "text/javascript",
		"/assets/vendor/preact-hooks.mjs": "text/javascript",
		"/assets/vendor/htm.mjs":          "text/javascript",
		"/assets/app.css":                 "text/css",
		"/assets/favicon.svg":             "image/svg+xml",
		"/assets/vendor/LICENSE-preact":   "text/plain",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) == 0 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ct) {
			t.Errorf("%s: %d %q (%d bytes), want %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), ct)
		}
		// Revalidation with the ETag is a 304.
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
		resp2, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp2.Body.Close()
		if resp2.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-None-Match: %d, want 304", path, resp2.StatusCode)
		}
	}
	resp, err := http.Get(srv.URL + "/assets/nope.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing asset: %d, want 404", resp.StatusCode)
	}
	resp, err = http.Post(srv.URL+"/", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", resp.StatusCode)
	}
}

func TestAdvertise(t *testing.T) {
	for _, c := range []struct{ bound, host, want string }{
		{":4318", "clew.example:16686", "clew.example:4318"},
		{"0.0.0.0:4317", "10.1.2.3:16686", "10.1.2.3:4317"},
		{"[::]:4317", "[::1]:16686", "[::1]:4317"},
		{":4318", "clew.example", "clew.example:4318"},
		{":4318", "", "localhost:4318"},
		{"127.0.0.1:5555", "clew.example:16686", "127.0.0.1:5555"},
		{"192.168.1.9:4318", "localhost:16686", "192.168.1.9:4318"},
		{"", "clew.example:16686", ""},
		{"garbage", "clew.example:16686", ""},
	} {
		if got := advertise(c.bound, c.host); got != c.want {
			t.Errorf("advertise(%q, %q) = %q, want %q", c.bound, c.host, got, c.want)
		}
	}
}

func TestConfigJSON(t *testing.T) {
	get := func(h http.Handler) (int, string, string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/assets/config.json", nil)
		req.Host = "clew.example:16686"
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Header().Get("Content-Type"), strings.TrimSpace(rec.Body.String())
	}
	code, ct, body := get(Handler(Options{Ingest: func() Ingest { return Ingest{OTLPGRPC: ":4317", OTLPHTTP: "127.0.0.1:14318"} }}))
	if code != http.StatusOK || ct != "application/json" || body != `{"otlp":{"grpc":"clew.example:4317","http":"http://127.0.0.1:14318"}}` {
		t.Errorf("config: %d %s %s", code, ct, body)
	}
	// Receivers off, or no addresses given: empty strings, not the defaults.
	for _, h := range []http.Handler{Handler(Options{Ingest: func() Ingest { return Ingest{} }}), Handler()} {
		if _, _, body := get(h); body != `{"otlp":{"grpc":"","http":""}}` {
			t.Errorf("config without receivers: %s", body)
		}
	}
}
