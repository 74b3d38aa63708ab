package kit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"

	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/clewtrace/clew/kit"
)

// logSink is an in-memory sdklog.Exporter.
type logSink struct {
	mu      sync.Mutex
	records []sdklog.Record
}

func (s *logSink) Export(_ context.Context, rs []sdklog.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rs {
		s.records = append(s.records, r.Clone())
	}
	return nil
}
func (s *logSink) Shutdown(context.Context) error   { return nil }
func (s *logSink) ForceFlush(context.Context) error { return nil }
func (s *logSink) all() []sdklog.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sdklog.Record(nil), s.records...)
}

func TestLogHandlerAddsTraceIDs(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	spanCtx, span := tp.Tracer("test").Start(t.Context(), "op")
	defer span.End()
	sc := span.SpanContext()

	tests := []struct {
		name    string
		ctx     context.Context
		wantIDs bool
	}{
		{name: "context with span", ctx: spanCtx, wantIDs: true},
		{name: "context without span", ctx: t.Context()},
		{name: "invalid span context", ctx: trace.ContextWithSpanContext(t.Context(), trace.SpanContext{})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(kit.NewLogHandler(slog.NewJSONHandler(&buf, nil))).With("svc", "orders")
			logger.InfoContext(tt.ctx, "hello", "k", "v")

			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("decoding %q: %v", buf.String(), err)
			}
			if rec["svc"] != "orders" || rec["k"] != "v" {
				t.Errorf("lost attributes: %v", rec)
			}
			gotTrace, hasTrace := rec[kit.TraceIDKey]
			gotSpan, hasSpan := rec[kit.SpanIDKey]
			if hasTrace != tt.wantIDs || hasSpan != tt.wantIDs {
				t.Fatalf("trace_id present %v, span_id present %v, want %v: %v", hasTrace, hasSpan, tt.wantIDs, rec)
			}
			if tt.wantIDs && (gotTrace != sc.TraceID().String() || gotSpan != sc.SpanID().String()) {
				t.Errorf("ids = %v/%v, want %s/%s", gotTrace, gotSpan, sc.TraceID(), sc.SpanID())
			}
		})
	}
}

func TestLogHandlerFansOutToOTLP(t *testing.T) {
	sink := &logSink{}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(sink)))
	defer lp.Shutdown(context.Background())
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	ctx, span := tp.Tracer("test").Start(t.Context(), "op")
	defer span.End()

	var buf bytes.Buffer
	// The local handler only takes warnings; the OTLP side takes everything.
	local := slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})
	logger := slog.New(kit.NewLogHandler(local, kit.WithOTLPLogs(lp)))
	logger.InfoContext(ctx, "info only over OTLP")
	logger.WarnContext(ctx, "warning everywhere", "order", 7)

	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 1 {
		t.Errorf("local handler wrote %d lines, want 1 (level filter ignored?): %s", n, buf.String())
	}
	recs := sink.all()
	if len(recs) != 2 {
		t.Fatalf("OTLP got %d records, want 2", len(recs))
	}
	for _, r := range recs {
		if r.TraceID() != span.SpanContext().TraceID() || r.SpanID() != span.SpanContext().SpanID() {
			t.Errorf("record %q not correlated: trace %s span %s", r.Body().AsString(), r.TraceID(), r.SpanID())
		}
	}
	if recs[1].Body().AsString() != "warning everywhere" {
		t.Errorf("body = %q", recs[1].Body().AsString())
	}
}
