package app

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clewtrace/clew/internal/config"
	"github.com/clewtrace/clew/internal/otlpwire/otlptest"
)

// soakMemoryBound is the heap Clew must stay under during the soak: the
// soft memory limit cmd/clew sets (900 MiB). The test process's own
// clients are counted too, so the bound is conservative for Clew.
const soakMemoryBound = 900 << 20

// TestSoakHostileClientsBesideWellBehavedExporter runs a whole Clew with
// hostile clients around a well-behaved OpenTelemetry SDK exporter (HTTP and
// gRPC): bodies that stall, requests at and over the size limit, gzip bombs,
// values nested 300,000 levels deep, and idle connections on every port.
// The exporter must keep at least 95 % of its exports successful, Clew must
// stay alive and serving, and the heap must stay under the memory bound.
// Every client does a fixed amount of work; nothing is timed.
func TestSoakHostileClientsBesideWellBehavedExporter(t *testing.T) {
	const maxReq = 4 << 20
	a := startApp(t, t.TempDir(), func(c *config.Config) {
		c.MaxRequestBytes = maxReq
		c.ZipkinAddr, c.JaegerHTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	})
	ad := a.Addrs()

	var peakHeap atomic.Uint64
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peakHeap.Load() {
				peakHeap.Store(m.HeapAlloc)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})

	// Idle connections on every TCP port: they must cost nothing and block
	// no one.
	var conns []net.Conn
	for _, addr := range []string{ad.OTLPGRPC, ad.OTLPHTTP, ad.Query, ad.Admin, ad.Zipkin, ad.JaegerHTTP} {
		for range 100 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatalf("idle connection to %s: %v", addr, err)
			}
			conns = append(conns, c)
		}
	}
	// Slow bodies: each announces a maximal body and sends 1 KiB; 70 of them
	// would have reserved more than the whole in-flight budget (256 MiB)
	// when a request reserved its Content-Length up front.
	for range 70 {
		c, err := net.Dial("tcp", ad.OTLPHTTP)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST /v1/traces HTTP/1.1\r\nHost: clew\r\nContent-Type: application/x-protobuf\r\nContent-Length: %d\r\n\r\n", maxReq)
		_, _ = c.Write(make([]byte, 1024))
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()

	// Hostile request senders, each a fixed number of requests.
	big := soakExport(t, maxReq-(256<<10))    // just under the limit: admitted or refused for overload
	tooBig := soakExport(t, maxReq+(256<<10)) // over the limit: 413 / RESOURCE_EXHAUSTED
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	_, _ = zw.Write(make([]byte, 64<<20))
	_ = zw.Close()
	// 300,000 levels: far past the 64-level limit, yet under the size limit
	// (a million levels is 9 MB, refused for its size alone here).
	deep := otlptest.TracesProto(300_000, otlptest.Array)
	hostileStatus := map[string]map[int]int{}
	var hostileMu sync.Mutex
	record := func(kind string, code int) {
		hostileMu.Lock()
		defer hostileMu.Unlock()
		if hostileStatus[kind] == nil {
			hostileStatus[kind] = map[int]int{}
		}
		hostileStatus[kind][code]++
	}
	httpClient := &http.Client{Timeout: 2 * time.Minute} // only catches hangs
	send := func(kind string, body []byte, encoding string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+ad.OTLPHTTP+"/v1/traces", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-protobuf")
		if encoding != "" {
			req.Header.Set("Content-Encoding", encoding)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			record(kind, -1)
			return
		}
		resp.Body.Close()
		record(kind, resp.StatusCode)
	}
	var hostile sync.WaitGroup
	for range 2 {
		hostile.Go(func() {
			for range 5 {
				send("big", big, "")
				send("too-big", tooBig, "")
				send("gzip-bomb", bomb.Bytes(), "gzip")
				send("deep", deep, "")
			}
		})
	}
	hostile.Go(func() {
		for range 5 {
			err := grpcExport(t, ad.OTLPGRPC, grpcTraces, big)
			record("grpc-big", int(status.Code(err)))
			err = grpcExport(t, ad.OTLPGRPC, grpcTraces, deep)
			record("grpc-deep", int(status.Code(err)))
		}
	})

	// The well-behaved exporters: the SDK's own retry is on, as in
	// production; an export counts as a success when the SDK reports one.
	ctx := context.Background()
	retry := otlptracehttp.RetryConfig{Enabled: true, InitialInterval: 50 * time.Millisecond, MaxInterval: 500 * time.Millisecond, MaxElapsedTime: 30 * time.Second}
	httpExp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(ad.OTLPHTTP), otlptracehttp.WithInsecure(), otlptracehttp.WithRetry(retry))
	if err != nil {
		t.Fatal(err)
	}
	grpcExp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(ad.OTLPGRPC), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig(retry)))
	if err != nil {
		t.Fatal(err)
	}
	defer httpExp.Shutdown(ctx)
	defer grpcExp.Shutdown(ctx)
	const exports = 60
	ok := 0
	for i := range exports {
		exp := sdktrace.SpanExporter(httpExp)
		if i%2 == 1 {
			exp = grpcExp
		}
		if err := exp.ExportSpans(ctx, soakSpans(i)); err == nil {
			ok++
		} else {
			t.Logf("well-behaved export %d: %v", i, err)
		}
	}
	hostile.Wait()
	close(stopSampling)
	sampler.Wait()

	t.Logf("well-behaved: %d/%d; hostile answers: %v; peak heap %d MiB", ok, exports, hostileStatus, peakHeap.Load()>>20)
	if ok*100 < exports*95 {
		t.Errorf("well-behaved exporter: %d of %d exports succeeded, want at least 95 %%", ok, exports)
	}
	if peak := peakHeap.Load(); peak > soakMemoryBound {
		t.Errorf("peak heap %d MiB, over the %d MiB bound", peak>>20, soakMemoryBound>>20)
	}
	for kind, want := range map[string]int{"too-big": http.StatusRequestEntityTooLarge, "gzip-bomb": http.StatusRequestEntityTooLarge, "deep": http.StatusBadRequest} {
		for code := range hostileStatus[kind] {
			// An over-size request is answered 413 from its Content-Length,
			// before its body is read, and the connection is closed behind
			// the answer (net/http does not drain megabytes of an unwanted
			// body). A client still writing its body may then see the
			// connection reset before it reads the 413: a refusal too.
			if kind == "too-big" && code == -1 {
				continue
			}
			if code != want {
				t.Errorf("%s requests answered %v, want only %d", kind, hostileStatus[kind], want)
				break
			}
		}
	}
	for code := range hostileStatus["grpc-deep"] {
		if code != int(codes.InvalidArgument) {
			t.Errorf("deep gRPC requests answered %v (codes), want only INVALID_ARGUMENT", hostileStatus["grpc-deep"])
			break
		}
	}
	for code := range hostileStatus["grpc-big"] {
		if code != int(codes.OK) && code != int(codes.Unavailable) {
			t.Errorf("gRPC requests under the size limit answered %v (codes), want OK or UNAVAILABLE", hostileStatus["grpc-big"])
			break
		}
	}
	for code := range hostileStatus["big"] {
		if code != http.StatusOK && code != http.StatusServiceUnavailable {
			t.Errorf("requests under the size limit answered %v, want 200 or 503", hostileStatus["big"])
			break
		}
	}
	// Clew is alive: probes answer and the spans of the well-behaved
	// exporter can be found.
	resp, err := http.Get("http://" + ad.Admin + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz after the soak: %v %v", resp, err)
	}
	resp.Body.Close()
	var found jaegerResponse[[]jaegerTrace]
	getJSON(t, "http://"+ad.Query+"/api/traces?service=well-behaved&limit=1500", 200, &found)
	if len(found.Data) < ok {
		t.Errorf("query finds %d of the %d acknowledged well-behaved traces", len(found.Data), ok)
	}
}

// soakSpans is one well-behaved batch: one trace of ten spans.
func soakSpans(i int) []sdktrace.ReadOnlySpan {
	stubs := make(tracetest.SpanStubs, 10)
	now := time.Now()
	for j := range stubs {
		stubs[j].Name = fmt.Sprintf("op-%d", j)
		stubs[j].SpanContext = traceContext(i, j)
		stubs[j].StartTime, stubs[j].EndTime = now, now.Add(time.Millisecond)
		stubs[j].Resource = wellBehavedResource
	}
	return stubs.Snapshots()
}

// soakExport is a valid export request of about n wire bytes.
func soakExport(t *testing.T, n int) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "hostile-big")
	ss := rs.ScopeSpans().AppendEmpty()
	payload := string(bytes.Repeat([]byte("x"), 4000))
	now := pcommon.NewTimestampFromTime(time.Now())
	for i := 0; ; i++ {
		s := ss.Spans().AppendEmpty()
		s.SetName("big")
		s.SetTraceID(pcommon.TraceID{0xb1, byte(i), byte(i >> 8)})
		s.SetSpanID(pcommon.SpanID{byte(i), byte(i >> 8), 1})
		s.SetStartTimestamp(now)
		s.SetEndTimestamp(now)
		s.Attributes().PutStr("payload", payload)
		if (i+1)*4100 >= n {
			b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

var wellBehavedResource = resource.NewSchemaless(attribute.String("service.name", "well-behaved"))

func traceContext(i, j int) trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x5a, byte(i), byte(i >> 8), 1},
		SpanID:     trace.SpanID{byte(j + 1), byte(i), byte(i >> 8)},
		TraceFlags: trace.FlagsSampled,
	})
}
