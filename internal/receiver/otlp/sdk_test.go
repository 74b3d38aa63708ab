package otlp

import (
	"context"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// TestOTelSDKExporters exports through the official Go SDK exporters to a
// running Receiver and checks the spans arrive with their names and IDs.
func TestOTelSDKExporters(t *testing.T) {
	const token = "sdk-token"
	tests := []struct {
		name string
		exp  func(ctx context.Context, r *Receiver) (*otlptrace.Exporter, error)
	}{
		{"grpc", func(ctx context.Context, r *Receiver) (*otlptrace.Exporter, error) {
			return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(r.GRPCAddr().String()), otlptracegrpc.WithInsecure(),
				otlptracegrpc.WithHeaders(map[string]string{"Authorization": "Bearer " + token}))
		}},
		{"grpc gzip", func(ctx context.Context, r *Receiver) (*otlptrace.Exporter, error) {
			return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(r.GRPCAddr().String()), otlptracegrpc.WithInsecure(),
				otlptracegrpc.WithCompressor("gzip"), otlptracegrpc.WithHeaders(map[string]string{"Authorization": "Bearer " + token}))
		}},
		{"http", func(ctx context.Context, r *Receiver) (*otlptrace.Exporter, error) {
			return otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(r.HTTPAddr().String()), otlptracehttp.WithInsecure(),
				otlptracehttp.WithHeaders(map[string]string{"Authorization": "Bearer " + token}))
		}},
		{"http gzip", func(ctx context.Context, r *Receiver) (*otlptrace.Exporter, error) {
			return otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(r.HTTPAddr().String()), otlptracehttp.WithInsecure(),
				otlptracehttp.WithCompression(otlptracehttp.GzipCompression),
				otlptracehttp.WithHeaders(map[string]string{"Authorization": "Bearer " + token}))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &sink{}
			r, _ := newTestReceiver(t, Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", AuthToken: token}, s, nil)
			if err := r.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			defer func() {
				if err := r.Shutdown(ctx); err != nil {
					t.Errorf("Shutdown: %v", err)
				}
			}()
			exp, err := tc.exp(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			// A syncer exports on span end; Shutdown returns only after the
			// export got its response, so no waiting is needed.
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			tr := tp.Tracer("sdk-test")
			pctx, parent := tr.Start(ctx, "parent")
			_, child := tr.Start(pctx, "child")
			child.End()
			parent.End()
			if err := tp.Shutdown(ctx); err != nil {
				t.Fatalf("tracer provider shutdown: %v", err)
			}
			want := sortedRefs(
				spanRef{parent.SpanContext().TraceID().String(), parent.SpanContext().SpanID().String(), "parent"},
				spanRef{child.SpanContext().TraceID().String(), child.SpanContext().SpanID().String(), "child"},
			)
			got := s.spans()
			if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
				t.Errorf("spans\n got %v\nwant %v", got, want)
			}
		})
	}
}

// TestStartShutdown checks addresses, disabled transports, and that Shutdown
// stops the listeners and is safe before Start and twice.
func TestStartShutdown(t *testing.T) {
	tests := []struct {
		name             string
		cfg              Config
		wantGRPC, wantHT bool
	}{
		{"both", Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"}, true, true},
		{"http only", Config{HTTPAddr: "127.0.0.1:0"}, false, true},
		{"grpc only", Config{GRPCAddr: "127.0.0.1:0"}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newTestReceiver(t, tc.cfg, &sink{}, nil)
			if err := r.Shutdown(t.Context()); err != nil {
				t.Fatalf("Shutdown before Start: %v", err)
			}
			r, _ = newTestReceiver(t, tc.cfg, &sink{}, nil)
			if err := r.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			if err := r.Start(t.Context()); err == nil {
				t.Error("second Start succeeded")
			}
			if (r.GRPCAddr() != nil) != tc.wantGRPC || (r.HTTPAddr() != nil) != tc.wantHT {
				t.Fatalf("addrs grpc=%v http=%v", r.GRPCAddr(), r.HTTPAddr())
			}
			if tc.wantHT {
				resp, err := http.Post("http://"+r.HTTPAddr().String()+"/v1/traces", contentTypeProto, nil)
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK { // empty request: success
					t.Errorf("empty request status %d", resp.StatusCode)
				}
			}
			if err := r.Shutdown(t.Context()); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if err := r.Shutdown(t.Context()); err != nil {
				t.Fatalf("second Shutdown: %v", err)
			}
			if tc.wantHT {
				if resp, err := http.Post("http://"+r.HTTPAddr().String()+"/v1/traces", contentTypeProto, nil); err == nil {
					_ = resp.Body.Close()
					t.Error("HTTP still served after Shutdown")
				}
			}
		})
	}
}

// TestShutdownWaitsForInFlight checks an in-flight export completes (and is
// acknowledged) before Shutdown returns.
func TestShutdownWaitsForInFlight(t *testing.T) {
	s := &sink{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	r, _ := newTestReceiver(t, Config{HTTPAddr: "127.0.0.1:0"}, s, nil)
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	body := readFixture(t, "node-otlp-http-proto.pb")
	status := make(chan int, 1)
	go func() {
		resp, err := http.Post("http://"+r.HTTPAddr().String()+"/v1/traces", contentTypeProto, httptestBody(body))
		if err != nil {
			status <- -1
			return
		}
		_ = resp.Body.Close()
		status <- resp.StatusCode
	}()
	<-s.entered
	shutdownDone := make(chan error, 1)
	go func() { shutdownDone <- r.Shutdown(context.Background()) }()
	// Once new connections are refused, Shutdown is under way; it must
	// still be waiting for the blocked request.
	addr := r.HTTPAddr().String()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		_ = c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting 10s after Shutdown began")
		}
		runtime.Gosched()
	}
	select {
	case err := <-shutdownDone:
		t.Fatalf("Shutdown returned (%v) while a request was in flight", err)
	case <-status:
		t.Fatal("request finished while consumer blocked")
	default:
	}
	close(s.block)
	if code := <-status; code != http.StatusOK {
		t.Errorf("in-flight request status %d", code)
	}
	if err := <-shutdownDone; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}
