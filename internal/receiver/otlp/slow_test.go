package otlp

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// startHTTPAndGRPC runs a receiver on two loopback ports until the test ends.
func startHTTPAndGRPC(t *testing.T, cfg Config, s *sink) *Receiver {
	t.Helper()
	cfg.HTTPAddr, cfg.GRPCAddr = "127.0.0.1:0", "127.0.0.1:0"
	r, _ := newTestReceiver(t, cfg, s, nil)
	if err := r.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return r
}

// slowUpload opens a connection, announces a body of contentLength bytes
// and sends only the first sent of them; the connection stays open (closed
// at test end, before the receiver shuts down).
func slowUpload(t *testing.T, addr string, contentLength, sent int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	head := fmt.Sprintf("POST /v1/traces HTTP/1.1\r\nHost: clew\r\nContent-Type: application/x-protobuf\r\nContent-Length: %d\r\n\r\n", contentLength)
	if _, err := c.Write(append([]byte(head), make([]byte, sent)...)); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitFor polls cond until it holds; the deadline only catches hangs.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func gaugeValue(t *testing.T, r *Receiver, transport string) float64 {
	t.Helper()
	var m dto.Metric
	if err := r.metrics.inFlightRequests.WithLabelValues(transport).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

// TestSlowBodiesDoNotBlockIngestion: clients that announce maximal bodies
// and then send almost nothing must not take the in-flight budget from a
// well-behaved exporter, over either transport. Before the fix, each slow
// request reserved its whole Content-Length before a byte arrived, so four
// of them held the budget and every other export was refused.
func TestSlowBodiesDoNotBlockIngestion(t *testing.T) {
	const maxReq = 1 << 20
	s := &sink{}
	// Room for exactly four maximal requests (each lease is Content-Length+1).
	r := startHTTPAndGRPC(t, Config{MaxRequestBytes: maxReq, MaxInFlightBytes: 4 * (maxReq + 1)}, s)
	const slow = 4
	for range slow {
		slowUpload(t, r.HTTPAddr().String(), maxReq, 1024)
	}
	waitFor(t, "the slow requests to be reading their bodies", func() bool { return gaugeValue(t, r, transportHTTP) == slow })
	waitFor(t, "the slow requests' first bytes to be counted", func() bool { return r.inFlight.used.Load() >= slow*1024 })

	body := readFixture(t, "node-otlp-http-proto.pb")
	resp, err := http.Post("http://"+r.HTTPAddr().String()+"/v1/traces", contentTypeProto, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("well-behaved HTTP export next to %d slow uploads: %d, want 200 (budget used: %d of %d)",
			slow, resp.StatusCode, r.inFlight.used.Load(), r.inFlight.limit)
	}

	cc, err := grpc.NewClient(r.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	er := ptraceotlp.NewExportRequest()
	if err := er.UnmarshalProto(body); err != nil {
		t.Fatal(err)
	}
	if _, err := ptraceotlp.NewGRPCClient(cc).Export(t.Context(), er); err != nil {
		t.Errorf("well-behaved gRPC export next to %d slow uploads: %v (%s)", slow, err, status.Code(err))
	}
}

// TestSlowBodyIsCutOff: a body that stalls is answered 408 once it falls
// behind the minimum rate, its connection is closed, and it gives back the
// budget.
func TestSlowBodyIsCutOff(t *testing.T) {
	s := &sink{}
	r := startHTTPAndGRPC(t, Config{MinBodyRate: 1 << 20, BodyGrace: 50 * time.Millisecond}, s)
	c := slowUpload(t, r.HTTPAddr().String(), 10<<20, 100)
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second)) // only catches a hang
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("stalled body: %d, want 408", resp.StatusCode)
	}
	if !resp.Close {
		t.Error("the connection of a stalled body stays open")
	}
	waitFor(t, "the stalled request to give back its budget", func() bool {
		return r.inFlight.used.Load() == 0 && gaugeValue(t, r, transportHTTP) == 0
	})
	if got := counterValue(t, r.metrics.refusedRequests.WithLabelValues(transportHTTP, reasonTooSlow)); got != 1 {
		t.Errorf("refused{too_slow} = %v, want 1", got)
	}
	if len(s.spans()) != 0 {
		t.Error("a cut-off body reached the consumer")
	}
}

// TestBodyReadGrowsWithArrival: the lease follows the bytes that arrived,
// not the Content-Length a client announces.
func TestBodyReadGrowsWithArrival(t *testing.T) {
	s := &sink{}
	r := startHTTPAndGRPC(t, Config{}, s) // 64 MiB requests allowed
	slowUpload(t, r.HTTPAddr().String(), 64<<20, 10)
	waitFor(t, "the upload to be reading", func() bool { return gaugeValue(t, r, transportHTTP) == 1 && r.inFlight.used.Load() > 0 })
	if used := r.inFlight.used.Load(); used > 1<<20 {
		t.Errorf("an upload that sent 10 bytes of an announced 64 MiB holds %d bytes of budget, want at most 1 MiB", used)
	}
}
