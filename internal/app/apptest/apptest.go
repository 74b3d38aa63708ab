// Package apptest starts a whole Clew inside a test process, for tests of
// the parts that sit on top of it (the UI, the demo shop). It owns nothing
// but that: data in the test's temp dir, every listener on a loopback port
// the OS picks, the legacy receivers off, a clean shutdown at the end.
package apptest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/app"
	"github.com/clewtrace/clew/internal/config"
)

// Start runs Clew until the test ends; mutate may change the configuration
// first (e.g. switch a receiver on with "127.0.0.1:0").
func Start(t testing.TB, mutate ...func(*config.Config)) *app.App {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	for _, p := range []*string{&cfg.OTLPGRPCAddr, &cfg.OTLPHTTPAddr, &cfg.QueryAddr, &cfg.AdminAddr, &cfg.TempoAddr} {
		*p = "127.0.0.1:0"
	}
	cfg.JaegerHTTPAddr, cfg.JaegerCompactAddr, cfg.JaegerBinaryAddr, cfg.ZipkinAddr = "", "", "", ""
	for _, m := range mutate {
		m(&cfg)
	}
	ctx := context.Background()
	a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("new clew: %v", err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatalf("start clew: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("clew shutdown: %v", err)
		}
	})
	return a
}
