package kitqueue_test

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/clewtrace/clew/kit/kitqueue"
)

func ExampleMessaging() {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	// Without options, the globals installed by kit.Setup are used.
	m := kitqueue.New("kafka", kitqueue.WithTracerProvider(tp), kitqueue.WithPropagator(propagation.TraceContext{}))

	// Producer: the span context goes into the message headers.
	headers := propagation.MapCarrier{}
	_, send := m.StartSend(context.Background(), "orders", headers)
	// ... publish the message with headers ...
	kitqueue.End(send, nil)

	// Consumer, possibly in another process: the span continues the trace.
	_, proc := m.StartProcess(context.Background(), "orders", headers)
	kitqueue.End(proc, nil)

	spans := exp.GetSpans()
	fmt.Println(spans[0].Name, spans[0].SpanKind)
	fmt.Println(spans[1].Name, spans[1].SpanKind)
	fmt.Println("child of producer:", spans[1].Parent.SpanID() == spans[0].SpanContext.SpanID())
	// Output:
	// send orders producer
	// process orders consumer
	// child of producer: true
}
