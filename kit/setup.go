package kit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	logglobal "go.opentelemetry.io/otel/log/global"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// ScopeName is the instrumentation scope used by the kit's own tracers and
// loggers.
const ScopeName = "github.com/clewtrace/clew/kit"

// Telemetry holds what Setup built. The providers are also registered as the
// OpenTelemetry globals, so most code never needs these fields; they are
// exported for code that prefers explicit wiring (and for tests).
type Telemetry struct {
	TracerProvider *sdktrace.TracerProvider
	// LoggerProvider is nil when logs are disabled (OTEL_LOGS_EXPORTER=none).
	LoggerProvider *sdklog.LoggerProvider
	Propagator     propagation.TextMapPropagator
	// Resource describes this service on every span and log record.
	Resource *resource.Resource
}

// Option configures Setup.
type Option func(*config)

type config struct {
	serviceName    string
	serviceVersion string
	environment    string
	spanExporters  []sdktrace.SpanExporter
	spanProcessors []sdktrace.SpanProcessor
	logExporters   []sdklog.Exporter
	baggageKeys    []string
	baggageKeysSet bool
	logger         *slog.Logger
}

// WithServiceName sets service.name. OTEL_SERVICE_NAME (and service.name in
// OTEL_RESOURCE_ATTRIBUTES) override it, so operators keep the last word.
func WithServiceName(name string) Option { return func(c *config) { c.serviceName = name } }

// WithServiceVersion sets service.version (overridable from the environment).
func WithServiceVersion(v string) Option { return func(c *config) { c.serviceVersion = v } }

// WithEnvironment sets deployment.environment.name, e.g. "production"
// (overridable through OTEL_RESOURCE_ATTRIBUTES).
func WithEnvironment(env string) Option { return func(c *config) { c.environment = env } }

// WithSpanExporter sends spans to exp through a batching processor instead of
// the OTLP exporter built from the environment. Mostly for tests and for
// programs that bring their own exporter.
func WithSpanExporter(exp sdktrace.SpanExporter) Option {
	return func(c *config) { c.spanExporters = append(c.spanExporters, exp) }
}

// WithSpanProcessor registers p instead of the OTLP exporter built from the
// environment. Tests pass sdktrace.NewSimpleSpanProcessor(inMemoryExporter)
// so spans are visible as soon as they end.
func WithSpanProcessor(p sdktrace.SpanProcessor) Option {
	return func(c *config) { c.spanProcessors = append(c.spanProcessors, p) }
}

// WithLogExporter sends log records to exp (batched) instead of the OTLP log
// exporter built from the environment.
func WithLogExporter(exp sdklog.Exporter) Option {
	return func(c *config) { c.logExporters = append(c.logExporters, exp) }
}

// WithBaggageKeys chooses which baggage members are copied onto every span
// (see BaggageSpanProcessor). The default is "session.id"; no keys disables
// the copy.
func WithBaggageKeys(keys ...string) Option {
	return func(c *config) { c.baggageKeys, c.baggageKeysSet = keys, true }
}

// WithLogger receives the kit's and the SDK's own warnings (export failures,
// bad environment values). The default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// Setup builds a TracerProvider and a LoggerProvider from the standard OTEL_*
// environment and the options, and registers them, with the propagator named
// by OTEL_PROPAGATORS, as the OpenTelemetry globals.
//
// The SDK reads OTEL_EXPORTER_OTLP_* (endpoint, headers, timeout, compression,
// certificates), OTEL_TRACES_SAMPLER[_ARG] and OTEL_BSP_* itself; Setup only
// picks the transport from OTEL_EXPORTER_OTLP_[TRACES_|LOGS_]PROTOCOL
// ("grpc", default, or "http/protobuf"/"http/json"), honours
// OTEL_TRACES_EXPORTER / OTEL_LOGS_EXPORTER ("otlp" or "none") and
// OTEL_SDK_DISABLED, and makes the exporter insecure when no endpoint is
// configured, so the default is Clew on localhost:4317.
//
// It also routes the SDK's internal errors (failed exports...) to the
// WithLogger logger instead of the SDK's default stderr logger.
//
// Call Telemetry.Shutdown before exiting: it flushes buffered spans and logs.
func Setup(ctx context.Context, opts ...Option) (*Telemetry, error) {
	cfg := config{logger: slog.Default()}
	for _, o := range opts {
		o(&cfg)
	}
	if !cfg.baggageKeysSet {
		cfg.baggageKeys = []string{DefaultBaggageKey}
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		cfg.logger.Warn("opentelemetry", slog.Any("error", err))
	}))

	res, err := newResource(ctx, cfg)
	if err != nil {
		return nil, err
	}
	disabled := strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true")

	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if len(cfg.baggageKeys) > 0 {
		// First, so later processors (exporters) already see the copied attributes.
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(NewBaggageSpanProcessor(cfg.baggageKeys...)))
	}
	for _, p := range cfg.spanProcessors {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(p))
	}
	for _, e := range cfg.spanExporters {
		tpOpts = append(tpOpts, sdktrace.WithBatcher(e))
	}
	if !disabled && len(cfg.spanProcessors) == 0 && len(cfg.spanExporters) == 0 {
		exp, err := newSpanExporter(ctx)
		if err != nil {
			return nil, err
		}
		if exp != nil {
			tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
		}
	}
	tel := &Telemetry{
		TracerProvider: sdktrace.NewTracerProvider(tpOpts...),
		Propagator:     autoprop.NewTextMapPropagator(),
		Resource:       res,
	}

	var logExporters []sdklog.Exporter
	switch {
	case len(cfg.logExporters) > 0:
		logExporters = cfg.logExporters
	case !disabled:
		exp, err := newLogExporter(ctx, cfg.logger)
		if err != nil {
			return nil, errors.Join(err, tel.TracerProvider.Shutdown(ctx))
		}
		if exp != nil {
			logExporters = append(logExporters, exp)
		}
	}
	if len(logExporters) > 0 {
		lpOpts := []sdklog.LoggerProviderOption{sdklog.WithResource(res)}
		for _, e := range logExporters {
			lpOpts = append(lpOpts, sdklog.WithProcessor(sdklog.NewBatchProcessor(e)))
		}
		tel.LoggerProvider = sdklog.NewLoggerProvider(lpOpts...)
		logglobal.SetLoggerProvider(tel.LoggerProvider)
	}

	otel.SetTracerProvider(tel.TracerProvider)
	otel.SetTextMapPropagator(tel.Propagator)
	return tel, nil
}

// Shutdown flushes and stops the providers. Tracing goes first so that logs
// written while spans drain are still exported. Safe to call more than once.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	if err := t.TracerProvider.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("shutting down tracer provider: %w", err))
	}
	if t.LoggerProvider != nil {
		if err := t.LoggerProvider.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutting down logger provider: %w", err))
		}
	}
	return errors.Join(errs...)
}

// ForceFlush exports everything buffered so far without shutting down.
func (t *Telemetry) ForceFlush(ctx context.Context) error {
	var errs []error
	if err := t.TracerProvider.ForceFlush(ctx); err != nil {
		errs = append(errs, fmt.Errorf("flushing spans: %w", err))
	}
	if t.LoggerProvider != nil {
		if err := t.LoggerProvider.ForceFlush(ctx); err != nil {
			errs = append(errs, fmt.Errorf("flushing logs: %w", err))
		}
	}
	return errors.Join(errs...)
}

// LogHandler wraps inner so records carry trace_id/span_id and, when logs are
// enabled, are also exported over OTLP through the otelslog bridge.
func (t *Telemetry) LogHandler(inner slog.Handler) slog.Handler {
	if t.LoggerProvider == nil {
		return NewLogHandler(inner)
	}
	return NewLogHandler(inner, WithOTLPLogs(t.LoggerProvider))
}

func newResource(ctx context.Context, cfg config) (*resource.Resource, error) {
	name := cfg.serviceName
	if name == "" {
		// The specification's fallback, so an unnamed service is still findable.
		name = "unknown_service:" + filepath.Base(os.Args[0])
	}
	attrs := []attribute.KeyValue{semconv.ServiceName(name)}
	if cfg.serviceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersion(cfg.serviceVersion))
	}
	if cfg.environment != "" {
		attrs = append(attrs, semconv.DeploymentEnvironmentNameKey.String(cfg.environment))
	}
	// Later detectors win: code supplies defaults, the environment overrides.
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attrs...),
		resource.WithFromEnv(),
	)
	if errors.Is(err, resource.ErrPartialResource) {
		// A malformed OTEL_RESOURCE_ATTRIBUTES should not stop the service.
		cfg.logger.Warn("kit: partial resource", slog.Any("error", err))
		return res, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kit: building resource: %w", err)
	}
	return res, nil
}

// envFirst returns the first non-empty variable among names.
func envFirst(names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(os.Getenv(n)); v != "" {
			return v
		}
	}
	return ""
}

// exporterWanted reads OTEL_{TRACES,LOGS}_EXPORTER: only "otlp" (the default)
// and "none" are supported.
func exporterWanted(envName string) (bool, error) {
	switch v := strings.ToLower(envFirst(envName)); v {
	case "", "otlp":
		return true, nil
	case "none":
		return false, nil
	default:
		return false, fmt.Errorf("kit: %s=%q is not supported (use otlp or none)", envName, v)
	}
}

// protocol returns the OTLP transport for a signal ("TRACES" or "LOGS").
func protocol(signal string) string {
	p := envFirst("OTEL_EXPORTER_OTLP_"+signal+"_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
	if p == "" {
		return "grpc"
	}
	return strings.ToLower(p)
}

// insecureByDefault reports whether nothing about the endpoint was configured,
// in which case the exporters must talk plaintext to the local Clew: the SDK's
// own default is TLS, which a local Clew does not serve.
func insecureByDefault(signal string) bool {
	return envFirst(
		"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT",
		"OTEL_EXPORTER_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_"+signal+"_INSECURE",
		"OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_"+signal+"_CERTIFICATE",
	) == ""
}

func newSpanExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	want, err := exporterWanted("OTEL_TRACES_EXPORTER")
	if err != nil || !want {
		return nil, err
	}
	insecure := insecureByDefault("TRACES")
	var exp sdktrace.SpanExporter
	switch p := protocol("TRACES"); p {
	case "grpc":
		var opts []otlptracegrpc.Option
		if insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	case "http/protobuf", "http/json":
		// otlptracehttp reads the protocol variable itself to choose JSON.
		var opts []otlptracehttp.Option
		if insecure {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	default:
		return nil, fmt.Errorf("kit: unsupported OTLP traces protocol %q", p)
	}
	if err != nil {
		return nil, fmt.Errorf("kit: creating span exporter: %w", err)
	}
	return exp, nil
}

func newLogExporter(ctx context.Context, logger *slog.Logger) (sdklog.Exporter, error) {
	want, err := exporterWanted("OTEL_LOGS_EXPORTER")
	if err != nil || !want {
		return nil, err
	}
	insecure := insecureByDefault("LOGS")
	var exp sdklog.Exporter
	switch p := protocol("LOGS"); p {
	case "grpc":
		var opts []otlploggrpc.Option
		if insecure {
			opts = append(opts, otlploggrpc.WithInsecure())
		}
		exp, err = otlploggrpc.New(ctx, opts...)
	case "http/protobuf", "http/json":
		if p == "http/json" {
			logger.Warn("kit: the OTLP log exporter has no JSON encoding; logs use http/protobuf")
		}
		var opts []otlploghttp.Option
		if insecure {
			opts = append(opts, otlploghttp.WithInsecure())
		}
		exp, err = otlploghttp.New(ctx, opts...)
	default:
		return nil, fmt.Errorf("kit: unsupported OTLP logs protocol %q", p)
	}
	if err != nil {
		return nil, fmt.Errorf("kit: creating log exporter: %w", err)
	}
	return exp, nil
}
