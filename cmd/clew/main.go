// Command clew runs Clew, the all-in-one tracing backend.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"github.com/clewtrace/clew/internal/app"
	"github.com/clewtrace/clew/internal/config"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	if cmd == "serve" && slices.ContainsFunc(args, func(a string) bool { return a == "--version" || a == "-version" }) {
		cmd = "version"
	}
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, app.ReadBuild())
		return 0
	case "help":
		config.Usage(stdout)
		return 0
	case "serve":
	default:
		fmt.Fprintf(stderr, "clew: unknown command %q (serve, version, help)\n", cmd)
		return 2
	}
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			config.Usage(stdout)
			return 0
		}
	}
	cfg, err := config.Load(args, os.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "clew: %v\n\n", err)
		config.Usage(stderr)
		return 2
	}
	logger := newLogger(cfg, stderr)
	setMemoryLimit(logger)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, cfg, logger); err != nil {
		logger.Error("clew failed", "err", err)
		return 1
	}
	return 0
}

// defaultMemoryLimit keeps Clew's resident memory under 1 GiB by default:
// the Go runtime collects harder as the heap nears it. GOMEMLIMIT overrides.
const defaultMemoryLimit = 900 << 20

func setMemoryLimit(logger *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(defaultMemoryLimit)
	logger.Debug("soft memory limit set", "bytes", defaultMemoryLimit)
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
