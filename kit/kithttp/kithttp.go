// Package kithttp instruments net/http servers and clients on top of otelhttp.
//
// What it adds to otelhttp:
//   - routes: with Go 1.22+ ServeMux patterns, server spans are named
//     "GET /orders/{id}" and carry http.route, even when other kit
//     middlewares (such as kitjwt) sit between this middleware and the mux;
//   - health checks (/healthz, /readyz by default) produce no spans;
//   - a 5xx response gets an "exception" event (exception.type and
//     exception.message) next to otelhttp's Error status; handlers can pass
//     the real cause with RecordError.
//
// Put Middleware outermost:
//
//	mux := http.NewServeMux()
//	mux.HandleFunc("GET /orders/{id}", getOrder)
//	srv := &http.Server{Handler: kithttp.Middleware()(mux)}
//
// A third-party middleware that calls r.WithContext between Middleware and the
// mux hides the matched pattern from otelhttp; spans are then named after the
// method only. Copy r2.Pattern back to r after next.ServeHTTP, as the kit's
// own middlewares do, or wrap such middleware inside the mux.
package kithttp

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/felixge/httpsnoop"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// DefaultSkipPaths returns the health-check paths that get no span by
// default: probes hit them every few seconds and would drown real traffic.
func DefaultSkipPaths() []string { return []string{"/healthz", "/readyz"} }

// Option configures Middleware and NewTransport.
type Option func(*config)

type config struct {
	skip      map[string]bool
	otelhttp  []otelhttp.Option
	skipIsSet bool
}

// WithSkipPaths replaces DefaultSkipPaths. Paths match r.URL.Path exactly.
func WithSkipPaths(paths ...string) Option {
	return func(c *config) {
		c.skip = make(map[string]bool, len(paths))
		for _, p := range paths {
			c.skip[p] = true
		}
		c.skipIsSet = true
	}
}

// WithTracerProvider uses tp instead of the global provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.otelhttp = append(c.otelhttp, otelhttp.WithTracerProvider(tp)) }
}

// WithPropagator uses p instead of the global propagator.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.otelhttp = append(c.otelhttp, otelhttp.WithPropagators(p)) }
}

// WithOTelHTTPOptions passes options straight to otelhttp, for anything the
// kit does not wrap (public endpoints, metrics, message events...).
func WithOTelHTTPOptions(opts ...otelhttp.Option) Option {
	return func(c *config) { c.otelhttp = append(c.otelhttp, opts...) }
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if !c.skipIsSet {
		WithSkipPaths(DefaultSkipPaths()...)(&c)
	}
	return c
}

// Middleware returns server middleware: otelhttp's span, named by route, and
// an exception event on 5xx responses.
func Middleware(opts ...Option) func(http.Handler) http.Handler {
	c := newConfig(opts)
	otelOpts := append([]otelhttp.Option{
		otelhttp.WithFilter(func(r *http.Request) bool { return !c.skip[r.URL.Path] }),
	}, c.otelhttp...)
	traced := otelhttp.NewMiddleware("http.server", otelOpts...)
	return func(next http.Handler) http.Handler {
		return traced(annotate(next))
	}
}

// NewTransport wraps base (http.DefaultTransport when nil) so outgoing
// requests get a client span and carry the trace context and baggage.
func NewTransport(base http.RoundTripper, opts ...Option) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return otelhttp.NewTransport(base, newConfig(opts).otelhttp...)
}

type errorSlotKey struct{}

// errorSlot carries the handler's error back to annotate; one per request.
type errorSlot struct{ err error }

// RecordError hands err to the middleware so the exception event of a 5xx
// response names the real cause instead of the status text. Without the
// middleware it does nothing. Call it from the goroutine serving the request.
func RecordError(ctx context.Context, err error) {
	if slot, ok := ctx.Value(errorSlotKey{}).(*errorSlot); ok && err != nil {
		slot.err = err
	}
}

// annotate runs inside otelhttp's span.
func annotate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		span := trace.SpanFromContext(r.Context())
		if !span.IsRecording() {
			next.ServeHTTP(w, r)
			return
		}
		slot := &errorSlot{}
		status := 0
		w = httpsnoop.Wrap(w, httpsnoop.Hooks{
			WriteHeader: func(next httpsnoop.WriteHeaderFunc) httpsnoop.WriteHeaderFunc {
				return func(code int) {
					// 1xx are interim responses; the final status comes later.
					if status == 0 && code >= 200 {
						status = code
					}
					next(code)
				}
			},
			Write: func(next httpsnoop.WriteFunc) httpsnoop.WriteFunc {
				return func(b []byte) (int, error) {
					if status == 0 {
						status = http.StatusOK
					}
					return next(b)
				}
			},
			ReadFrom: func(next httpsnoop.ReadFromFunc) httpsnoop.ReadFromFunc {
				return func(src io.Reader) (int64, error) {
					if status == 0 {
						status = http.StatusOK
					}
					return next(src)
				}
			},
		})
		r2 := r.WithContext(context.WithValue(r.Context(), errorSlotKey{}, slot))
		defer func() {
			if v := recover(); v != nil {
				if v != http.ErrAbortHandler {
					recordException(span, fmt.Sprintf("%T", v), fmt.Sprint(v), "panic")
				}
				panic(v)
			}
		}()
		next.ServeHTTP(w, r2)

		// ServeMux sets Pattern on the request it was given; hand it back so
		// otelhttp, which holds r, renames the span after the route.
		if r.Pattern == "" {
			r.Pattern = r2.Pattern
		}
		if route := Route(r.Pattern); route != "" {
			span.SetAttributes(semconv.HTTPRoute(route))
		}
		if status >= 500 {
			typ, msg := "HTTPServerError", fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
			if slot.err != nil {
				typ, msg = errorType(slot.err), slot.err.Error()
			}
			recordException(span, typ, msg, msg)
		}
	})
}

// Route turns a ServeMux pattern ("GET example.com/orders/{id}") into the
// http.route value ("/orders/{id}"); "" when there is no pattern.
func Route(pattern string) string {
	if i := strings.IndexAny(pattern, " \t"); i >= 0 {
		pattern = strings.TrimLeft(pattern[i:], " \t")
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:] // drop the host
	}
	return pattern
}

func recordException(span trace.Span, typ, msg, status string) {
	span.AddEvent(semconv.ExceptionEventName, trace.WithAttributes(
		semconv.ExceptionTypeKey.String(typ),
		semconv.ExceptionMessageKey.String(msg),
	))
	span.SetStatus(codes.Error, status)
}

// errorType names err's dynamic type the way the SDK's RecordError does, but
// looks through fmt.Errorf wrappers, whose type says nothing.
func errorType(err error) string {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil || !strings.HasPrefix(fmt.Sprintf("%T", err), "*fmt.wrapError") {
			return fmt.Sprintf("%T", err)
		}
		err = u.Unwrap()
	}
}
