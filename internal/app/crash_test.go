package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/clewtrace/clew/internal/config"
)

// childEnv makes the test binary act as a Clew server (see TestMain).
const childEnv = "CLEW_TEST_SERVER_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(serveAsChild())
	}
	os.Exit(m.Run())
}

// serveAsChild runs Clew configured from CLEW_* variables and prints its
// addresses as one JSON line once it is ready.
func serveAsChild() int {
	cfg, err := config.Load(nil, os.LookupEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	a, err := New(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := a.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	line, _ := json.Marshal(a.Addrs())
	fmt.Println(string(line))
	<-ctx.Done()
	if err := a.Shutdown(context.Background()); err != nil {
		return 1
	}
	return 0
}

type child struct {
	cmd   *exec.Cmd
	addrs Addrs
}

// startChild starts the test binary as a Clew server (see TestMain) on dir,
// every listener on a free loopback port; env entries override the
// defaults (os/exec keeps the last value of a repeated key).
func startChild(t *testing.T, dir string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1",
		"CLEW_DATA_DIR="+dir,
		"CLEW_OTLP_GRPC_ADDR=127.0.0.1:0", "CLEW_OTLP_HTTP_ADDR=127.0.0.1:0",
		"CLEW_QUERY_ADDR=127.0.0.1:0", "CLEW_ADMIN_ADDR=127.0.0.1:0", "CLEW_TEMPO_ADDR=",
		"CLEW_JAEGER_HTTP_ADDR=", "CLEW_JAEGER_COMPACT_ADDR=", "CLEW_JAEGER_BINARY_ADDR=", "CLEW_ZIPKIN_ADDR=")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child server did not report its addresses: %v", err)
	}
	c := &child{cmd: cmd}
	if err := json.Unmarshal([]byte(line), &c.addrs); err != nil {
		t.Fatalf("child said %q: %v", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return c
}

// TestCrashKeepsAcknowledgedSpans kills the server with SIGKILL while a
// client is exporting, restarts it on the same data directory, and checks
// that every span the client saw acknowledged is there.
func TestCrashKeepsAcknowledgedSpans(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	dir := t.TempDir()
	srv := startChild(t, dir)

	exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(srv.addrs.OTLPGRPC),
		otlptracegrpc.WithInsecure(), otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}),
		otlptracegrpc.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())

	const spansPerBatch = 40
	const killAfter = 150
	const exporters = 4
	var (
		mu    sync.Mutex
		acked []trace.TraceID
		next  int
	)
	ackedEnough := make(chan struct{})
	var clients sync.WaitGroup
	for w := 0; w < exporters; w++ {
		clients.Add(1)
		go func() {
			defer clients.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				batch, id := crashBatch(i, spansPerBatch)
				if err := exp.ExportSpans(context.Background(), batch); err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked = append(acked, id)
				if len(acked) == killAfter {
					close(ackedEnough)
				}
				mu.Unlock()
			}
		}()
	}
	clientsDone := make(chan struct{})
	go func() { clients.Wait(); close(clientsDone) }()
	select {
	case <-ackedEnough:
	case <-clientsDone:
		t.Fatal("clients stopped before the server was killed")
	}
	// Kill while all four exporters have requests in flight.
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = srv.cmd.Wait()
	<-clientsDone

	mu.Lock()
	ids := append([]trace.TraceID(nil), acked...)
	mu.Unlock()
	t.Logf("%d batches acknowledged before the kill", len(ids))

	again := startChild(t, dir)
	for _, id := range ids {
		var got jaegerResponse[[]jaegerTrace]
		getJSON(t, "http://"+again.addrs.Query+"/api/traces/"+id.String(), 200, &got)
		if len(got.Data) != 1 || len(got.Data[0].Spans) != spansPerBatch {
			t.Fatalf("trace %s: acknowledged %d spans, found %+v", id, spansPerBatch, got.Data)
		}
	}
}

// crashBatch builds one trace of n spans as the SDK would hand them to an exporter.
func crashBatch(i, n int) ([]sdktrace.ReadOnlySpan, trace.TraceID) {
	var tid trace.TraceID
	copy(tid[:], fmt.Sprintf("crash-%010d", i))
	res := resource.NewSchemaless(attribute.String("service.name", "crash-test"))
	start := time.Now()
	stubs := make(tracetest.SpanStubs, n)
	for j := range stubs {
		var sid trace.SpanID
		copy(sid[:], fmt.Sprintf("s%07d", j+1))
		var parent trace.SpanContext
		if j > 0 {
			var psid trace.SpanID
			copy(psid[:], fmt.Sprintf("s%07d", j))
			parent = trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: psid})
		}
		stubs[j] = tracetest.SpanStub{
			Name:                 "op-" + strings.Repeat("x", j%5),
			SpanContext:          trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}),
			Parent:               parent,
			SpanKind:             trace.SpanKindInternal,
			StartTime:            start.Add(time.Duration(j) * time.Millisecond),
			EndTime:              start.Add(time.Duration(j+1) * time.Millisecond),
			Attributes:           []attribute.KeyValue{attribute.Int("batch", i), attribute.Int("index", j)},
			Resource:             res,
			InstrumentationScope: instrumentation.Scope{Name: "crash"},
		}
	}
	return stubs.Snapshots(), tid
}

// TestGracefulShutdownOnSIGTERM: SIGTERM drains and writes the head as a
// block, so the process exits 0 and the next start has no WAL to replay.
func TestGracefulShutdownOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	dir := t.TempDir()
	srv := startChild(t, dir)
	exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(srv.addrs.OTLPGRPC), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	batch, id := crashBatch(1, 10)
	if err := exp.ExportSpans(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	_ = exp.Shutdown(context.Background())
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := srv.cmd.Wait(); err != nil {
		t.Fatalf("clew did not exit cleanly on SIGTERM: %v", err)
	}
	walFiles, _ := filepath.Glob(filepath.Join(dir, "wal", "*"))
	var walBytes int64
	for _, f := range walFiles {
		if st, err := os.Stat(f); err == nil {
			walBytes += st.Size()
		}
	}
	if walBytes > 64 {
		t.Errorf("%d bytes of WAL left after a clean shutdown; the head should be in a block", walBytes)
	}
	again := startChild(t, dir)
	var got jaegerResponse[[]jaegerTrace]
	getJSON(t, "http://"+again.addrs.Query+"/api/traces/"+id.String(), 200, &got)
	if len(got.Data) != 1 || len(got.Data[0].Spans) != 10 {
		t.Fatalf("after restart: %+v", got.Data)
	}
}
