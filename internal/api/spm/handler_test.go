package spm

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/minutes"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/spanmetrics"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// fixture: over minutes 10:00–10:09, "orders" serves 60 GET /orders per
// minute (10 ms each, 6 errors) and 30 POST /orders (100 ms); "gateway"
// calls orders over HTTP once per GET; orders queries sqlite.
func fixture(t *testing.T) (*handler, *clock) {
	t.Helper()
	c := &clock{t: t0}
	b, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st, err := spanmetrics.Open(context.Background(), spanmetrics.Config{Storage: minutes.Storage{Bucket: b}, Clock: c}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tap := spanmetrics.NewTap(st, consumer.TracesFunc(func(context.Context, ptrace.Traces) (consumer.Result, error) {
		return consumer.Result{}, nil
	}))
	var trace uint32
	for m := range 10 {
		c.Set(t0.Add(time.Duration(m)*time.Minute + time.Second))
		td := ptrace.NewTraces()
		add := func(svc, name string, kind ptrace.SpanKind, d time.Duration, fail bool, tid uint32, id, parent byte, attrs ...string) {
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", svc)
			s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			s.SetName(name)
			s.SetKind(kind)
			s.SetTraceID(pcommon.TraceID{0: 1, 12: byte(tid >> 24), 13: byte(tid >> 16), 14: byte(tid >> 8), 15: byte(tid)})
			s.SetSpanID(pcommon.SpanID{0: 1, 7: id})
			if parent != 0 {
				s.SetParentSpanID(pcommon.SpanID{0: 1, 7: parent})
			}
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(d)))
			if fail {
				s.Status().SetCode(ptrace.StatusCodeError)
			}
			for i := 0; i+1 < len(attrs); i += 2 {
				s.Attributes().PutStr(attrs[i], attrs[i+1])
			}
		}
		for i := range 60 {
			trace++
			add("gateway", "GET", ptrace.SpanKindClient, 12*time.Millisecond, false, trace, 1, 0, "http.request.method", "GET")
			add("orders", "GET /orders", ptrace.SpanKindServer, 10*time.Millisecond, i%10 == 0, trace, 2, 1)
			add("orders", "SELECT", ptrace.SpanKindClient, time.Millisecond, false, trace, 3, 2, "db.system.name", "sqlite")
		}
		for range 30 {
			trace++
			add("orders", "POST /orders", ptrace.SpanKindServer, 100*time.Millisecond, false, trace, 2, 0)
		}
		if _, err := tap.ConsumeTraces(context.Background(), td); err != nil {
			t.Fatal(err)
		}
	}
	c.Set(t0.Add(10 * time.Minute))
	return newHandler(st, nil, c.Now), c
}

func get(t *testing.T, h http.Handler, url string, wantStatus int, into any) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
	if rec.Code != wantStatus {
		t.Fatalf("GET %s: status %d, want %d: %s", url, rec.Code, wantStatus, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q", url, ct)
	}
	if into != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), into); err != nil {
			t.Fatalf("GET %s: %v: %s", url, err, rec.Body)
		}
	}
	return rec.Body.String()
}

func near(got, want float64) bool {
	return got >= want*(1-spanmetrics.QuantileRelativeError) && got <= want*(1+spanmetrics.QuantileRelativeError)
}

func TestClewServices(t *testing.T) {
	h, _ := fixture(t)
	var out struct {
		Services []map[string]any `json:"services"`
	}
	get(t, h, "/api/clew/metrics/services?start=2026-11-21T10:00:00Z&end=2026-11-21T10:10:00Z", 200, &out)
	if len(out.Services) != 2 {
		t.Fatalf("services %v", out.Services)
	}
	o := out.Services[1]
	if o["service"] != "orders" || o["calls"] != 900.0 || o["errors"] != 60.0 || o["ratePerSec"] != 1.5 || !near(o["errorRate"].(float64), 60.0/900) {
		t.Errorf("orders %v", o)
	}
	if !near(o["p50Ms"].(float64), 10) || !near(o["p99Ms"].(float64), 100) {
		t.Errorf("orders percentiles %v", o)
	}
	for _, k := range []string{"service", "calls", "errors", "errorRate", "ratePerSec", "p50Ms", "p95Ms", "p99Ms"} {
		if _, ok := o[k]; !ok {
			t.Errorf("field %s missing", k)
		}
	}
	// Unix microseconds and the default (last hour) work too.
	get(t, h, "/api/clew/metrics/services?start="+itoa(t0.UnixMicro())+"&end="+itoa(t0.Add(10*time.Minute).UnixMicro()), 200, &out)
	if len(out.Services) != 2 {
		t.Errorf("µs range: %v", out.Services)
	}
	get(t, h, "/api/clew/metrics/services", 200, &out)
	if len(out.Services) != 2 || out.Services[1]["calls"] != 900.0 {
		t.Errorf("default range: %v", out.Services)
	}
}

func TestClewOperationsTimeseriesGraph(t *testing.T) {
	h, _ := fixture(t)
	var ops struct {
		Operations []map[string]any `json:"operations"`
	}
	get(t, h, "/api/clew/metrics/operations?service=orders", 200, &ops)
	if len(ops.Operations) != 3 || ops.Operations[0]["operation"] != "GET /orders" || ops.Operations[0]["spanKind"] != "server" ||
		ops.Operations[0]["calls"] != 600.0 || ops.Operations[2]["operation"] != "SELECT" || ops.Operations[2]["spanKind"] != "client" {
		t.Errorf("operations %v", ops.Operations)
	}

	var ts struct {
		StepSeconds int              `json:"stepSeconds"`
		Points      []map[string]any `json:"points"`
	}
	get(t, h, "/api/clew/metrics/timeseries?service=orders&operation=GET%20/orders&start=2026-11-21T10:00:00Z&end=2026-11-21T10:10:00Z&step=120s", 200, &ts)
	if ts.StepSeconds != 120 || len(ts.Points) != 5 {
		t.Fatalf("timeseries %+v", ts)
	}
	p := ts.Points[0]
	if p["time"] != "2026-11-21T10:00:00Z" || p["calls"] != 120.0 || p["errors"] != 12.0 || p["ratePerSec"] != 1.0 || !near(p["p95Ms"].(float64), 10) {
		t.Errorf("point %v", p)
	}

	// Idle minutes have no quantiles: null, not 0 ms.
	get(t, h, "/api/clew/metrics/timeseries?service=orders&operation=GET%20/orders&start=2026-11-21T10:08:00Z&end=2026-11-21T10:12:00Z&step=60s", 200, &ts)
	if len(ts.Points) != 4 {
		t.Fatalf("timeseries %+v", ts)
	}
	for i, p := range ts.Points {
		busy := i < 2
		for _, k := range []string{"p50Ms", "p95Ms", "p99Ms"} {
			v, present := p[k]
			if !present || (v == nil) == busy {
				t.Errorf("point %d (%v calls): %s = %v (present %v), want null only without calls", i, p["calls"], k, v, present)
			}
		}
	}

	var g struct {
		Nodes []map[string]any `json:"nodes"`
		Edges []map[string]any `json:"edges"`
	}
	body := get(t, h, "/api/clew/servicegraph?start=2026-11-21T10:00:00Z&end=2026-11-21T10:10:00Z", 200, &g)
	want := `{"nodes":[{"name":"gateway","virtual":false},{"name":"orders","virtual":false},{"name":"sqlite","virtual":true}],"edges":[`
	if !strings.HasPrefix(body, want) {
		t.Errorf("graph %s", body)
	}
	if len(g.Edges) != 2 || g.Edges[0]["client"] != "gateway" || g.Edges[0]["server"] != "orders" || g.Edges[0]["connectionType"] != "http" ||
		g.Edges[0]["calls"] != 600.0 || g.Edges[0]["errors"] != 60.0 || g.Edges[0]["errorRate"] != 0.1 || !near(g.Edges[0]["p50Ms"].(float64), 10) {
		t.Errorf("edges %v", g.Edges)
	}
}

func TestClewBadParameters(t *testing.T) {
	h, _ := fixture(t)
	for _, url := range []string{
		"/api/clew/metrics/services?start=yesterday",
		"/api/clew/metrics/services?start=2026-11-21T11:00:00Z&end=2026-11-21T10:00:00Z",
		"/api/clew/metrics/operations",
		"/api/clew/metrics/timeseries?start=2026-11-21T10:00:00Z",
		"/api/clew/metrics/timeseries?service=orders&step=fast",
		"/api/clew/metrics/timeseries?service=orders&step=1s&start=2000-01-01T00:00:00Z",
		"/api/clew/metrics/timeseries?service=orders&spanKind=sideways",
		"/api/clew/servicegraph?end=x",
	} {
		var e map[string]string
		get(t, h, url, 400, &e)
		if e["error"] == "" {
			t.Errorf("%s: no error message", url)
		}
	}
}

type family struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Help    string `json:"help"`
	Metrics []struct {
		Labels []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"labels"`
		MetricPoints []struct {
			GaugeValue struct {
				DoubleValue *float64 `json:"doubleValue"`
			} `json:"gaugeValue"`
			Timestamp string `json:"timestamp"`
		} `json:"metricPoints"`
	} `json:"metrics"`
}

func TestJaegerSPM(t *testing.T) {
	h, _ := fixture(t)
	end := t0.Add(10 * time.Minute).UnixMilli()
	base := "?service=orders&endTs=" + itoa(end) + "&lookback=300000&step=60000&ratePer=300000"

	var calls family
	body := get(t, h, "/api/metrics/calls"+base, 200, &calls)
	if !strings.HasPrefix(body, `{"name":"service_call_rate","type":"GAUGE","help":"calls/sec, grouped by service","metrics":[{"labels":[{"name":"service_name","value":"orders"}],"metricPoints":[{"gaugeValue":{"doubleValue":`) {
		t.Errorf("calls JSON shape: %s", body)
	}
	if len(calls.Metrics) != 1 || len(calls.Metrics[0].MetricPoints) != 6 {
		t.Fatalf("calls %+v", calls)
	}
	last := calls.Metrics[0].MetricPoints[5]
	// Default span kind is server: 90 server spans a minute = 1.5/s.
	if last.Timestamp != "2026-11-21T10:10:00Z" || *last.GaugeValue.DoubleValue != 1.5 {
		t.Errorf("last point %+v = %v", last, *last.GaugeValue.DoubleValue)
	}

	var grouped family
	get(t, h, "/api/metrics/calls"+base+"&groupByOperation=true&spanKind=server&spanKind=SPAN_KIND_CLIENT", 200, &grouped)
	if len(grouped.Metrics) != 3 || grouped.Metrics[0].Labels[1].Name != "operation" || grouped.Metrics[0].Labels[1].Value != "GET /orders" {
		t.Errorf("grouped %+v", grouped.Metrics)
	}

	var errs family
	get(t, h, "/api/metrics/errors"+base, 200, &errs)
	if errs.Name != "service_error_rate" || *errs.Metrics[0].MetricPoints[5].GaugeValue.DoubleValue != 6.0/90 {
		t.Errorf("errors %+v", errs)
	}

	var lat family
	get(t, h, "/api/metrics/latencies"+base+"&quantile=0.95", 200, &lat)
	if lat.Name != "service_latencies" || lat.Help != "0.95th quantile latency, grouped by service" || !near(*lat.Metrics[0].MetricPoints[5].GaugeValue.DoubleValue, 100) {
		t.Errorf("latencies %+v", lat)
	}

	if body := get(t, h, "/api/metrics/minstep", 200, nil); body != `{"data":60000,"total":0,"limit":0,"offset":0,"errors":null}`+"\n" {
		t.Errorf("minstep %s", body)
	}
}

func TestJaegerSPMBadParameters(t *testing.T) {
	h, _ := fixture(t)
	for _, url := range []string{
		"/api/metrics/calls",
		"/api/metrics/calls?service=orders&endTs=soon",
		"/api/metrics/calls?service=orders&lookback=-5",
		"/api/metrics/calls?service=orders&step=x",
		"/api/metrics/calls?service=orders&ratePer=1h",
		"/api/metrics/calls?service=orders&groupByOperation=maybe",
		"/api/metrics/calls?service=orders&spanKind=sideways",
		"/api/metrics/latencies?service=orders",
		"/api/metrics/latencies?service=orders&quantile=2",
	} {
		var e struct {
			Errors []struct {
				Code int    `json:"code"`
				Msg  string `json:"msg"`
			} `json:"errors"`
		}
		get(t, h, url, 400, &e)
		if len(e.Errors) != 1 || e.Errors[0].Code != 400 || !strings.Contains(e.Errors[0].Msg, "unable to parse param") {
			t.Errorf("%s: %+v", url, e)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
