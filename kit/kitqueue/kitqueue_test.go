package kitqueue_test

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/clewtrace/clew/kit"
	"github.com/clewtrace/clew/kit/kitqueue"
)

func setup(t *testing.T) (*tracetest.InMemoryExporter, *sdktrace.TracerProvider, *kitqueue.Messaging) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(kit.NewBaggageSpanProcessor()),
		sdktrace.WithSyncer(exp),
	)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	m := kitqueue.New("kafka",
		kitqueue.WithTracerProvider(tp),
		kitqueue.WithPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})),
	)
	return exp, tp, m
}

func attrs(s tracetest.SpanStub) map[string]string {
	out := map[string]string{}
	for _, a := range s.Attributes {
		out[string(a.Key)] = a.Value.Emit()
	}
	return out
}

func TestSendProcessParentChild(t *testing.T) {
	carriers := []struct {
		name    string
		carrier func() propagation.TextMapCarrier
	}{
		{"map[string]string", func() propagation.TextMapCarrier { return propagation.MapCarrier{} }},
		{"map[string][]string", func() propagation.TextMapCarrier { return kitqueue.MultiMapCarrier{} }},
	}
	for _, tc := range carriers {
		t.Run(tc.name, func(t *testing.T) {
			exp, _, m := setup(t)
			member, _ := baggage.NewMemberRaw("session.id", "s-7")
			bag, _ := baggage.New(member)
			ctx := baggage.ContextWithBaggage(t.Context(), bag)

			headers := tc.carrier()
			_, send := m.StartSend(ctx, "orders", headers)
			send.End()
			// The consumer starts from a bare context: only headers connect them.
			_, proc := m.StartProcess(context.Background(), "orders", headers)
			kitqueue.End(proc, errors.New("handler failed"))

			spans := exp.GetSpans()
			if len(spans) != 2 {
				t.Fatalf("got %d spans", len(spans))
			}
			p, c := spans[0], spans[1]
			if p.Name != "send orders" || p.SpanKind != trace.SpanKindProducer {
				t.Errorf("producer = %q %v", p.Name, p.SpanKind)
			}
			if c.Name != "process orders" || c.SpanKind != trace.SpanKindConsumer {
				t.Errorf("consumer = %q %v", c.Name, c.SpanKind)
			}
			if c.Parent.SpanID() != p.SpanContext.SpanID() || c.SpanContext.TraceID() != p.SpanContext.TraceID() || !c.Parent.IsRemote() {
				t.Errorf("consumer is not a remote child of the producer")
			}
			for span, op := range map[*tracetest.SpanStub]string{&p: "send", &c: "process"} {
				a := attrs(*span)
				if a["messaging.system"] != "kafka" || a["messaging.destination.name"] != "orders" || a["messaging.operation.type"] != op {
					t.Errorf("%s attributes = %v", span.Name, a)
				}
			}
			if attrs(c)["session.id"] != "s-7" {
				t.Errorf("baggage did not travel with the message: %v", attrs(c))
			}
			if c.Status.Code != codes.Error {
				t.Errorf("End(err) left status %v", c.Status)
			}
		})
	}
}

func TestBatchSpansLinkEveryMessage(t *testing.T) {
	exp, tp, m := setup(t)
	var carriers []propagation.TextMapCarrier
	var producers []trace.SpanContext
	for range 3 {
		h := propagation.MapCarrier{}
		_, s := m.StartSend(t.Context(), "events", h)
		producers = append(producers, s.SpanContext())
		s.End()
		carriers = append(carriers, h)
	}
	carriers = append(carriers, propagation.MapCarrier{}) // an untraced message adds no link

	loopCtx, loop := tp.Tracer("t").Start(t.Context(), "consumer loop")
	_, recv := m.StartReceive(loopCtx, "events", carriers)
	recv.End()
	_, batch := m.StartProcessBatch(loopCtx, "events", carriers)
	batch.End()
	loop.End()

	byName := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		byName[s.Name] = s
	}
	tests := []struct {
		name string
		kind trace.SpanKind
		op   string
	}{
		{"receive events", trace.SpanKindClient, "receive"},
		{"process events", trace.SpanKindConsumer, "process"},
	}
	for _, tt := range tests {
		s, ok := byName[tt.name]
		if !ok {
			t.Fatalf("no span %q", tt.name)
		}
		if s.SpanKind != tt.kind || attrs(s)["messaging.operation.type"] != tt.op {
			t.Errorf("%s: kind %v attrs %v", tt.name, s.SpanKind, attrs(s))
		}
		if s.Parent.SpanID() != loop.SpanContext().SpanID() {
			t.Errorf("%s: parent is not the consumer loop", tt.name)
		}
		if len(s.Links) != len(producers) {
			t.Fatalf("%s: %d links, want %d", tt.name, len(s.Links), len(producers))
		}
		for i, l := range s.Links {
			if l.SpanContext.SpanID() != producers[i].SpanID() || l.SpanContext.TraceID() != producers[i].TraceID() {
				t.Errorf("%s: link %d does not point at producer %d", tt.name, i, i)
			}
		}
		set := attribute.NewSet(s.Attributes...)
		if v, _ := set.Value("messaging.batch.message_count"); v.AsInt64() != 4 {
			t.Errorf("%s: batch count = %v", tt.name, v.AsInt64())
		}
	}
}

func TestMultiMapCarrier(t *testing.T) {
	tests := []struct {
		name string
		c    kitqueue.MultiMapCarrier
		key  string
		want string
	}{
		{"exact", kitqueue.MultiMapCarrier{"traceparent": {"a", "b"}}, "traceparent", "a"},
		{"canonicalised by a gateway", kitqueue.MultiMapCarrier{"Traceparent": {"x"}}, "traceparent", "x"},
		{"absent", kitqueue.MultiMapCarrier{"other": {"x"}}, "traceparent", ""},
		{"empty slice", kitqueue.MultiMapCarrier{"traceparent": {}}, "traceparent", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.Get(tt.key); got != tt.want {
				t.Errorf("Get = %q, want %q", got, tt.want)
			}
		})
	}
	c := kitqueue.MultiMapCarrier{"k": {"1", "2"}}
	c.Set("k", "3")
	if len(c["k"]) != 1 || c.Get("k") != "3" || len(c.Keys()) != 1 {
		t.Errorf("Set did not replace: %v", c)
	}
}
