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
	for _, path := range []string{"/", "/search?service=x", "/trace/abc", "/services?service=x", "/map", "/compare?a=1&b=2", "/unknown/page"} {
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
