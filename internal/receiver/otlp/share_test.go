package otlp

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// otherClientIP is a second loopback address: Linux answers on all of
// 127.0.0.0/8, so a connection from it is another client to Clew.
var otherClientIP = net.ParseIP("127.0.0.2")

func dialerFrom(ip net.IP) *net.Dialer { return &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}} }

func httpClientFrom(ip net.IP) *http.Client {
	return &http.Client{Timeout: 60 * time.Second, // only catches a hang
		Transport: &http.Transport{DialContext: dialerFrom(ip).DialContext}}
}

func grpcClientFrom(t *testing.T, addr string, ip net.IP) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			return dialerFrom(ip).DialContext(ctx, "tcp", a)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// TestOneClientCannotStarveTheRest: one client (a remote IP) holds at most
// its share of the in-flight budget (half, by default), however many
// requests it sends at once, so another client still gets in. Before, the
// first client's requests took the whole budget and every other client was
// refused. Both transports share the budget.
func TestOneClientCannotStarveTheRest(t *testing.T) {
	body := bigExport(t, 128<<10)
	wire := int64(len(body))
	// Each request holds about five wire sizes until the consumer returns;
	// the budget holds two such requests, one client one.
	s := &sink{block: make(chan struct{}), entered: make(chan struct{}, 8)}
	r := startHTTPAndGRPC(t, Config{MaxRequestBytes: 2 * wire, MaxInFlightBytes: 10*wire + 16}, s)
	url := "http://" + r.HTTPAddr().String() + "/v1/traces"
	hog := httpClientFrom(otherClientIP)

	first := make(chan int, 1)
	go func() {
		resp, err := hog.Post(url, contentTypeProto, bytes.NewReader(body))
		if err != nil {
			first <- -1
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	<-s.entered

	// The hog's second request, over HTTP or gRPC, does not fit its share...
	resp, err := hog.Post(url, contentTypeProto, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("the hog's second HTTP request: %d, want 503", resp.StatusCode)
	}
	er := ptraceotlp.NewExportRequest()
	if err := er.UnmarshalProto(body); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second) // only catches a hang
	defer cancel()
	hogGRPC := ptraceotlp.NewGRPCClient(grpcClientFrom(t, r.GRPCAddr().String(), otherClientIP))
	if _, err := hogGRPC.Export(ctx, er); status.Code(err) != codes.Unavailable {
		t.Errorf("the hog's gRPC request: %v, want UNAVAILABLE", err)
	}

	// ...while another client's request, over either transport, is admitted
	// next to the hog's first.
	second := make(chan int, 1)
	go func() {
		resp, err := http.Post(url, contentTypeProto, bytes.NewReader(body))
		if err != nil {
			second <- -1
			return
		}
		resp.Body.Close()
		second <- resp.StatusCode
	}()
	select {
	case <-s.entered:
	case code := <-second:
		t.Fatalf("another client's HTTP request was answered %d instead of admitted", code)
	}
	close(s.block)
	if code := <-first; code != http.StatusOK {
		t.Errorf("the hog's first request: %d", code)
	}
	if code := <-second; code != http.StatusOK {
		t.Errorf("another client's HTTP request: %d", code)
	}
	cc := grpcClientFrom(t, r.GRPCAddr().String(), net.IPv4(127, 0, 0, 1))
	if _, err := ptraceotlp.NewGRPCClient(cc).Export(ctx, er); err != nil {
		t.Errorf("another client's gRPC request: %v", err)
	}
}

// stalledGRPCMessage opens a gRPC stream over raw HTTP/2, announces a
// message of size bytes and sends only its first bytes, then waits; closing
// the returned function ends the stream. grpc-go reads the message (and
// waits for the rest) only when the handler asks for it.
func stalledGRPCMessage(t *testing.T, addr string, size int) (stop func()) {
	t.Helper()
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return dialerFrom(otherClientIP).DialContext(ctx, network, addr)
		},
	}
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
		"http://"+addr+"/opentelemetry.proto.collector.trace.v1.TraceService/Export", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := tr.RoundTrip(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	head := make([]byte, 5, 5+1024)
	binary.BigEndian.PutUint32(head[1:], uint32(size))
	if _, err := pw.Write(append(head, make([]byte, 1024)...)); err != nil {
		t.Fatal(err)
	}
	return func() {
		_ = pw.Close()
		<-done
		tr.CloseIdleConnections()
	}
}

// TestGRPCMessagesAreReadThroughTheGate: while as many messages as the
// budget has room for are being received, another export waits before gRPC
// reads its message (so its bytes are not in memory) and goes through once a
// slot is free.
func TestGRPCMessagesAreReadThroughTheGate(t *testing.T) {
	s := &sink{}
	// One slot: the budget holds one maximal request. The hold is long
	// enough that only the stalled stream's end frees the slot.
	r := startHTTPAndGRPC(t, Config{MaxRequestBytes: 1 << 20, MaxInFlightBytes: 1 << 20, BodyGrace: time.Hour}, s)
	stop := stalledGRPCMessage(t, r.GRPCAddr().String(), 512<<10)
	waitFor(t, "the stalled message to hold the slot", func() bool { n, _ := r.receiving.state(); return n == 1 })

	client := ptraceotlp.NewGRPCClient(grpcClientFrom(t, r.GRPCAddr().String(), net.IPv4(127, 0, 0, 1)))
	req := fixtureRequest(t)
	exported := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // only catches a hang
		defer cancel()
		_, err := client.Export(ctx, req)
		exported <- err
	}()
	waitFor(t, "the export to wait at the gate", func() bool { _, w := r.receiving.state(); return w == 1 })
	if len(s.spans()) != 0 {
		t.Fatal("the export went past the gate while the slot was held")
	}
	stop()
	if err := <-exported; err != nil {
		t.Fatalf("export after the slot was freed: %v", err)
	}
	if len(s.spans()) == 0 {
		t.Error("the export's spans did not arrive")
	}
}
