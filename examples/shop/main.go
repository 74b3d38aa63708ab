// Command shop is Clew's demo: a small web shop of seven services in one
// process, instrumented with the Clew kit (Go) and the OpenTelemetry JS web
// SDK (browser), sending traces and logs to a Clew on this machine.
//
//	go run ./examples/shop            # then open http://127.0.0.1:8080
//	go run ./examples/shop --load 60s --load-rate 20
//
// See docs/demo.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "shop:", err)
		}
		os.Exit(1)
	}
}

const (
	maxLoadDuration = 10 * time.Minute
	maxLoadRate     = 500
)

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("shop", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := Config{LogOutput: stderr}
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address of the shop page")
	fs.StringVar(&cfg.OTLPGRPC, "otlp-grpc", "localhost:4317", "Clew's OTLP/gRPC host:port, for the Go services")
	fs.StringVar(&cfg.OTLPHTTP, "otlp-http", "http://localhost:4318", "Clew's OTLP/HTTP base URL as the browser reaches it")
	fs.StringVar(&cfg.ClewUI, "clew-ui", "http://localhost:16686", "Clew's UI, for the page's trace links")
	fs.StringVar(&cfg.AMQPURL, "amqp-url", "", "RabbitMQ URL (amqp://...) for the e-mail queue; default: an embedded NATS server")
	fs.Float64Var(&cfg.AuthFailureRate, "auth-failure-rate", 0.2, "share of token checks that fail (0-1)")
	fs.Float64Var(&cfg.PartnerFailureRate, "partner-failure-rate", 0.3, "share of shipping-partner calls that fail (0-1)")
	fs.Float64Var(&cfg.PartnerSlowRate, "partner-slow-rate", 0.2, "share of shipping-partner calls that take 0.5-2 s (0-1)")
	fs.Float64Var(&cfg.WorkerBounceRate, "worker-bounce-rate", 0.05, "share of confirmation e-mails that bounce in the worker (0-1)")
	fs.BoolVar(&cfg.OTLPLogs, "otlp-logs", true, "also send the services' logs to Clew over OTLP")
	secret := fs.String("jwt-secret", "", "HMAC secret shared by auth and gateway (default: random per run)")
	batch := fs.Duration("batch-timeout", time.Second, "how long spans wait in a service before export")
	debug := fs.Bool("debug", false, "log at debug level")
	load := fs.Duration("load", 0, "generate traffic for this long (max 10m), then exit (see --serve)")
	loadRate := fs.Int("load-rate", 20, "user actions per second in load mode (1-500)")
	serve := fs.Bool("serve", false, "with --load: keep serving after the load ends")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *load < 0 || *load > maxLoadDuration {
		return fmt.Errorf("--load %v: must be between 0 and %v", *load, maxLoadDuration)
	}
	if *load > 0 && (*loadRate < 1 || *loadRate > maxLoadRate) {
		return fmt.Errorf("--load-rate %d: must be between 1 and %d", *loadRate, maxLoadRate)
	}
	cfg.JWTSecret = []byte(*secret)
	cfg.BatchTimeout = *batch
	if *debug {
		cfg.LogLevel = slog.LevelDebug
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	shop, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		if serr := shop.Shutdown(sctx); serr != nil {
			shop.log.Error("shutdown", "error", serr)
		}
	}()
	fmt.Fprintf(stderr, "\n  shop page:  %s\n  gateway:    %s\n  traces to:  %s (Go), %s (browser)\n  Clew UI:    %s\n\n",
		shop.FrontendURL(), shop.GatewayURL(), cfg.OTLPGRPC, cfg.OTLPHTTP, cfg.ClewUI)

	if *load > 0 {
		gen, err := newLoadGenerator(ctx, loadConfig{
			gatewayURL: shop.GatewayURL(), rate: *loadRate, duration: *load,
			telemetry: telemetryConfig{otlpEndpoint: cfg.OTLPGRPC, batchTimeout: cfg.BatchTimeout, logOutput: stderr, logLevel: cfg.LogLevel},
		})
		if err != nil {
			return err
		}
		stats, lerr := gen.run(ctx)
		if serr := gen.shutdown(context.WithoutCancel(ctx)); serr != nil {
			lerr = errors.Join(lerr, serr)
		}
		fmt.Fprintln(stderr, stats)
		if lerr != nil && !errors.Is(lerr, context.Canceled) {
			return lerr
		}
		if !*serve || ctx.Err() != nil {
			return nil
		}
	}

	select {
	case <-ctx.Done():
		return nil
	case err := <-shop.Errors():
		return err
	}
}
