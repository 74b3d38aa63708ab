package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/clewtrace/clew/internal/config"
	"github.com/clewtrace/clew/internal/objstore"
)

// childEnv makes the test binary act as a Clew server (see TestMain).
const childEnv = "CLEW_TEST_SERVER_CHILD"

// pauseEnv stops a child server at one exact point of its block writes
// (see pauseBucket): "when:object:n" with when before, during or after the
// n-th Put of an object of that name (data.parquet, meta.json, ...).
const pauseEnv = "CLEW_TEST_PAUSE_AT"

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
	var wrap func(objstore.Bucket) objstore.Bucket
	if spec := os.Getenv(pauseEnv); spec != "" {
		p, err := parsePause(spec)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		wrap = func(b objstore.Bucket) objstore.Bucket { p.Bucket = b; return p }
	}
	a, err := newApp(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), wrap)
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

// pauseBucket is the blocks bucket of a child server started with pauseEnv.
// It prints "PUT <object>" after every Put (so the test can follow block
// writes) and, at the chosen Put, prints "PAUSED <spec>" and blocks that
// goroutine for good: the test kills the server at that exact point. With
// "during", the Put has stored a first part of the object (its temporary
// file exists) and never gets the rest.
type pauseBucket struct {
	objstore.Bucket
	spec         string
	when, object string
	n            int

	mu   sync.Mutex
	puts map[string]int
}

func parsePause(spec string) (*pauseBucket, error) {
	parts := strings.Split(spec, ":")
	if len(parts) == 3 && (parts[0] == "before" || parts[0] == "during" || parts[0] == "after") {
		if n, err := strconv.Atoi(parts[2]); err == nil && n > 0 {
			return &pauseBucket{spec: spec, when: parts[0], object: parts[1], n: n, puts: map[string]int{}}, nil
		}
	}
	return nil, fmt.Errorf("%s=%q: want before|during|after:object:n", pauseEnv, spec)
}

func (b *pauseBucket) Put(ctx context.Context, name string, r io.Reader) error {
	base := path.Base(name)
	b.mu.Lock()
	b.puts[base]++
	hit := base == b.object && b.puts[base] == b.n
	b.mu.Unlock()
	switch {
	case hit && b.when == "before":
		b.pause()
	case hit && b.when == "during":
		r = &stallingReader{r: r, stall: b.pause}
	}
	err := b.Bucket.Put(ctx, name, r)
	if err == nil {
		fmt.Println("PUT " + base)
	}
	if hit && b.when == "after" {
		b.pause()
	}
	return err
}

func (b *pauseBucket) pause() {
	fmt.Println("PAUSED " + b.spec)
	select {} // until the test kills the process
}

// CollectTemp passes the local bucket's start-up clean-up through.
func (b *pauseBucket) CollectTemp(ctx context.Context) (int, error) {
	if c, ok := b.Bucket.(interface {
		CollectTemp(context.Context) (int, error)
	}); ok {
		return c.CollectTemp(ctx)
	}
	return 0, nil
}

// stallingReader hands out the first 100 bytes, then stalls.
type stallingReader struct {
	r     io.Reader
	read  bool
	stall func()
}

func (s *stallingReader) Read(p []byte) (int, error) {
	if s.read {
		s.stall()
	}
	s.read = true
	return s.r.Read(p[:min(len(p), 100)])
}

type child struct {
	cmd   *exec.Cmd
	addrs Addrs
	lines chan string // what the child prints after its addresses; closed when it exits
}

// waitLine returns the next line the child prints that starts with prefix.
func (c *child) waitLine(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.After(2 * time.Minute) // only catches a hang
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatalf("child server exited before printing %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			t.Fatalf("child server did not print %q within 2 minutes", prefix)
		}
	}
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
	rd := bufio.NewReader(out)
	line, err := rd.ReadString('\n')
	if err != nil {
		t.Fatalf("child server did not report its addresses: %v", err)
	}
	c := &child{cmd: cmd, lines: make(chan string, 4096)}
	if err := json.Unmarshal([]byte(line), &c.addrs); err != nil {
		t.Fatalf("child said %q: %v", line, err)
	}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(rd)
		for sc.Scan() {
			select {
			case c.lines <- sc.Text():
			default: // nobody is listening: the child must never block on its stdout
			}
		}
	}()
	return c
}

// kill ends the child with SIGKILL: no shutdown code runs.
func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait()
}

// TestCrashKeepsAcknowledgedSpans kills the server with SIGKILL, restarts
// it on the same data directory, and checks that every span a client saw
// acknowledged is there exactly once — by trace ID and in a search, span
// counts per trace compared. The kill lands while four clients are
// exporting, at an arbitrary point and at exact points of the first block
// write (stopped there by pauseBucket), and at exact points of a
// compaction: a half-written data object, every object but meta.json, and
// meta.json written but the step after it (WAL truncation, deleting the
// merged blocks) not done.
func TestCrashKeepsAcknowledgedSpans(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	for _, tc := range []struct {
		name, pause string
		killed      blockFiles // what the kill left (-1: any number)
	}{
		{"while exporting", "", blockFiles{-1, -1, -1}},
		{"block write: data.parquet half written", "during:data.parquet:1", blockFiles{metas: 0, partial: 0, temps: 1}},
		{"block write: before meta.json", "before:meta.json:1", blockFiles{metas: 0, partial: 1, temps: 0}},
		{"block write: meta.json written, WAL not truncated", "after:meta.json:1", blockFiles{metas: 1, partial: 0, temps: 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			env := []string{"CLEW_BLOCK_MAX_AGE=1s"} // the first block is written about a second after the first export
			if tc.pause != "" {
				env = append(env, pauseEnv+"="+tc.pause)
			}
			srv := startChild(t, dir, env...)
			acked := exportUntilKilled(t, srv, tc.pause)
			t.Logf("%d traces acknowledged before the kill", len(acked))
			checkBlockFiles(t, dir, "after the kill", tc.killed)
			checkAcked(t, startChild(t, dir), acked, crashSpans)
			checkBlockFiles(t, dir, "after the restart", blockFiles{-1, 0, 0})
		})
	}
	// Four blocks of one trace each, written one by one (each export waits
	// for its block), all in one compaction window: the next block write
	// is the compaction that merges them (every 10 s), and nothing else
	// writes meanwhile.
	for _, tc := range []struct {
		name, pause       string
		killed, restarted blockFiles
	}{
		{"compaction: data.parquet half written", "during:data.parquet:5", blockFiles{4, 0, 1}, blockFiles{4, 0, 0}},
		// The merged block is rebuilt from its data and index beside its
		// inputs: both are read, each span answered once.
		{"compaction: before meta.json", "before:meta.json:5", blockFiles{4, 1, 0}, blockFiles{5, 0, 0}},
		// meta.json names the inputs: they are deleted at start-up.
		{"compaction: meta.json written, inputs not deleted", "after:meta.json:5", blockFiles{5, 0, 0}, blockFiles{1, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // mostly waiting for the compaction tick
			dir := t.TempDir()
			srv := startChild(t, dir, "CLEW_BLOCK_MAX_AGE=1s", pauseEnv+"="+tc.pause)
			exp := crashExporter(t, srv)
			window := time.Now().Truncate(15 * time.Minute) // a compaction window (store.compactionWindows)
			var acked []trace.TraceID
			for i := range 4 {
				batch, id := crashBatchAt(i, crashSpans, window.Add(time.Duration(i)*time.Second))
				if err := exp.ExportSpans(context.Background(), batch); err != nil {
					t.Fatal(err)
				}
				acked = append(acked, id)
				srv.waitLine(t, "PUT meta.json")
			}
			srv.waitLine(t, "PAUSED")
			srv.kill(t)
			checkBlockFiles(t, dir, "after the kill", tc.killed)
			checkAcked(t, startChild(t, dir), acked, crashSpans)
			checkBlockFiles(t, dir, "after the restart", tc.restarted)
		})
	}
}

// blockFiles counts what a data directory's blocks/ holds: complete blocks
// (with meta.json), block directories without meta.json, and temporary
// files of unfinished Puts. -1 in a wanted count means any.
type blockFiles struct{ metas, partial, temps int }

func checkBlockFiles(t *testing.T, dir, when string, want blockFiles) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "blocks"))
	if err != nil {
		t.Fatal(err)
	}
	var got blockFiles
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, "blocks", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		meta, others := false, 0
		for _, f := range files {
			switch {
			case f.Name() == "meta.json":
				meta = true
			case strings.HasPrefix(f.Name(), ".tmp"):
				got.temps++
			default:
				others++
			}
		}
		if meta {
			got.metas++
		} else if others > 0 {
			got.partial++
		}
	}
	for _, c := range []struct {
		what      string
		got, want int
	}{{"complete blocks", got.metas, want.metas}, {"blocks without meta.json", got.partial, want.partial}, {"temporary files", got.temps, want.temps}} {
		if c.want >= 0 && c.got != c.want {
			t.Errorf("%s: %d %s in blocks/, want %d", when, c.got, c.what, c.want)
		}
	}
}

// crashSpans is the span count of every trace the crash tests export.
const crashSpans = 20

func crashExporter(t *testing.T, srv *child) *otlptrace.Exporter {
	t.Helper()
	exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(srv.addrs.OTLPGRPC),
		otlptracegrpc.WithInsecure(), otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}),
		otlptracegrpc.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	return exp
}

// exportUntilKilled exports traces of crashSpans spans from four clients
// and kills the server with SIGKILL while they are at it: once 150 traces
// are acknowledged, or, with pause set, when the server reports it has
// stopped there. It returns the traces acknowledged.
func exportUntilKilled(t *testing.T, srv *child, pause string) []trace.TraceID {
	t.Helper()
	exp := crashExporter(t, srv)
	const killAfter = 150
	const maxTraces = 1000 // bounds the work if the pause takes long; the search below returns them all
	var (
		mu    sync.Mutex
		acked []trace.TraceID
		next  int
	)
	ackedEnough := make(chan struct{})
	var clients sync.WaitGroup
	for range 4 {
		clients.Add(1)
		go func() {
			defer clients.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= maxTraces {
					return
				}
				batch, id := crashBatch(i, crashSpans)
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
	if pause != "" {
		srv.waitLine(t, "PAUSED")
	} else {
		select {
		case <-ackedEnough:
		case <-clientsDone:
			t.Fatal("clients stopped before the server was killed")
		}
	}
	srv.kill(t)
	<-clientsDone
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(acked)
}

// checkAcked checks that srv holds every acknowledged trace whole and once:
// by trace ID, and in one search for all of them. Any other trace the
// search finds (a batch persisted while its acknowledgement was lost to
// the kill) must be whole too.
func checkAcked(t *testing.T, srv *child, acked []trace.TraceID, spans int) {
	t.Helper()
	base := "http://" + srv.addrs.Query
	whole := func(where string, tr jaegerTrace) {
		t.Helper()
		ids := map[string]bool{}
		for _, s := range tr.Spans {
			ids[s.SpanID] = true
		}
		if len(tr.Spans) != spans || len(ids) != spans {
			t.Fatalf("%s: trace %s has %d spans (%d distinct), want %d", where, tr.TraceID, len(tr.Spans), len(ids), spans)
		}
	}
	for _, id := range acked {
		var got jaegerResponse[[]jaegerTrace]
		getJSON(t, base+"/api/traces/"+id.String(), 200, &got)
		if len(got.Data) != 1 {
			t.Fatalf("trace %s: acknowledged, found %d traces", id, len(got.Data))
		}
		whole("by ID", got.Data[0])
	}
	var found jaegerResponse[[]jaegerTrace]
	getJSON(t, base+"/api/traces?"+url.Values{"service": {"crash-test"}, "limit": {"1500"}}.Encode(), 200, &found)
	seen := map[string]int{}
	for _, tr := range found.Data {
		seen[tr.TraceID]++
		whole("search", tr)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("search: trace %s answered %d times", id, n)
		}
	}
	for _, id := range acked {
		if seen[id.String()] == 0 {
			t.Errorf("search: acknowledged trace %s missing (%d traces found)", id, len(found.Data))
		}
	}
}

// crashBatch builds one trace of n spans as the SDK would hand them to an exporter.
func crashBatch(i, n int) ([]sdktrace.ReadOnlySpan, trace.TraceID) {
	return crashBatchAt(i, n, time.Now())
}

// crashBatchAt is crashBatch with the first span starting at start.
func crashBatchAt(i, n int, start time.Time) ([]sdktrace.ReadOnlySpan, trace.TraceID) {
	var tid trace.TraceID
	copy(tid[:], fmt.Sprintf("crash-%010d", i))
	res := resource.NewSchemaless(attribute.String("service.name", "crash-test"))
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
