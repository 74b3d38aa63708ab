package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/clewtrace/clew/kit"
	"github.com/clewtrace/clew/kit/kithttp"
	"github.com/clewtrace/clew/kit/kitqueue"
)

// demoFailKey is the baggage member that forces a failure downstream. The
// gateway sets it from the X-Demo-Fail header; kithttp transports carry it
// to every service, and the baggage processor copies it onto their spans.
const demoFailKey = "demo.fail"

// propagator is what every service injects and extracts: W3C trace context
// and baggage (the kit's default). It holds no state.
func propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// telemetry is one service's OpenTelemetry wiring. A real service would call
// kit.Setup once; the demo runs seven services in one process, so it builds
// the same pieces per service (its own resource, tracer provider, logger
// provider) and never touches the OpenTelemetry globals.
type telemetry struct {
	service string
	tp      *sdktrace.TracerProvider
	lp      *sdklog.LoggerProvider // nil when OTLP logs are off
	prop    propagation.TextMapPropagator
	log     *slog.Logger
}

type telemetryConfig struct {
	otlpEndpoint string // host:port of Clew's OTLP/gRPC receiver
	batchTimeout time.Duration
	otlpLogs     bool
	logOutput    io.Writer
	logLevel     slog.Level
}

func newTelemetry(ctx context.Context, cfg telemetryConfig, service, version string) (*telemetry, error) {
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName(service),
		semconv.ServiceVersion(version),
		semconv.ServiceNamespace("clew-shop"),
		semconv.DeploymentEnvironmentNameKey.String("demo"),
	))
	if err != nil {
		return nil, fmt.Errorf("%s: building resource: %w", service, err)
	}
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(cfg.otlpEndpoint), otlptracegrpc.WithInsecure())
	if err != nil {
		return nil, fmt.Errorf("%s: creating span exporter: %w", service, err)
	}
	t := &telemetry{
		service: service,
		prop:    propagator(),
		tp: sdktrace.NewTracerProvider(
			sdktrace.WithResource(res),
			// session.id comes from kitjwt at the gateway; demo.fail from the
			// debug header. Both travel as baggage and land on every span.
			sdktrace.WithSpanProcessor(kit.NewBaggageSpanProcessor(kit.DefaultBaggageKey, demoFailKey)),
			sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(cfg.batchTimeout)),
		),
	}
	inner := slog.NewTextHandler(cfg.logOutput, &slog.HandlerOptions{Level: cfg.logLevel})
	var opts []kit.LogOption
	if cfg.otlpLogs {
		lexp, err := otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(cfg.otlpEndpoint), otlploggrpc.WithInsecure())
		if err != nil {
			return nil, errors.Join(fmt.Errorf("%s: creating log exporter: %w", service, err), t.tp.Shutdown(ctx))
		}
		t.lp = sdklog.NewLoggerProvider(sdklog.WithResource(res),
			sdklog.WithProcessor(sdklog.NewBatchProcessor(lexp, sdklog.WithExportInterval(cfg.batchTimeout))))
		opts = append(opts, kit.WithOTLPLogs(t.lp))
	}
	t.log = slog.New(kit.NewLogHandler(inner, opts...)).With("service", service)
	return t, nil
}

func (t *telemetry) tracer() trace.Tracer {
	return t.tp.Tracer("github.com/clewtrace/clew/examples/shop")
}

// middleware is the kithttp server middleware bound to this service.
func (t *telemetry) middleware() func(http.Handler) http.Handler {
	return kithttp.Middleware(kithttp.WithTracerProvider(t.tp), kithttp.WithPropagator(t.prop))
}

// client returns an HTTP client whose requests get CLIENT spans and carry
// traceparent and baggage.
func (t *telemetry) client() *http.Client { return newClient(t.tp, t.prop) }

// newClient's CLIENT spans are named "{method} {url.template}", as the
// OpenTelemetry HTTP semantic conventions say: "GET /v2/parcels/{tracking}",
// never the raw path "GET /v2/parcels/PX004974", which would make one
// operation per parcel and flood the operation list and the span metrics.
// Without a template (see withRoute) the name is the method alone.
func newClient(tp trace.TracerProvider, prop propagation.TextMapPropagator) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: kithttp.NewTransport(nil,
			kithttp.WithTracerProvider(tp),
			kithttp.WithPropagator(prop),
			kithttp.WithOTelHTTPOptions(otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
				if route, ok := r.Context().Value(routeKey{}).(string); ok && route != "" {
					return r.Method + " " + route
				}
				return r.Method
			})),
		),
	}
}

type routeKey struct{}

// withRoute tells newClient's span namer the route template of the request
// about to be sent with ctx.
func withRoute(ctx context.Context, route string) context.Context {
	return context.WithValue(ctx, routeKey{}, route)
}

// queueOptions binds kitqueue spans to this service.
func (t *telemetry) queueOptions() []kitqueue.Option {
	return []kitqueue.Option{kitqueue.WithTracerProvider(t.tp), kitqueue.WithPropagator(t.prop)}
}

// shutdown flushes spans first, then logs written while they drained.
func (t *telemetry) shutdown(ctx context.Context) error {
	var errs []error
	if err := t.tp.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("%s: shutting down tracer provider: %w", t.service, err))
	}
	if t.lp != nil {
		if err := t.lp.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: shutting down logger provider: %w", t.service, err))
		}
	}
	return errors.Join(errs...)
}

// flush exports everything buffered so far.
func (t *telemetry) flush(ctx context.Context) error {
	var errs []error
	if err := t.tp.ForceFlush(ctx); err != nil {
		errs = append(errs, fmt.Errorf("%s: flushing spans: %w", t.service, err))
	}
	if t.lp != nil {
		if err := t.lp.ForceFlush(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: flushing logs: %w", t.service, err))
		}
	}
	return errors.Join(errs...)
}
