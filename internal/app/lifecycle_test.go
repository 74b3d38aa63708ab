package app

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/config"
)

// logBuffer collects a logger's lines for inspection.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func loopbackConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	for _, p := range []*string{&cfg.OTLPGRPCAddr, &cfg.OTLPHTTPAddr, &cfg.QueryAddr, &cfg.AdminAddr, &cfg.TempoAddr} {
		*p = "127.0.0.1:0"
	}
	cfg.JaegerHTTPAddr, cfg.JaegerCompactAddr, cfg.JaegerBinaryAddr, cfg.ZipkinAddr = "", "", "", ""
	return cfg
}

// A start that fails (a port in use) must not log "stopped cleanly" before
// the error (issue 13).
func TestFailedStartIsNotLoggedAsCleanStop(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := loopbackConfig(t)
	cfg.QueryAddr = busy.Addr().String()
	var logs logBuffer
	err = Run(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err == nil {
		t.Fatal("Run succeeded on a busy port")
	}
	out := logs.String()
	if strings.Contains(out, "stopped cleanly") || strings.Contains(out, "clew started") {
		t.Errorf("a failed start is logged as a start or a clean stop:\n%s", out)
	}
	if !strings.Contains(out, "start failed") || !strings.Contains(out, "closed after the failed start") {
		t.Errorf("the failed start is not logged:\n%s", out)
	}
}

// Run logs why it stops: the context's cause, which signal.NotifyContext
// sets to the signal.
func TestRunLogsWhyItStops(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	var logs logBuffer
	done := make(chan error, 1)
	go func() { done <- Run(ctx, loopbackConfig(t), slog.New(slog.NewTextHandler(&logs, nil))) }()
	deadline := time.After(time.Minute) // only catches a hang
	for !strings.Contains(logs.String(), "clew started") {
		select {
		case err := <-done:
			t.Fatalf("Run ended before starting: %v", err)
		case <-deadline:
			t.Fatal("clew did not start")
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel(errors.New("terminated signal received"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, want := range []string{`msg="clew stopping" reason="terminated signal received"`, `msg="clew stopped cleanly" took=`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

// Shutdown says what it drained and flushed: each step with its time, and
// the block the head became with its span count.
func TestShutdownLogsDrainAndBlock(t *testing.T) {
	var logs logBuffer
	ctx := context.Background()
	a, err := New(ctx, loopbackConfig(t), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if code, body := post(t, "http://"+a.Addrs().OTLPHTTP+"/v1/traces", "application/x-protobuf", otlpRequest(t, func(ptrace.Span) {}), nil); code != http.StatusOK {
			t.Fatalf("ingest: %d %s", code, body)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := a.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	order := []string{`msg="clew stopping" reason="shutdown requested"`, `msg="receivers stopped and drained" took=`,
		`msg="span metrics written"`, `msg="block written"`, `msg="trace store closed (head written as a block)" took=`, `msg="clew stopped cleanly" took=`}
	last := -1
	for _, want := range order {
		i := strings.Index(out, want)
		if i < 0 || i < last {
			t.Errorf("log lacks %s (or has it out of order):\n%s", want, out)
			continue
		}
		last = i
	}
	if !strings.Contains(out, " spans=3 ") {
		t.Errorf("the block written on close does not say it holds 3 spans:\n%s", out)
	}
}
