// Package kitqueue traces messages through queues and brokers following the
// OpenTelemetry messaging conventions: a PRODUCER span "send <dest>" whose
// context travels in the message headers, a CONSUMER span "process <dest>"
// that is its child, and, for batches, spans linked to every message.
//
// Headers are reached through propagation.TextMapCarrier: use
// propagation.MapCarrier for map[string]string headers, MultiMapCarrier for
// map[string][]string, and the kitnats and kitamqp packages for those
// brokers' header types.
package kitqueue

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

const scopeName = "github.com/clewtrace/clew/kit/kitqueue"

// Messaging starts messaging spans for one messaging system ("nats",
// "rabbitmq", "kafka"...). It is safe for concurrent use.
type Messaging struct {
	system string
	tracer trace.Tracer
	prop   propagation.TextMapPropagator // nil: the global one, read per call
}

// Option configures New.
type Option func(*Messaging)

// WithTracerProvider uses tp instead of the global provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(m *Messaging) { m.tracer = tp.Tracer(scopeName) }
}

// WithPropagator uses p instead of the global propagator.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(m *Messaging) { m.prop = p }
}

// New returns a Messaging for system, the messaging.system value.
func New(system string, opts ...Option) *Messaging {
	m := &Messaging{system: system}
	for _, o := range opts {
		o(m)
	}
	if m.tracer == nil {
		// The global provider delegates, so Setup may run after New.
		m.tracer = otel.GetTracerProvider().Tracer(scopeName)
	}
	return m
}

func (m *Messaging) propagator() propagation.TextMapPropagator {
	if m.prop != nil {
		return m.prop
	}
	return otel.GetTextMapPropagator()
}

func (m *Messaging) attrs(op attribute.KeyValue, dest string, extra []attribute.KeyValue) []attribute.KeyValue {
	return append([]attribute.KeyValue{
		semconv.MessagingSystemKey.String(m.system),
		semconv.MessagingDestinationName(dest),
		op,
	}, extra...)
}

// StartSend starts the PRODUCER span "send <dest>" and writes its context
// (and ctx's baggage) into carrier, the outgoing message's headers. End the
// span once the broker accepted the message; see End for errors.
func (m *Messaging) StartSend(ctx context.Context, dest string, carrier propagation.TextMapCarrier, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	ctx, span := m.tracer.Start(ctx, "send "+dest,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(m.attrs(semconv.MessagingOperationTypeSend, dest, attrs)...),
	)
	m.propagator().Inject(ctx, carrier)
	return ctx, span
}

// Extract returns ctx with the trace context and baggage found in carrier.
func (m *Messaging) Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	return m.propagator().Extract(ctx, carrier)
}

// StartProcess starts the CONSUMER span "process <dest>" as a child of the
// producer's context found in carrier (or of ctx's span when the message
// carries none). The message's baggage is in the returned context, so
// kit.BaggageSpanProcessor tags the consumer's spans too.
func (m *Messaging) StartProcess(ctx context.Context, dest string, carrier propagation.TextMapCarrier, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return m.tracer.Start(m.Extract(ctx, carrier), "process "+dest,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(m.attrs(semconv.MessagingOperationTypeProcess, dest, attrs)...),
	)
}

// StartProcessBatch starts one CONSUMER span "process <dest>" for a batch,
// a child of ctx (usually the consumer loop's context) with a link to each
// message's producer context, as the conventions ask: a batch has many
// parents, and a span can have only one.
func (m *Messaging) StartProcessBatch(ctx context.Context, dest string, carriers []propagation.TextMapCarrier, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return m.startBatch(ctx, "process ", trace.SpanKindConsumer, semconv.MessagingOperationTypeProcess, dest, carriers, attrs)
}

// StartReceive starts the "receive <dest>" span of a pull-based consumer
// that fetched one or more messages, linked to each message's producer. Its
// kind is CLIENT, as current conventions have it: the consumer calls the broker.
func (m *Messaging) StartReceive(ctx context.Context, dest string, carriers []propagation.TextMapCarrier, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return m.startBatch(ctx, "receive ", trace.SpanKindClient, semconv.MessagingOperationTypeReceive, dest, carriers, attrs)
}

func (m *Messaging) startBatch(ctx context.Context, prefix string, kind trace.SpanKind, op attribute.KeyValue, dest string, carriers []propagation.TextMapCarrier, attrs []attribute.KeyValue) (context.Context, trace.Span) {
	links := make([]trace.Link, 0, len(carriers))
	for _, c := range carriers {
		sc := trace.SpanContextFromContext(m.propagator().Extract(context.Background(), c))
		if sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	all := m.attrs(op, dest, attrs)
	if len(carriers) > 1 {
		// Only for batches: the conventions reserve the count for them.
		all = append(all, semconv.MessagingBatchMessageCount(len(carriers)))
	}
	return m.tracer.Start(ctx, prefix+dest,
		trace.WithSpanKind(kind),
		trace.WithLinks(links...),
		trace.WithAttributes(all...),
	)
}

// End records err (if any) as the span's error and ends it; a convenience
// for the usual "defer" at the end of send and process.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// MultiMapCarrier adapts map[string][]string headers (case-sensitive keys,
// as in NATS and most brokers). Get falls back to a case-insensitive match
// because gateways sometimes rewrite "traceparent" as "Traceparent".
type MultiMapCarrier map[string][]string

var _ propagation.TextMapCarrier = MultiMapCarrier(nil)

// Get returns the first value for key.
func (c MultiMapCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	for k, v := range c {
		if len(v) > 0 && strings.EqualFold(k, key) {
			return v[0]
		}
	}
	return ""
}

// Set replaces key's values with value.
func (c MultiMapCarrier) Set(key, value string) { c[key] = []string{value} }

// Keys lists the header names.
func (c MultiMapCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
