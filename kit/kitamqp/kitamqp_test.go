package kitamqp_test

import (
	"context"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/clewtrace/clew/kit/kitamqp"
	"github.com/clewtrace/clew/kit/kitqueue"
)

func TestTableCarrierRoundTrip(t *testing.T) {
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0xab, 1}, SpanID: trace.SpanID{0xcd, 2}, TraceFlags: trace.FlagsSampled,
		TraceState: mustTraceState(t, "vendor=x"),
	})
	member, _ := baggage.NewMemberRaw("session.id", "s 1")
	bag, _ := baggage.New(member)
	ctx := baggage.ContextWithBaggage(trace.ContextWithSpanContext(context.Background(), sc), bag)

	tests := []struct {
		name    string
		prepare func(amqp.Table) amqp.Table
	}{
		{"as written", func(t amqp.Table) amqp.Table { return t }},
		{"values arrive as []byte", func(t amqp.Table) amqp.Table {
			out := amqp.Table{}
			for k, v := range t {
				if s, ok := v.(string); ok {
					out[k] = []byte(s)
				} else {
					out[k] = v
				}
			}
			return out
		}},
		{"keys canonicalised on the way", func(t amqp.Table) amqp.Table {
			out := amqp.Table{}
			for k, v := range t {
				out[string(k[0]-32)+k[1:]] = v
			}
			return out
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := amqp.Table{"x-app": int32(7)}
			prop.Inject(ctx, kitamqp.TableCarrier(headers))
			if err := headers.Validate(); err != nil {
				t.Fatalf("injected headers are not a valid AMQP table: %v", err)
			}
			got := prop.Extract(context.Background(), kitamqp.TableCarrier(tt.prepare(headers)))
			gsc := trace.SpanContextFromContext(got)
			if gsc.TraceID() != sc.TraceID() || gsc.SpanID() != sc.SpanID() || !gsc.IsSampled() || gsc.TraceState().Get("vendor") != "x" {
				t.Errorf("span context lost: %v", gsc)
			}
			if v := baggage.FromContext(got).Member("session.id").Value(); v != "s 1" {
				t.Errorf("baggage session.id = %q", v)
			}
		})
	}
	if (kitamqp.TableCarrier{"n": int32(1)}).Get("n") != "" {
		t.Error("non-text header read as text")
	}
}

func mustTraceState(t *testing.T, s string) trace.TraceState {
	ts, err := trace.ParseTraceState(s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestPublishDeliverySpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	m := kitamqp.New(kitqueue.WithTracerProvider(tp), kitqueue.WithPropagator(propagation.TraceContext{}))

	tests := []struct{ exchange, wantDest string }{
		{"billing", "billing"},
		{"", "amq.default"},
	}
	for _, tt := range tests {
		exp.Reset()
		pub := amqp.Publishing{Body: []byte("{}")}
		_, send := kitamqp.StartPublish(context.Background(), m, tt.exchange, "invoice.created", &pub)
		send.End()
		// What a broker hands the consumer: the same headers, exchange and key.
		d := amqp.Delivery{Headers: pub.Headers, Exchange: tt.exchange, RoutingKey: "invoice.created"}
		_, proc := kitamqp.StartDelivery(context.Background(), m, &d)
		proc.End()

		spans := exp.GetSpans()
		if len(spans) != 2 {
			t.Fatalf("got %d spans", len(spans))
		}
		p, c := spans[0], spans[1]
		if p.Name != "send "+tt.wantDest || c.Name != "process "+tt.wantDest {
			t.Errorf("names = %q, %q", p.Name, c.Name)
		}
		if c.Parent.SpanID() != p.SpanContext.SpanID() {
			t.Error("delivery span is not the publisher's child")
		}
		set := attribute.NewSet(c.Attributes...)
		if v, _ := set.Value("messaging.system"); v.AsString() != "rabbitmq" {
			t.Errorf("messaging.system = %q", v.AsString())
		}
		if v, _ := set.Value("messaging.rabbitmq.destination.routing_key"); v.AsString() != "invoice.created" {
			t.Errorf("routing key = %q", v.AsString())
		}
	}
}
