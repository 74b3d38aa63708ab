package jaeger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/consumer"
)

// testTimeout bounds every wait on a channel; reaching it means a failure.
const testTimeout = 2 * time.Minute // catches hangs only; never a speed budget

// counterValue reads one counter of a vector.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// chanSink delivers every batch on a channel.
func chanSink(n int) (consumer.Traces, chan ptrace.Traces) {
	ch := make(chan ptrace.Traces, n)
	return consumer.TracesFunc(func(_ context.Context, td ptrace.Traces) (consumer.Result, error) {
		ch <- td
		return consumer.Result{}, nil
	}), ch
}

func receive(t *testing.T, ch <-chan ptrace.Traces) ptrace.Traces {
	t.Helper()
	select {
	case td := <-ch:
		return td
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting for the consumer")
		return ptrace.Traces{}
	}
}

func newReceiver(t *testing.T, cfg Config, next consumer.Traces) *Receiver {
	t.Helper()
	r, err := New(cfg, next, prometheus.NewRegistry(), quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func startReceiver(t *testing.T, r *Receiver) {
	t.Helper()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
}

func TestHTTPFixture(t *testing.T) {
	next, ch := chanSink(1)
	r := newReceiver(t, Config{}, next)
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/api/traces", "application/x-thrift", bytes.NewReader(readFixture(t, "jaeger-client-http.thrift")))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	td := receive(t, ch)
	compareBatch(t, fixtureBatch(t), td)
	checkFixtureFacts(t, td)
	if got := counterValue(t, r.metrics.accepted.WithLabelValues(transportHTTP)); got != 2 {
		t.Errorf("accepted spans = %v, want 2", got)
	}
}

func TestHTTPErrors(t *testing.T) {
	fixture := readFixture(t, "jaeger-client-http.thrift")
	overloaded := fmt.Errorf("store: %w", consumer.ErrOverloaded)
	tests := []struct {
		name        string
		contentType string
		encoding    string
		body        []byte
		maxBytes    int64
		consumerErr error
		wantStatus  int
		wantBody    string
		wantRetry   string
		malformed   float64
	}{
		{name: "binary content type", contentType: "application/vnd.apache.thrift.binary", body: fixture, wantStatus: 202},
		{name: "content type with params", contentType: "application/x-thrift; charset=binary", body: fixture, wantStatus: 202},
		{name: "json refused", contentType: "application/json", body: []byte(`{}`), wantStatus: 415, wantBody: "unsupported content type"},
		{name: "no content type", body: fixture, wantStatus: 415},
		{name: "gzip refused", contentType: "application/x-thrift", encoding: "gzip", body: fixture, wantStatus: 415},
		{name: "garbage", contentType: "application/x-thrift", body: []byte("not thrift at all"), wantStatus: 400, wantBody: "decode jaeger.thrift Batch", malformed: 1},
		{name: "truncated", contentType: "application/x-thrift", body: fixture[:len(fixture)/2], wantStatus: 400, malformed: 1},
		{name: "empty body", contentType: "application/x-thrift", body: nil, wantStatus: 400, malformed: 1},
		{name: "udp envelope is not a bare batch", contentType: "application/x-thrift", body: readFixture(t, "jaeger-client-udp.udp"), wantStatus: 400, malformed: 1},
		{name: "over the cap", contentType: "application/x-thrift", body: fixture, maxBytes: int64(len(fixture) - 1), wantStatus: 413},
		{name: "exactly the cap", contentType: "application/x-thrift", body: fixture, maxBytes: int64(len(fixture)), wantStatus: 202},
		{name: "overloaded", contentType: "application/x-thrift", body: fixture, consumerErr: overloaded, wantStatus: 503, wantRetry: "1"},
		{name: "permanent", contentType: "application/x-thrift", body: fixture, consumerErr: consumer.Permanentf("bad span"), wantStatus: 400, wantBody: "bad span"},
		{name: "other consumer error", contentType: "application/x-thrift", body: fixture, consumerErr: errors.New("disk on fire"), wantStatus: 503, wantRetry: "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next := consumer.TracesFunc(func(context.Context, ptrace.Traces) (consumer.Result, error) {
				return consumer.Result{}, tc.consumerErr
			})
			r := newReceiver(t, Config{MaxRequestBytes: tc.maxBytes}, next)
			req := httptest.NewRequest(http.MethodPost, "/api/traces", bytes.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			if tc.encoding != "" {
				req.Header.Set("Content-Encoding", tc.encoding)
			}
			if tc.name == "over the cap" {
				req.ContentLength = -1 // make the LimitReader, not Content-Length, catch it
			}
			rec := httptest.NewRecorder()
			r.Handler().ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tc.wantStatus, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Errorf("body %q does not contain %q", rec.Body, tc.wantBody)
			}
			if got := rec.Header().Get("Retry-After"); got != tc.wantRetry {
				t.Errorf("Retry-After %q, want %q", got, tc.wantRetry)
			}
			if got := counterValue(t, r.metrics.malformed.WithLabelValues(transportHTTP)); got != tc.malformed {
				t.Errorf("malformed = %v, want %v", got, tc.malformed)
			}
			if tc.consumerErr != nil {
				if got := counterValue(t, r.metrics.refused.WithLabelValues(transportHTTP)); got != 2 {
					t.Errorf("refused = %v, want 2", got)
				}
			}
		})
	}
}

func TestHTTPMethodAndPath(t *testing.T) {
	next, _ := chanSink(1)
	r := newReceiver(t, Config{}, next)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/api/traces", http.StatusMethodNotAllowed},
		{http.MethodPost, "/api/other", http.StatusNotFound},
	} {
		rec := httptest.NewRecorder()
		r.Handler().ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, rec.Code, tc.want)
		}
	}
}

func TestRejectedSpansCounted(t *testing.T) {
	next := consumer.TracesFunc(func(context.Context, ptrace.Traces) (consumer.Result, error) {
		return consumer.Result{Rejected: 1, Message: "one span too old"}, nil
	})
	r := newReceiver(t, Config{}, next)
	req := httptest.NewRequest(http.MethodPost, "/api/traces", bytes.NewReader(readFixture(t, "jaeger-client-http.thrift")))
	req.Header.Set("Content-Type", "application/x-thrift")
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d", rec.Code)
	}
	if a, f := counterValue(t, r.metrics.accepted.WithLabelValues(transportHTTP)),
		counterValue(t, r.metrics.refused.WithLabelValues(transportHTTP)); a != 1 || f != 1 {
		t.Errorf("accepted %v refused %v, want 1 and 1", a, f)
	}
}

// udpReceiver starts a receiver with both UDP sockets on loopback and a hook
// that reports each processed datagram.
func udpReceiver(t *testing.T, cfg Config, next consumer.Traces) (*Receiver, chan struct{}) {
	t.Helper()
	cfg.CompactAddr, cfg.BinaryAddr = "127.0.0.1:0", "127.0.0.1:0"
	r := newReceiver(t, cfg, next)
	done := make(chan struct{}, 16)
	r.afterDatagram = func() { done <- struct{}{} }
	startReceiver(t, r)
	return r, done
}

func send(t *testing.T, addr string, datagram []byte) {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(datagram); err != nil {
		t.Fatal(err)
	}
}

func waitDatagram(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting for the datagram to be processed")
	}
}

func TestUDPBinaryFixture(t *testing.T) {
	next, ch := chanSink(1)
	r, _ := udpReceiver(t, Config{}, next)
	datagram := readFixture(t, "jaeger-client-udp.udp")
	send(t, r.BinaryAddr(), datagram)
	td := receive(t, ch)
	compareBatch(t, datagramBatch(t, datagram, false), td)
	checkFixtureFacts(t, td)
}

func TestUDPCompact(t *testing.T) {
	next, ch := chanSink(1)
	r, _ := udpReceiver(t, Config{}, next)
	want := fixtureBatch(t)
	datagram := compactDatagram(t, want)
	send(t, r.CompactAddr(), datagram)
	td := receive(t, ch)
	compareBatch(t, datagramBatch(t, datagram, true), td)
	compareBatch(t, want, td)
	checkFixtureFacts(t, td)
	// The worker counts after the consumer returns; Shutdown waits for it.
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(t, r.metrics.accepted.WithLabelValues(transportCompact)); got != 2 {
		t.Errorf("accepted = %v, want 2", got)
	}
}

func TestUDPMalformedDropped(t *testing.T) {
	binary := readFixture(t, "jaeger-client-udp.udp")
	compact := compactDatagram(t, fixtureBatch(t))
	renamed := bytes.Replace(bytes.Clone(binary), []byte("emitBatch"), []byte("emitBatcX"), 1)
	zipkin := bytes.Replace(bytes.Clone(binary), []byte("\x00\x00\x00\x09emitBatch"), []byte("\x00\x00\x00\x0femitZipkinBatch"), 1)
	tests := []struct {
		name     string
		compact  bool
		datagram []byte
	}{
		{"garbage", false, []byte("hello")},
		{"single byte", true, []byte{0x82}},
		{"truncated binary", false, binary[:len(binary)-10]},
		{"truncated compact", true, compact[:len(compact)/2]},
		{"unknown method", false, renamed},
		{"emitZipkinBatch", false, zipkin},
		{"bare batch without envelope", false, readFixture(t, "jaeger-client-http.thrift")},
		{"compact on the binary socket", false, compact},
		{"binary on the compact socket", true, binary},
		{"over 65000 bytes", false, append(bytes.Clone(binary), make([]byte, maxDatagram+1-len(binary))...)},
	}
	next, ch := chanSink(1)
	r, done := udpReceiver(t, Config{}, next)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, transport := r.BinaryAddr(), transportBinary
			if tc.compact {
				addr, transport = r.CompactAddr(), transportCompact
			}
			before := counterValue(t, r.metrics.malformed.WithLabelValues(transport))
			send(t, addr, tc.datagram)
			waitDatagram(t, done)
			if got := counterValue(t, r.metrics.malformed.WithLabelValues(transport)); got != before+1 {
				t.Errorf("malformed = %v, want %v", got, before+1)
			}
			select {
			case <-ch:
				t.Error("malformed datagram reached the consumer")
			default:
			}
		})
	}
	// Still alive after all that.
	send(t, r.BinaryAddr(), binary)
	receive(t, ch)
}

func TestUDPQueueFullDrops(t *testing.T) {
	entered := make(chan struct{}, 4)
	release := make(chan struct{})
	delivered := make(chan ptrace.Traces, 4)
	next := consumer.TracesFunc(func(_ context.Context, td ptrace.Traces) (consumer.Result, error) {
		entered <- struct{}{}
		<-release
		delivered <- td
		return consumer.Result{}, nil
	})
	r, done := udpReceiver(t, Config{QueueSize: 1}, next)
	datagram := readFixture(t, "jaeger-client-udp.udp")
	wait := func(ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(testTimeout):
			t.Fatal("timed out")
		}
	}
	// Occupy both workers.
	for range udpWorkers {
		send(t, r.BinaryAddr(), datagram)
		wait(done)
		wait(entered)
	}
	send(t, r.BinaryAddr(), datagram) // fills the queue
	wait(done)
	send(t, r.BinaryAddr(), datagram) // no room: dropped
	wait(done)
	if got := counterValue(t, r.metrics.dropped.WithLabelValues(transportBinary)); got != 2 {
		t.Errorf("dropped spans = %v, want 2", got)
	}
	close(release)
	for range udpWorkers + 1 {
		receive(t, delivered)
	}
}

func TestUDPConsumerErrorCounted(t *testing.T) {
	next := consumer.TracesFunc(func(context.Context, ptrace.Traces) (consumer.Result, error) {
		return consumer.Result{}, consumer.ErrOverloaded
	})
	r, done := udpReceiver(t, Config{}, next)
	send(t, r.BinaryAddr(), readFixture(t, "jaeger-client-udp.udp"))
	waitDatagram(t, done)
	// Shutdown drains the queue, so the worker has finished when it returns.
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(t, r.metrics.refused.WithLabelValues(transportBinary)); got != 2 {
		t.Errorf("refused = %v, want 2", got)
	}
}

func TestLifecycle(t *testing.T) {
	tests := []struct {
		name                           string
		cfg                            Config
		wantHTTP, wantCompact, wantBin bool
	}{
		{"all", Config{HTTPAddr: "127.0.0.1:0", CompactAddr: "127.0.0.1:0", BinaryAddr: "127.0.0.1:0"}, true, true, true},
		{"http only", Config{HTTPAddr: "127.0.0.1:0"}, true, false, false},
		{"binary only", Config{BinaryAddr: "127.0.0.1:0"}, false, false, true},
		{"nothing", Config{}, false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next, ch := chanSink(1)
			r := newReceiver(t, tc.cfg, next)
			if r.HTTPAddr() != "" || r.BinaryAddr() != "" || r.CompactAddr() != "" {
				t.Error("addresses before Start")
			}
			startReceiver(t, r)
			for _, a := range []struct {
				got  string
				want bool
			}{{r.HTTPAddr(), tc.wantHTTP}, {r.CompactAddr(), tc.wantCompact}, {r.BinaryAddr(), tc.wantBin}} {
				if (a.got != "") != a.want || strings.HasSuffix(a.got, ":0") {
					t.Errorf("address %q, want enabled=%v with a real port", a.got, a.want)
				}
			}
			if err := r.Start(context.Background()); err == nil {
				t.Error("second Start succeeded")
			}
			if tc.wantHTTP {
				resp, err := http.Post("http://"+r.HTTPAddr()+"/api/traces", "application/x-thrift",
					bytes.NewReader(readFixture(t, "jaeger-client-http.thrift")))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					t.Fatalf("status %d", resp.StatusCode)
				}
				receive(t, ch)
			}
		})
	}
}

func TestShutdownBeforeStartAndTwice(t *testing.T) {
	next, _ := chanSink(1)
	r := newReceiver(t, Config{BinaryAddr: "127.0.0.1:0"}, next)
	ctx := context.Background()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err == nil {
		t.Error("Start after Shutdown succeeded")
	}
}

func TestStartFailsOnBusyPort(t *testing.T) {
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	next, _ := chanSink(1)
	r := newReceiver(t, Config{HTTPAddr: "127.0.0.1:0", BinaryAddr: busy.LocalAddr().String()}, next)
	if err := r.Start(context.Background()); err == nil {
		t.Fatal("Start succeeded on a busy port")
	}
	if r.HTTPAddr() != "" {
		t.Error("HTTP listener left open after a failed Start")
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestNewRegistersOnce(t *testing.T) {
	next, _ := chanSink(1)
	reg := prometheus.NewRegistry()
	if _, err := New(Config{}, next, reg, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{}, next, reg, nil); err == nil {
		t.Error("second receiver on the same registry did not fail")
	}
	if _, err := New(Config{}, nil, nil, nil); err == nil {
		t.Error("nil consumer accepted")
	}
}
