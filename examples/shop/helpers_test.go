package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/clewtrace/clew/internal/app"
	"github.com/clewtrace/clew/internal/app/apptest"
	"github.com/clewtrace/clew/kit/kithttp"
)

// startClew runs a whole Clew in-process on loopback ports chosen by the OS.
func startClew(t *testing.T) app.Addrs {
	t.Helper()
	return apptest.Start(t).Addrs()
}

// testLogWriter sends the shop's logs to t.Log, so a failing test shows them.
type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startShop runs the shop against clew with no random failures or delays,
// so only forced failures (X-Demo-Fail) happen.
func startShop(t *testing.T, clew app.Addrs) *Shop {
	t.Helper()
	return startShopWith(t, clew)
}

// startShopWith is startShop with changes to the configuration.
func startShopWith(t *testing.T, clew app.Addrs, mutate ...func(*Config)) *Shop {
	t.Helper()
	cfg := Config{
		Listen:       "127.0.0.1:0",
		OTLPGRPC:     clew.OTLPGRPC,
		OTLPHTTP:     "http://" + clew.OTLPHTTP,
		ClewUI:       "http://" + clew.Query,
		BatchTimeout: 200 * time.Millisecond,
		OTLPLogs:     true,
		LogOutput:    testLogWriter{t},
	}
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start shop: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shop shutdown: %v", err)
		}
	})
	return s
}

// testClient is a Go client of the gateway with its own service name, whose
// spans are exported as soon as they end.
type testClient struct {
	tracer trace.Tracer
	http   *http.Client
}

func newTestClient(t *testing.T, clew app.Addrs) *testClient {
	t.Helper()
	exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(clew.OTLPGRPC), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName("e2e-client"))),
		sdktrace.WithSyncer(exp),
	)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return &testClient{
		tracer: tp.Tracer("shop-e2e"),
		http:   &http.Client{Timeout: 15 * time.Second, Transport: kithttp.NewTransport(nil, kithttp.WithTracerProvider(tp), kithttp.WithPropagator(propagator()))},
	}
}

// The legacy (Jaeger UI) JSON model, as much as the tests read.
type jaegerResponse[T any] struct {
	Data T `json:"data"`
}

type jTrace struct {
	TraceID   string  `json:"traceID"`
	Spans     []jSpan `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

type jSpan struct {
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	ProcessID     string `json:"processID"`
	StartTime     int64  `json:"startTime"`
	Duration      int64  `json:"duration"`
	References    []struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Tags []jKV `json:"tags"`
	Logs []struct {
		Fields []jKV `json:"fields"`
	} `json:"logs"`
}

type jKV struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

func (s jSpan) tag(key string) (string, bool) {
	for _, kv := range s.Tags {
		if kv.Key == key {
			return fmt.Sprint(kv.Value), true
		}
	}
	return "", false
}

func (s jSpan) parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

// failed reports an Error status, as the legacy model shows it.
func (s jSpan) failed() bool {
	e, _ := s.tag("error")
	c, _ := s.tag("otel.status_code")
	return e == "true" && c == "ERROR"
}

// hasException reports an exception event (a log whose event field is
// "exception").
func (s jSpan) hasException() bool {
	for _, l := range s.Logs {
		for _, f := range l.Fields {
			if f.Key == "event" && f.Value == "exception" {
				return true
			}
		}
	}
	return false
}

func (tr *jTrace) service(s jSpan) string { return tr.Processes[s.ProcessID].ServiceName }

// spans returns the spans of service whose name is op ("" for any) and, when
// kind is set, whose span.kind tag is kind.
func (tr *jTrace) spans(service, op, kind string) []jSpan {
	var out []jSpan
	for _, s := range tr.Spans {
		if tr.service(s) != service || (op != "" && s.OperationName != op) {
			continue
		}
		if k, _ := s.tag("span.kind"); kind != "" && k != kind {
			continue
		}
		out = append(out, s)
	}
	return out
}

func (tr *jTrace) has(service, op, kind string) bool { return len(tr.spans(service, op, kind)) > 0 }

// roots returns the spans without a parent, and orphans those whose parent
// is not in the trace.
func (tr *jTrace) roots() (roots, orphans []jSpan) {
	ids := map[string]bool{}
	for _, s := range tr.Spans {
		ids[s.SpanID] = true
	}
	for _, s := range tr.Spans {
		switch p := s.parent(); {
		case p == "":
			roots = append(roots, s)
		case !ids[p]:
			orphans = append(orphans, s)
		}
	}
	return roots, orphans
}

// connected reports one root and no orphans.
func (tr *jTrace) connected() bool {
	roots, orphans := tr.roots()
	return len(roots) == 1 && len(orphans) == 0
}

func (tr *jTrace) describe() string {
	var b strings.Builder
	for _, s := range tr.Spans {
		k, _ := s.tag("span.kind")
		fmt.Fprintf(&b, "\n  %-10s %-34q kind=%-8s id=%s parent=%s error=%v exception=%v",
			tr.service(s), s.OperationName, k, s.SpanID, s.parent(), s.failed(), s.hasException())
	}
	return b.String()
}

// getJSON fetches u into out; ok is false for a non-200 answer.
func getJSON(ctx context.Context, u string, out any) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, err
	}
	if resp.StatusCode != http.StatusOK {
		return false, nil
	}
	return true, json.Unmarshal(body, out)
}

// pollDeadline bounds every wait for Clew to show what was sent.
const pollDeadline = 2 * time.Minute

// waitForTrace polls Clew's legacy API until the trace satisfies done or the
// deadline passes; it returns the last version seen.
func waitForTrace(t *testing.T, queryAddr, traceID string, done func(*jTrace) bool) *jTrace {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pollDeadline)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last jTrace
	for {
		var resp jaegerResponse[[]jTrace]
		ok, err := getJSON(ctx, "http://"+queryAddr+"/api/traces/"+traceID, &resp)
		if err != nil && ctx.Err() == nil {
			t.Fatalf("GET trace %s: %v", traceID, err)
		}
		if ok && len(resp.Data) == 1 {
			last = resp.Data[0]
			if done(&last) {
				return &last
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("trace %s not complete after %v; last seen:%s", traceID, pollDeadline, last.describe())
		case <-tick.C:
		}
	}
}

// searchTraces polls /api/traces with q until pick returns a trace ID.
func searchTraces(t *testing.T, queryAddr string, q url.Values, pick func([]jTrace) string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pollDeadline)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		var resp jaegerResponse[[]jTrace]
		ok, err := getJSON(ctx, "http://"+queryAddr+"/api/traces?"+q.Encode(), &resp)
		if err != nil && ctx.Err() == nil {
			t.Fatalf("search %s: %v", q.Encode(), err)
		}
		if ok {
			if id := pick(resp.Data); id != "" {
				return id
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no matching trace for %s after %v (last search found %d traces)", q.Encode(), pollDeadline, len(resp.Data))
		case <-tick.C:
		}
	}
}
