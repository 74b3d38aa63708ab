package zipkin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/receiver/ratelog"
)

// warnCounter counts the WARN records a logger receives.
type warnCounter struct{ n atomic.Int64 }

func (w *warnCounter) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn {
		w.n.Add(1)
	}
	return nil
}
func (w *warnCounter) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnCounter) WithGroup(string) slog.Handler      { return w }

// TestRefusalsAreCountedNotFlooded: a failing store refuses every batch; the
// client gets a 503 without the store's error text (a file path), every
// refusal is counted, and the log gets one line per interval, not one per
// request.
func TestRefusalsAreCountedNotFlooded(t *testing.T) {
	next := consumer.TracesFunc(func(context.Context, ptrace.Traces) (consumer.Result, error) {
		return consumer.Result{}, errors.New("store: wal: write /var/lib/clew/wal/00000007.wal: no space left on device")
	})
	warns := &warnCounter{}
	r, err := New(Config{}, next, prometheus.NewRegistry(), slog.New(warns))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	const requests = 30
	start := time.Now()
	for range requests {
		status, msg := post(t, srv.URL+"/api/v2/spans", "application/json", "", readFixture(t))
		if status != http.StatusServiceUnavailable || strings.Contains(msg, "/var/lib") || !strings.Contains(msg, "retry later") {
			t.Fatalf("status %d %q, want 503 without the store's error text", status, msg)
		}
	}
	// Every interval that began may log one line; the requests take far less.
	allowed := 1 + int64(time.Since(start)/ratelog.DefaultInterval)
	if n := warns.n.Load(); n < 1 || n > allowed {
		t.Errorf("%d WARN lines for %d refused requests, want 1 (at most %d)", n, requests, allowed)
	}
	if got := counterValue(t, r.metrics.refused); got != 3*requests {
		t.Errorf("refused spans counted %v, want %d", got, 3*requests)
	}
}
