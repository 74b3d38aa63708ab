package spanmetrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestCollectorOpenMetricsWithExemplars(t *testing.T) {
	clock := &fakeClock{t: t0}
	s, _ := newTestStore(t, clock, nil)
	tap := NewTap(s, dropAll)
	consume(t, tap, batch(
		sp{service: "gateway", name: "GET", kind: ptrace.SpanKindClient, trace: 7, id: 1, attrs: map[string]string{"http.request.method": "GET"}},
		sp{service: "orders", name: "GET /orders", kind: ptrace.SpanKindServer, trace: 7, id: 2, parent: 1, dur: 40 * time.Millisecond, err: true},
		sp{service: "orders", name: "GET /orders", kind: ptrace.SpanKindServer, trace: 8, id: 3, dur: 3 * time.Millisecond},
	))
	text := scrape(t, s)
	traceHex := "01000000000000000000000000000007"
	for _, want := range []string{
		`clew_spanmetrics_calls_total{operation="GET /orders",service="orders",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_ERROR"} 1.0`,
		`clew_spanmetrics_calls_total{operation="GET /orders",service="orders",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"} 1.0`,
		`clew_spanmetrics_duration_seconds_bucket{operation="GET /orders",service="orders",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_ERROR",le="0.025"} 0` + "\n",
		`clew_spanmetrics_duration_seconds_bucket{operation="GET /orders",service="orders",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_ERROR",le="0.05"} 1 # {trace_id="` + traceHex + `"}`,
		`clew_servicegraph_requests_total{client="gateway",connection_type="http",server="orders"} 1.0`,
		`clew_servicegraph_request_failed_total{client="gateway",connection_type="http",server="orders"} 1.0`,
		`clew_servicegraph_request_server_seconds_bucket{client="gateway",connection_type="http",server="orders",le="0.05"} 1 # {trace_id="` + traceHex + `"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
}

// scrape returns s's metrics in the OpenMetrics text format.
func scrape(t *testing.T, s *Store) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// TestCollectorInvalidUTF8: a service or operation name that is not UTF-8
// (one recorded before the pipeline repaired such names, say) must not fail
// the scrape: Prometheus label values must be UTF-8, and one bad series used
// to turn every /metrics answer into a 500.
func TestCollectorInvalidUTF8(t *testing.T) {
	clock := &fakeClock{t: t0}
	s, _ := newTestStore(t, clock, nil)
	tap := NewTap(s, dropAll)
	consume(t, tap, batch(
		sp{service: "gate\xffway", name: "GET", kind: ptrace.SpanKindClient, trace: 7, id: 1, attrs: map[string]string{"http.request.method": "GET"}},
		sp{service: "orders", name: "op\xff", kind: ptrace.SpanKindServer, trace: 7, id: 2, parent: 1, dur: 40 * time.Millisecond},
	))
	text := scrape(t, s)
	for _, want := range []string{
		`clew_spanmetrics_calls_total{operation="op` + "\uFFFD" + `",service="orders",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"} 1.0`,
		`clew_servicegraph_requests_total{client="gate` + "\uFFFD" + `way",connection_type="http",server="orders"} 1.0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
}
