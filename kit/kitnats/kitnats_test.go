package kitnats_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/clewtrace/clew/kit/kitnats"
	"github.com/clewtrace/clew/kit/kitqueue"
)

// ended signals each finished span, so the test waits for the consumer span
// instead of sleeping.
type ended chan sdktrace.ReadOnlySpan

func (e ended) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (e ended) OnEnd(s sdktrace.ReadOnlySpan)                   { e <- s }
func (e ended) Shutdown(context.Context) error                  { return nil }
func (e ended) ForceFlush(context.Context) error                { return nil }

func startNATS(t *testing.T) *nats.Conn {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("embedded NATS server did not start")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestTraceCrossesRealNATS(t *testing.T) {
	nc := startNATS(t)
	exp := tracetest.NewInMemoryExporter()
	done := make(ended, 8)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSpanProcessor(done))
	defer tp.Shutdown(context.Background())
	m := kitnats.New(kitqueue.WithTracerProvider(tp), kitqueue.WithPropagator(propagation.TraceContext{}))

	tests := []struct {
		name       string
		handlerErr error
		wantStatus codes.Code
	}{
		{"handled", nil, codes.Unset},
		{"handler error", errors.New("cannot apply"), codes.Error},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp.Reset()
			var gotTrace trace.TraceID
			sub, err := nc.Subscribe("orders.*", kitnats.Handler(m, func(ctx context.Context, msg *nats.Msg) error {
				gotTrace = trace.SpanContextFromContext(ctx).TraceID()
				return tt.handlerErr
			}))
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			if err := nc.Flush(); err != nil { // the subscription is live on the server
				t.Fatal(err)
			}

			parentCtx, parent := tp.Tracer("t").Start(t.Context(), "checkout")
			if err := kitnats.Publish(parentCtx, m, nc, &nats.Msg{Subject: "orders.created", Data: []byte("{}")}); err != nil {
				t.Fatal(err)
			}
			parent.End()

			var consumer sdktrace.ReadOnlySpan
			for consumer == nil {
				select {
				case s := <-done:
					if s.SpanKind() == trace.SpanKindConsumer {
						consumer = s
					}
				case <-time.After(2 * time.Minute):
					t.Fatal("no consumer span")
				}
			}
			var producer tracetest.SpanStub
			for _, s := range exp.GetSpans() {
				if s.SpanKind == trace.SpanKindProducer {
					producer = s
				}
			}
			if producer.Name != "send orders.created" {
				t.Fatalf("producer span = %q", producer.Name)
			}
			if producer.Parent.SpanID() != parent.SpanContext().SpanID() {
				t.Error("producer span is not a child of the caller's span")
			}
			if consumer.Name() != "process orders.*" {
				t.Errorf("consumer span = %q", consumer.Name())
			}
			if consumer.Parent().SpanID() != producer.SpanContext.SpanID() || consumer.SpanContext().TraceID() != parent.SpanContext().TraceID() {
				t.Errorf("consumer is not in the producer's trace as its child")
			}
			if gotTrace != parent.SpanContext().TraceID() {
				t.Errorf("handler context has trace %s, want %s", gotTrace, parent.SpanContext().TraceID())
			}
			if consumer.Status().Code != tt.wantStatus {
				t.Errorf("consumer status = %v, want %v", consumer.Status().Code, tt.wantStatus)
			}
		})
	}
}

func TestHeaderCarrier(t *testing.T) {
	h := nats.Header{}
	c := kitnats.HeaderCarrier(h)
	propagation.TraceContext{}.Inject(
		trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled,
		})), c)
	if got := h.Get("traceparent"); got != "00-01000000000000000000000000000000-0200000000000000-01" {
		t.Errorf("traceparent header = %q", got)
	}
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), c))
	if sc.TraceID() != (trace.TraceID{1}) || sc.SpanID() != (trace.SpanID{2}) {
		t.Errorf("round trip lost the context: %v", sc)
	}
}
