package kit

import (
	"context"
	"errors"
	"log/slog"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys added by LogHandler. They match what Clew's log search and
// most log pipelines (Loki derived fields, Elastic) look for.
const (
	TraceIDKey = "trace_id"
	SpanIDKey  = "span_id"
)

// LogHandler is an slog.Handler that adds trace_id and span_id to every
// record logged with a context carrying a valid span, and optionally sends the
// same records over OTLP through the otelslog bridge.
//
// Attributes are added to the record, so after WithGroup they land inside the
// open group; put LogHandler around the ungrouped base handler.
type LogHandler struct {
	inner slog.Handler
	otlp  slog.Handler // nil: no OTLP export
}

var _ slog.Handler = (*LogHandler)(nil)

// LogOption configures NewLogHandler.
type LogOption func(*LogHandler)

// WithOTLPLogs also sends records to lp via the otelslog bridge, which takes
// the trace context from the record's context by itself.
func WithOTLPLogs(lp otellog.LoggerProvider) LogOption {
	return func(h *LogHandler) {
		h.otlp = otelslog.NewHandler(ScopeName, otelslog.WithLoggerProvider(lp))
	}
}

// NewLogHandler wraps inner.
func NewLogHandler(inner slog.Handler, opts ...LogOption) *LogHandler {
	h := &LogHandler{inner: inner}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Enabled reports whether either destination wants the level.
func (h *LogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l) || (h.otlp != nil && h.otlp.Enabled(ctx, l))
}

// Handle writes r to both destinations; each sees only levels it enables.
func (h *LogHandler) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	if h.otlp != nil && h.otlp.Enabled(ctx, r.Level) {
		// Before adding attributes: the bridge records the IDs as the log
		// record's own trace fields, and duplicates would only cost bytes.
		if err := h.otlp.Handle(ctx, r); err != nil {
			errs = append(errs, err)
		}
	}
	if h.inner.Enabled(ctx, r.Level) {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			// Clone: r's attribute storage may be shared with the caller.
			r = r.Clone()
			r.AddAttrs(
				slog.String(TraceIDKey, sc.TraceID().String()),
				slog.String(SpanIDKey, sc.SpanID().String()),
			)
		}
		if err := h.inner.Handle(ctx, r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// WithAttrs applies attrs to both destinations.
func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := &LogHandler{inner: h.inner.WithAttrs(attrs)}
	if h.otlp != nil {
		n.otlp = h.otlp.WithAttrs(attrs)
	}
	return n
}

// WithGroup applies the group to both destinations.
func (h *LogHandler) WithGroup(name string) slog.Handler {
	n := &LogHandler{inner: h.inner.WithGroup(name)}
	if h.otlp != nil {
		n.otlp = h.otlp.WithGroup(name)
	}
	return n
}
