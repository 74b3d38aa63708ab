// Package kitamqp carries trace context through AMQP 0-9-1 (RabbitMQ)
// message headers, for use with kitqueue spans.
package kitamqp

import (
	"context"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/clewtrace/clew/kit/kitqueue"
)

// System is the messaging.system value for RabbitMQ.
const System = "rabbitmq"

// TableCarrier adapts amqp091.Table headers. Values are written as strings
// (an AMQP longstr); Get also reads []byte values, which some clients send.
type TableCarrier amqp.Table

var _ propagation.TextMapCarrier = TableCarrier(nil)

// Get returns key's value as a string, "" when absent or not text. Like
// kitqueue.MultiMapCarrier it falls back to a case-insensitive match.
func (c TableCarrier) Get(key string) string {
	if v, ok := c[key]; ok {
		return text(v)
	}
	for k, v := range c {
		if strings.EqualFold(k, key) {
			return text(v)
		}
	}
	return ""
}

func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}

// Set stores value under key.
func (c TableCarrier) Set(key, value string) { c[key] = value }

// Keys lists the header names.
func (c TableCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// New returns a kitqueue.Messaging for RabbitMQ.
func New(opts ...kitqueue.Option) *kitqueue.Messaging { return kitqueue.New(System, opts...) }

// destination names the exchange; the default exchange has the empty name,
// which the conventions spell "amq.default".
func destination(exchange string) string {
	if exchange == "" {
		return "amq.default"
	}
	return exchange
}

// StartPublish starts the "send <exchange>" span for p and writes the trace
// context into p.Headers; pass the returned context to PublishWithContext and
// end the span with kitqueue.End.
func StartPublish(ctx context.Context, m *kitqueue.Messaging, exchange, routingKey string, p *amqp.Publishing) (context.Context, trace.Span) {
	if p.Headers == nil {
		p.Headers = amqp.Table{}
	}
	return m.StartSend(ctx, destination(exchange), TableCarrier(p.Headers), routingKeyAttr(routingKey)...)
}

// StartDelivery starts the "process <exchange>" span for d, child of the
// publisher's span.
func StartDelivery(ctx context.Context, m *kitqueue.Messaging, d *amqp.Delivery) (context.Context, trace.Span) {
	return m.StartProcess(ctx, destination(d.Exchange), TableCarrier(d.Headers), routingKeyAttr(d.RoutingKey)...)
}

func routingKeyAttr(key string) []attribute.KeyValue {
	if key == "" {
		return nil
	}
	return []attribute.KeyValue{semconv.MessagingRabbitMQDestinationRoutingKey(key)}
}
