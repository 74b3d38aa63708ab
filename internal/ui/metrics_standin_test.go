package ui_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// metricsStandIn fronts the real app with the span-metrics endpoints the
// Services page and the service map read (GET /api/clew/metrics/... and
// /api/clew/servicegraph), answered from fixed data in the agreed shape.
// It exists only because the real span-metrics API is still being built;
// every other request goes to the real app unchanged. Once Clew serves
// these endpoints, drop the stand-in and seed spans instead.
type metricsStandIn struct {
	URL string
	mu  sync.Mutex
	got []url.URL // requests it answered, for checking parameters
}

func newMetricsStandIn(t *testing.T, app *testApp) *metricsStandIn {
	t.Helper()
	target, err := url.Parse(app.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	m := &metricsStandIn{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body any
		switch r.URL.Path {
		case "/api/clew/metrics/services":
			body = map[string]any{"services": []map[string]any{
				{"service": "api-gateway", "calls": 7200, "errors": 144, "errorRate": 0.02, "ratePerSec": 2.0, "p50Ms": 310.0, "p95Ms": 740.0, "p99Ms": 1450.0},
				{"service": "payment", "calls": 3600, "errors": 252, "errorRate": 0.07, "ratePerSec": 1.0, "p50Ms": 180.0, "p95Ms": 412.5, "p99Ms": 980.0},
				{"service": "cart", "calls": 10800, "errors": 0, "errorRate": 0.0, "ratePerSec": 3.0, "p50Ms": 12.0, "p95Ms": 45.0, "p99Ms": 70.0},
				{"service": "web-frontend", "calls": 3600, "errors": 144, "errorRate": 0.04, "ratePerSec": 1.0, "p50Ms": 1900.0, "p95Ms": 2400.0, "p99Ms": 3100.0},
				{"service": "inventory", "calls": 12, "errors": 0, "errorRate": 0.0, "ratePerSec": 0.0033, "p50Ms": 118.0, "p95Ms": 125.0, "p99Ms": 125.0},
			}}
		case "/api/clew/metrics/operations":
			if r.URL.Query().Get("service") != "payment" {
				body = map[string]any{"operations": []any{}}
				break
			}
			body = map[string]any{"operations": []map[string]any{
				{"operation": "Charge", "spanKind": "SPAN_KIND_SERVER", "calls": 3000, "errors": 252, "errorRate": 0.084, "ratePerSec": 0.83, "p50Ms": 190.0, "p95Ms": 412.5, "p99Ms": 990.0},
				{"operation": "Refund", "spanKind": "SPAN_KIND_SERVER", "calls": 600, "errors": 0, "errorRate": 0.0, "ratePerSec": 0.17, "p50Ms": 95.0, "p95Ms": 160.0, "p99Ms": 210.0},
			}}
		case "/api/clew/metrics/timeseries":
			var pts []map[string]any
			end := time.Now().Truncate(time.Minute)
			for i := 59; i >= 0; i-- {
				errs := 0
				if i%9 == 0 {
					errs = 12
				}
				at := end.Add(-time.Duration(i) * time.Minute).UTC().Format(time.RFC3339)
				if i >= 20 && i < 30 { // idle minutes: no quantiles, as the real API answers
					pts = append(pts, map[string]any{"time": at, "calls": 0, "errors": 0, "ratePerSec": 0.0, "p50Ms": nil, "p95Ms": nil, "p99Ms": nil})
					continue
				}
				pts = append(pts, map[string]any{"time": at, "calls": 60 + i%7*5, "errors": errs,
					"ratePerSec": float64(60+i%7*5) / 60, "p50Ms": 180.0, "p95Ms": 380.0 + float64(i%11*12), "p99Ms": 900.0})
			}
			body = map[string]any{"stepSeconds": 60, "points": pts}
		case "/api/clew/servicegraph":
			body = map[string]any{
				"nodes": []map[string]any{{"name": "web-frontend"}, {"name": "api-gateway"}, {"name": "cart"}, {"name": "payment"}, {"name": "inventory"}, {"name": "postgres", "virtual": true}},
				"edges": []map[string]any{
					{"client": "web-frontend", "server": "api-gateway", "connectionType": "", "calls": 3600, "errors": 144, "errorRate": 0.04, "p50Ms": 320.0, "p95Ms": 760.0},
					{"client": "api-gateway", "server": "cart", "connectionType": "", "calls": 7200, "errors": 0, "errorRate": 0.0, "p50Ms": 12.0, "p95Ms": 45.0},
					{"client": "api-gateway", "server": "payment", "connectionType": "", "calls": 3600, "errors": 252, "errorRate": 0.07, "p50Ms": 180.0, "p95Ms": 412.5},
					{"client": "cart", "server": "postgres", "connectionType": "database", "calls": 7200, "errors": 0, "errorRate": 0.0, "p50Ms": 3.0, "p95Ms": 9.0},
					{"client": "payment", "server": "postgres", "connectionType": "database", "calls": 5400, "errors": 0, "errorRate": 0.0, "p50Ms": 4.0, "p95Ms": 11.0},
					{"client": "inventory", "server": "postgres", "connectionType": "database", "calls": 12, "errors": 0, "errorRate": 0.0, "p50Ms": 80.0, "p95Ms": 95.0},
				}}
		default:
			proxy.ServeHTTP(w, r)
			return
		}
		m.mu.Lock()
		m.got = append(m.got, *r.URL)
		m.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	m.URL = srv.URL
	return m
}

// requests lists the stand-in's answered requests as "path?query".
func (m *metricsStandIn) requests() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	for _, u := range m.got {
		fmt.Fprintf(&b, "%s?%s\n", u.Path, u.RawQuery)
	}
	return b.String()
}
