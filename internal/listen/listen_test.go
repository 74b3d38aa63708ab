package listen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
)

func shortLimits() Limits {
	return Limits{ReadHeaderTimeout: 100 * time.Millisecond, ReadTimeout: time.Second, WriteTimeout: time.Second,
		IdleTimeout: 100 * time.Millisecond, MaxConnections: 4}
}

// waitClosed reads from c until the server closes it; the deadline only
// catches a server that never does.
func waitClosed(t *testing.T, c net.Conn, r io.Reader) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err := io.Copy(io.Discard, r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept an idle connection open")
	}
}

func startHTTP(t *testing.T, lim Limits) string {
	t.Helper()
	ln, err := TCP(t.Context(), "127.0.0.1:0", lim)
	if err != nil {
		t.Fatal(err)
	}
	srv := HTTPServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }), lim, nil)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// TestIdleHTTPConnectionsAreClosed: a connection that never sends a request,
// and one kept alive after its request, are both closed by the server.
func TestIdleHTTPConnectionsAreClosed(t *testing.T) {
	addr := startHTTP(t, shortLimits())

	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	waitClosed(t, silent, silent)

	kept, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	fmt.Fprintf(kept, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(kept)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		t.Fatal("the server did not keep the connection alive; the idle case is not exercised")
	}
	waitClosed(t, kept, br)
}

// TestSlowHeadersAreCutOff: headers that never finish do not hold a
// connection.
func TestSlowHeadersAreCutOff(t *testing.T) {
	addr := startHTTP(t, shortLimits())
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n") // no final blank line
	waitClosed(t, c, c)
}

// TestConnectionCap: with MaxConnections open, the next client is served
// only once one of them closes.
func TestConnectionCap(t *testing.T) {
	lim := shortLimits()
	lim.ReadHeaderTimeout, lim.IdleTimeout, lim.MaxConnections = time.Minute, time.Minute, 2
	addr := startHTTP(t, lim)
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	// Prove both are accepted and being served (one request each).
	for _, c := range held {
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	answered := make(chan error, 1)
	go func() {
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
		}
		answered <- err
	}()
	// Free a slot; the waiting client must now be served.
	held[0].Close()
	select {
	case err := <-answered:
		if err != nil {
			t.Fatalf("third client: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a freed slot was not reused")
	}
}

// TestSilentGRPCConnectionIsClosed: a TCP connection to the gRPC server
// that never sends the HTTP/2 preface is closed.
func TestSilentGRPCConnectionIsClosed(t *testing.T) {
	lim := shortLimits()
	ln, err := TCP(t.Context(), "127.0.0.1:0", lim)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(GRPCOptions(lim)...)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitClosed(t, c, c)
}
