package otlp

import (
	"bytes"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// browserOrigin is the page origin in testdata/browser-requests.txt.
const browserOrigin = "http://127.0.0.1:24080"

// chromiumPreflight builds the OPTIONS request Chromium sent (see
// testdata/browser-requests.txt), with the given origin and request headers.
func chromiumPreflight(origin, method, reqHeaders string) *http.Request {
	req := newRequest(http.MethodOptions, "/v1/traces", "", nil, nil)
	req.Header.Set("Accept", "*/*")
	req.Header.Set("Access-Control-Request-Method", method)
	if reqHeaders != "" {
		req.Header.Set("Access-Control-Request-Headers", reqHeaders)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Sec-Fetch-Mode", "cors")
	req.Header.Set("Sec-Fetch-Site", "same-site")
	req.Header.Set("Referer", origin+"/")
	return req
}

func TestCORSPreflight(t *testing.T) {
	tests := []struct {
		name        string
		allowed     []string
		origin      string
		method      string
		reqHeaders  string
		wantStatus  int
		wantACAO    string
		wantHeaders string
	}{
		{"chromium default config", nil, browserOrigin, "POST", "content-type", 204, browserOrigin, "content-type"},
		{"localhost any port", nil, "http://localhost:5173", "POST", "content-type,x-api-key", 204, "http://localhost:5173", "content-type,x-api-key"},
		{"other host denied", nil, "https://evil.example", "POST", "content-type", 403, "", ""},
		{"https scheme not in default", nil, "https://localhost:8443", "POST", "content-type", 403, "", ""},
		{"GET not allowed", nil, browserOrigin, "GET", "", 403, "", ""},
		{"lone star allows all", []string{"*"}, "https://app.example.com", "POST", "content-type", 204, "https://app.example.com", "content-type"},
		{"exact port only", []string{"https://app.example.com:8443"}, "https://app.example.com:9443", "POST", "content-type", 403, "", ""},
		{"exact port match", []string{"https://app.example.com:8443"}, "https://app.example.com:8443", "POST", "content-type", 204, "https://app.example.com:8443", "content-type"},
		{"empty list denies", []string{}, browserOrigin, "POST", "content-type", 403, "", ""},
		{"null origin denied", nil, "null", "POST", "content-type", 403, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newTestReceiver(t, Config{CORSAllowedOrigins: tc.allowed, AuthToken: "tok"}, &sink{}, nil)
			rec := serve(r, chromiumPreflight(tc.origin, tc.method, tc.reqHeaders))
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tc.wantStatus)
			}
			h := rec.Header()
			if got := h.Get("Access-Control-Allow-Origin"); got != tc.wantACAO {
				t.Errorf("ACAO %q, want %q", got, tc.wantACAO)
			}
			if got := h.Get("Access-Control-Allow-Headers"); got != tc.wantHeaders {
				t.Errorf("ACAH %q, want %q", got, tc.wantHeaders)
			}
			if !slices.Contains(h.Values("Vary"), "Origin") {
				t.Errorf("Vary %q lacks Origin", h.Values("Vary"))
			}
			if tc.wantStatus == 204 {
				if h.Get("Access-Control-Allow-Methods") != "POST" || h.Get("Access-Control-Max-Age") == "" {
					t.Errorf("methods %q max-age %q", h.Get("Access-Control-Allow-Methods"), h.Get("Access-Control-Max-Age"))
				}
				// sendBeacon exports are credentialed: without this
				// Chromium drops them (PreflightInvalidAllowCredentials).
				if h.Get("Access-Control-Allow-Credentials") != "true" {
					t.Errorf("Allow-Credentials %q, want true", h.Get("Access-Control-Allow-Credentials"))
				}
			} else if h.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("denied preflight allows credentials %q", h.Get("Access-Control-Allow-Credentials"))
			}
		})
	}
}

func TestCORSOnPost(t *testing.T) {
	body := readFixture(t, "browser-otlp-http.json")
	tests := []struct {
		name       string
		origin     string
		sinkErr    error
		wantStatus int
		wantACAO   string
		wantExpose string
	}{
		{"allowed origin", browserOrigin, nil, 200, browserOrigin, "Retry-After"},
		{"denied origin: processed, no CORS headers", "https://evil.example", nil, 200, "", ""},
		{"no origin", "", nil, 200, "", ""},
		{"allowed origin sees Retry-After on 503", browserOrigin, errOverloadedForTest, 503, browserOrigin, "Retry-After"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newTestReceiver(t, Config{}, &sink{err: tc.sinkErr}, nil)
			hdr := map[string]string{}
			if tc.origin != "" {
				hdr["Origin"] = tc.origin
			}
			rec := serve(r, newRequest(http.MethodPost, "/v1/traces", "application/json", body, hdr))
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantStatus, rec.Body.String())
			}
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != tc.wantACAO {
				t.Errorf("ACAO %q, want %q", got, tc.wantACAO)
			}
			wantCreds := ""
			if tc.wantACAO != "" {
				wantCreds = "true"
			}
			if got := rec.Header().Get("Access-Control-Allow-Credentials"); got != wantCreds {
				t.Errorf("Allow-Credentials %q, want %q", got, wantCreds)
			}
			if got := rec.Header().Get("Access-Control-Expose-Headers"); got != tc.wantExpose {
				t.Errorf("expose %q, want %q", got, tc.wantExpose)
			}
			if !slices.Contains(rec.Header().Values("Vary"), "Origin") {
				t.Error("Vary: Origin missing")
			}
		})
	}
}

func TestAuthToken(t *testing.T) {
	const token = "s3cret-Token"
	body := readFixture(t, "node-otlp-http-proto.pb")
	tests := []struct {
		name       string
		configured string
		header     string
		wantStatus int
	}{
		{"no token configured", "", "", 200},
		{"missing", token, "", 401},
		{"wrong", token, "Bearer wrong", 401},
		{"prefix of token", token, "Bearer s3cret", 401},
		{"basic scheme", token, "Basic " + token, 401},
		{"right", token, "Bearer " + token, 200},
		{"scheme case-insensitive", token, "bearer " + token, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			s := &sink{}
			r, err := New(Config{AuthToken: tc.configured}, s, nil, prometheus.NewRegistry(), logger)
			if err != nil {
				t.Fatal(err)
			}
			hdr := map[string]string{}
			if tc.header != "" {
				hdr["Authorization"] = tc.header
			}
			rec := serve(r, newRequest(http.MethodPost, "/v1/traces", contentTypeProto, body, hdr))
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tc.wantStatus)
			}
			if tc.wantStatus == 401 {
				if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q", rec.Header().Get("WWW-Authenticate"))
				}
				if len(s.spans()) != 0 {
					t.Error("unauthenticated spans reached the consumer")
				}
				if got := counterValue(t, r.metrics.refusedRequests.WithLabelValues(transportHTTP, reasonUnauthorized)); got != 1 {
					t.Errorf("refused{unauthorized} = %v", got)
				}
			}
			if tc.configured != "" && strings.Contains(logs.String(), tc.configured) {
				t.Errorf("token appears in logs: %s", logs.String())
			}
		})
	}
}
