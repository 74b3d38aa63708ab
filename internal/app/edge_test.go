package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/clewtrace/clew/internal/config"
)

// TestOneBearerCheckOnEveryListener sends the same Authorization headers to
// every listener that takes a token and expects the same verdict from each:
// the scheme is case-insensitive (RFC 6750), extra spaces are fine, a wrong
// or missing token is refused. Before one shared check, "bearer x" worked on
// OTLP/HTTP and failed on Zipkin and the query API.
func TestOneBearerCheckOnEveryListener(t *testing.T) {
	a := startApp(t, t.TempDir(), func(c *config.Config) {
		c.IngestToken, c.QueryToken = "in-token", "q-token"
		c.ZipkinAddr, c.JaegerHTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	})
	ad := a.Addrs()
	otlpBody := otlpRequest(t, func(ptrace.Span) {})
	conn, err := grpc.NewClient(ad.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	grpcClient := ptraceotlp.NewGRPCClient(conn)
	er := ptraceotlp.NewExportRequest()
	if err := er.UnmarshalProto(otlpBody); err != nil {
		t.Fatal(err)
	}

	type listener struct {
		name  string
		token string
		call  func(authorization string) (ok bool, detail string)
	}
	httpCall := func(method, url, contentType string, body []byte, okStatus int) func(string) (bool, string) {
		return func(authorization string) (bool, string) {
			req, _ := http.NewRequest(method, url, bytes.NewReader(body))
			if contentType != "" {
				req.Header.Set("Content-Type", contentType)
			}
			if authorization != "" {
				req.Header.Set("Authorization", authorization)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, url, err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != okStatus && resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s: unexpected status %d: %s", method, url, resp.StatusCode, b)
			}
			if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: 401 without WWW-Authenticate", method, url)
			}
			return resp.StatusCode == okStatus, fmt.Sprint(resp.StatusCode)
		}
	}
	listeners := []listener{
		{"otlp-http", "in-token", httpCall("POST", "http://"+ad.OTLPHTTP+"/v1/traces", "application/x-protobuf", otlpBody, 200)},
		{"otlp-grpc", "in-token", func(authorization string) (bool, string) {
			ctx := context.Background()
			if authorization != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", authorization)
			}
			_, err := grpcClient.Export(ctx, er)
			return err == nil, status.Code(err).String()
		}},
		{"zipkin", "in-token", httpCall("POST", "http://"+ad.Zipkin+"/api/v2/spans", "application/json", []byte("[]"), 202)},
		{"jaeger-http", "in-token", httpCall("POST", "http://"+ad.JaegerHTTP+"/api/traces", "application/x-thrift", emptyJaegerBatch(t), 202)},
		{"query", "q-token", httpCall("GET", "http://"+ad.Query+"/api/services", "", nil, 200)},
		{"admin-pprof", "q-token", httpCall("GET", "http://"+ad.Admin+"/debug/pprof/cmdline", "", nil, 200)},
	}
	for _, l := range listeners {
		headers := map[string]bool{
			"Bearer " + l.token:         true,
			"bearer " + l.token:         true,
			"BEARER   " + l.token:       true,
			" Bearer " + l.token + "  ": true,
			"":                          false,
			"Bearer wrong":              false,
			"Bearer " + l.token + "x":   false,
			l.token:                     false,
			"Basic " + l.token:          false,
		}
		for h, want := range headers {
			if got, detail := l.call(h); got != want {
				t.Errorf("%s with Authorization %q: accepted=%v (%s), want %v", l.name, h, got, detail, want)
			}
		}
	}
}

func emptyJaegerBatch(t *testing.T) []byte {
	t.Helper()
	// A Batch with a process and no spans: struct{1: Process{1: serviceName}, 2: list<Span>[]}.
	var b bytes.Buffer
	b.Write([]byte{0x0c, 0x00, 0x01})                   // field 1: struct Process
	b.Write([]byte{0x0b, 0x00, 0x01, 0, 0, 0, 1, 's'})  // field 1: string "s"
	b.WriteByte(0)                                      // end Process
	b.Write([]byte{0x0f, 0x00, 0x02, 0x0c, 0, 0, 0, 0}) // field 2: list<struct>, 0 elements
	b.WriteByte(0)                                      // end Batch
	return b.Bytes()
}

// TestAdminKeepsTokensSecret: the admin port's profiles need the query token,
// and /debug/pprof/cmdline never prints a token, whatever form the flag took.
func TestAdminKeepsTokensSecret(t *testing.T) {
	args := []string{"clew", "serve", "--ingest-token", "in-secret", "-query-token=q-secret",
		"--data-dir", "/d", "--ingest-token=in-secret2", "-ingest-token", "in-secret3", "--", "--query-token", "x"}
	rec := httptest.NewRecorder()
	cmdlineHandler(args).ServeHTTP(rec, httptest.NewRequest("GET", "/debug/pprof/cmdline", nil))
	out := rec.Body.String()
	for _, secret := range []string{"in-secret", "q-secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("cmdline output shows %q: %q", secret, out)
		}
	}
	if !strings.Contains(out, "--data-dir\x00/d") || !strings.Contains(out, "--ingest-token\x00REDACTED") {
		t.Errorf("cmdline output lost the other flags or the redaction marker: %q", out)
	}

	a := startApp(t, t.TempDir(), func(c *config.Config) { c.QueryToken = "q-token" })
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/symbol"} {
		resp, err := http.Get("http://" + a.Addrs().Admin + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without the query token: %d, want 401", path, resp.StatusCode)
		}
	}
	for _, path := range []string{"/metrics", "/healthz"} {
		resp, err := http.Get("http://" + a.Addrs().Admin + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d, want 200 (health and metrics stay open)", path, resp.StatusCode)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:14269": true, "[::1]:14269": true, "localhost:1": true,
		"[::]:4318": false, "0.0.0.0:4317": false, "10.0.0.1:9411": false, ":16686": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
