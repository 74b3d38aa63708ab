package kit_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/clewtrace/clew/kit"
)

func ExampleSetup() {
	ctx := context.Background()
	// In a real service, leave out WithSpanProcessor: spans then go over OTLP
	// to OTEL_EXPORTER_OTLP_ENDPOINT, or to Clew on localhost:4317.
	exp := tracetest.NewInMemoryExporter()
	tel, err := kit.Setup(ctx,
		kit.WithServiceName("orders"),
		kit.WithServiceVersion("1.4.2"),
		kit.WithEnvironment("staging"),
		kit.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(exp)),
	)
	if err != nil {
		fmt.Println("setup:", err)
		return
	}
	defer tel.Shutdown(ctx)

	_, span := otel.Tracer("example").Start(ctx, "charge card")
	span.End()

	for _, s := range exp.GetSpans() {
		fmt.Println(s.Name, s.Resource.Set().Len() > 0)
	}
	// Output: charge card true
}

func ExampleNewLogHandler() {
	// A fixed span context keeps the output stable; normally it comes from an
	// incoming request or a span you started.
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)

	dropTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	logger := slog.New(kit.NewLogHandler(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: dropTime})))
	logger.InfoContext(ctx, "order placed", "order", 42)
	// Output: level=INFO msg="order placed" order=42 trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7
}
