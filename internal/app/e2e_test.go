package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/clewtrace/clew/internal/config"
)

// startApp runs a whole Clew on loopback ports chosen by the OS.
func startApp(t *testing.T, dir string, mutate ...func(*config.Config)) *App {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = dir
	for _, p := range []*string{&cfg.OTLPGRPCAddr, &cfg.OTLPHTTPAddr, &cfg.QueryAddr, &cfg.AdminAddr, &cfg.TempoAddr} {
		*p = "127.0.0.1:0"
	}
	cfg.JaegerHTTPAddr, cfg.JaegerCompactAddr, cfg.JaegerBinaryAddr, cfg.ZipkinAddr = "", "", "", ""
	for _, m := range mutate {
		m(&cfg)
	}
	ctx := context.Background()
	a, err := New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("new app: %v", err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatalf("start app: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	})
	return a
}

// provider builds an SDK tracer provider for one service that exports every
// span as it ends (so one trace reaches Clew in many batches).
func provider(t *testing.T, service string, exp sdktrace.SpanExporter) *sdktrace.TracerProvider {
	t.Helper()
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(service), attribute.String("deployment.environment.name", "test"))
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp
}

func grpcExporter(t *testing.T, addr string) sdktrace.SpanExporter {
	t.Helper()
	exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(addr), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

func httpExporter(t *testing.T, addr string) sdktrace.SpanExporter {
	t.Helper()
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpoint(addr), otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

// jaegerResponse is the legacy API wrapper.
type jaegerResponse[T any] struct {
	Data   T `json:"data"`
	Errors []struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	} `json:"errors"`
}

type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		ProcessID     string `json:"processID"`
		Duration      int64  `json:"duration"`
		References    []struct {
			RefType string `json:"refType"`
			SpanID  string `json:"spanID"`
		} `json:"references"`
		Tags []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"tags"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

func getJSON(t *testing.T, u string, wantStatus int, out any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: status %d, want %d: %s", u, resp.StatusCode, wantStatus, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("GET %s: %v in %s", u, err, body)
		}
	}
}

// TestEndToEndOTelSDK exports one trace across three services, over gRPC and
// HTTP, span by span, then finds it every way a user would.
func TestEndToEndOTelSDK(t *testing.T) {
	a := startApp(t, t.TempDir())
	addrs := a.Addrs()
	gateway := provider(t, "gateway", grpcExporter(t, addrs.OTLPGRPC)).Tracer("e2e")
	orders := provider(t, "orders", httpExporter(t, addrs.OTLPHTTP)).Tracer("e2e")
	db := provider(t, "orders-db", grpcExporter(t, addrs.OTLPGRPC)).Tracer("e2e")

	ctx := context.Background()
	// Every span starts at now, so its duration is exactly what its end
	// says, however long the machine takes between the calls.
	now := time.Now()
	at := trace.WithTimestamp(now)
	ctx, root := gateway.Start(ctx, "GET /orders/{id}", at, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.route", "/orders/{id}"), attribute.Int("http.response.status_code", 200)))
	cctx, call := gateway.Start(ctx, "GET", at, trace.WithSpanKind(trace.SpanKindClient))
	sctx, serve := orders.Start(cctx, "GET /orders/{id}", at, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("enduser.id", "alice")))
	_, query := db.Start(sctx, "SELECT orders", at, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", "sqlite"), attribute.String("db.query.text", "SELECT * FROM orders WHERE id = ?")))
	query.End(trace.WithTimestamp(now.Add(30 * time.Millisecond)))
	serve.SetStatus(codes.Error, "partner down")
	serve.End(trace.WithTimestamp(now.Add(120 * time.Millisecond)))
	call.End(trace.WithTimestamp(now.Add(125 * time.Millisecond)))
	root.End(trace.WithTimestamp(now.Add(130 * time.Millisecond)))
	traceID := root.SpanContext().TraceID().String()

	base := "http://" + addrs.Query

	var services jaegerResponse[[]string]
	getJSON(t, base+"/api/services", 200, &services)
	for _, want := range []string{"gateway", "orders", "orders-db"} {
		if !contains(services.Data, want) {
			t.Errorf("services %v lack %q", services.Data, want)
		}
	}

	var ops jaegerResponse[[]string]
	getJSON(t, base+"/api/services/orders/operations", 200, &ops)
	if !contains(ops.Data, "GET /orders/{id}") {
		t.Errorf("orders operations %v", ops.Data)
	}

	searches := map[string]url.Values{
		"by service":        {"service": {"orders-db"}},
		"by operation":      {"service": {"orders-db"}, "operation": {"SELECT orders"}},
		"by tag":            {"service": {"orders"}, "tags": {`{"enduser.id":"alice"}`}},
		"by tag param":      {"service": {"orders"}, "tag": {"enduser.id:alice"}},
		"by error":          {"service": {"orders"}, "tags": {`{"error":"true"}`}},
		"by resource tag":   {"service": {"gateway"}, "tags": {`{"deployment.environment.name":"test"}`}},
		"by min duration":   {"service": {"gateway"}, "minDuration": {"129ms"}},
		"by duration range": {"service": {"orders-db"}, "minDuration": {"20ms"}, "maxDuration": {"40ms"}},
		"without service":   {"tags": {`{"db.system.name":"sqlite"}`}},
		"by trace ID":       {"traceID": {traceID}},
	}
	for name, q := range searches {
		var found jaegerResponse[[]jaegerTrace]
		getJSON(t, base+"/api/traces?"+q.Encode(), 200, &found)
		if len(found.Data) != 1 || found.Data[0].TraceID != traceID || len(found.Data[0].Spans) != 4 {
			t.Errorf("search %s (%s): got %d traces, want the 4-span trace %s", name, q.Encode(), len(found.Data), traceID)
		}
	}
	misses := map[string]url.Values{
		"other service tag":  {"service": {"gateway"}, "tags": {`{"enduser.id":"alice"}`}},
		"too long min":       {"service": {"orders-db"}, "minDuration": {"31ms"}},
		"tags not same span": {"tags": {`{"enduser.id":"alice","db.system.name":"sqlite"}`}},
	}
	for name, q := range misses {
		var found jaegerResponse[[]jaegerTrace]
		getJSON(t, base+"/api/traces?"+q.Encode(), 200, &found)
		if len(found.Data) != 0 {
			t.Errorf("search %s (%s) should find nothing, found %d traces", name, q.Encode(), len(found.Data))
		}
	}

	var byID jaegerResponse[[]jaegerTrace]
	getJSON(t, base+"/api/traces/"+traceID, 200, &byID)
	if len(byID.Data) != 1 {
		t.Fatalf("trace by ID: %d traces", len(byID.Data))
	}
	tr := byID.Data[0]
	parents := map[string]string{}
	services2 := map[string]bool{}
	for _, s := range tr.Spans {
		for _, r := range s.References {
			if r.RefType == "CHILD_OF" {
				parents[s.OperationName+"@"+tr.Processes[s.ProcessID].ServiceName] = r.SpanID
			}
		}
		services2[tr.Processes[s.ProcessID].ServiceName] = true
	}
	if len(parents) != 3 || len(services2) != 3 {
		t.Errorf("trace %s: parents %v services %v", traceID, parents, services2)
	}

	var deps jaegerResponse[[]struct {
		Parent    string `json:"parent"`
		Child     string `json:"child"`
		CallCount int    `json:"callCount"`
	}]
	getJSON(t, fmt.Sprintf("%s/api/dependencies?endTs=%d&lookback=%d", base, time.Now().Add(time.Minute).UnixMilli(), int64(time.Hour/time.Millisecond)), 200, &deps)
	edges := map[string]int{}
	for _, d := range deps.Data {
		edges[d.Parent+">"+d.Child] = d.CallCount
	}
	if edges["gateway>orders"] != 1 || edges["orders>orders-db"] != 1 {
		t.Errorf("dependencies %v", edges)
	}

	// Span metrics, computed in the pipeline: RED per service and Jaeger's SPM.
	var red struct {
		Services []struct {
			Service string  `json:"service"`
			Calls   int     `json:"calls"`
			Errors  int     `json:"errors"`
			P95Ms   float64 `json:"p95Ms"`
		} `json:"services"`
	}
	getJSON(t, base+"/api/clew/metrics/services", 200, &red)
	perService := map[string][2]int{}
	for _, s := range red.Services {
		perService[s.Service] = [2]int{s.Calls, s.Errors}
	}
	if perService["orders"] != [2]int{1, 1} || perService["gateway"] != [2]int{1, 0} {
		t.Errorf("RED per service: %+v", red.Services)
	}
	var calls struct {
		Name    string `json:"name"`
		Metrics []any  `json:"metrics"`
	}
	getJSON(t, base+"/api/metrics/calls?service=orders&endTs="+fmt.Sprint(time.Now().Add(time.Minute).UnixMilli())+"&lookback=3600000&step=60000&ratePer=60000", 200, &calls)
	if calls.Name != "service_call_rate" || len(calls.Metrics) == 0 {
		t.Errorf("Jaeger SPM calls: %+v", calls)
	}

	getJSON(t, base+"/api/traces/0123456789abcdef0123456789abcdef", 404, nil)
	getJSON(t, base+"/api/traces/not-hex", 400, nil)

	var v3 struct {
		Result struct {
			ResourceSpans []any `json:"resourceSpans"`
		} `json:"result"`
	}
	getJSON(t, base+"/api/v3/traces/"+traceID, 200, &v3)
	if len(v3.Result.ResourceSpans) != 3 {
		t.Errorf("api_v3 trace: %d resourceSpans, want 3", len(v3.Result.ResourceSpans))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
