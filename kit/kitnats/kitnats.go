// Package kitnats carries trace context through NATS message headers and
// wraps publishing and subscription handlers with kitqueue spans.
package kitnats

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"

	"github.com/clewtrace/clew/kit/kitqueue"
)

// System is the messaging.system value for NATS.
const System = "nats"

// HeaderCarrier adapts nats.Header, whose keys are case-sensitive.
type HeaderCarrier nats.Header

var _ propagation.TextMapCarrier = HeaderCarrier(nil)

// Get returns the first value for key.
func (c HeaderCarrier) Get(key string) string { return kitqueue.MultiMapCarrier(c).Get(key) }

// Set replaces key's values with value.
func (c HeaderCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }

// Keys lists the header names.
func (c HeaderCarrier) Keys() []string { return kitqueue.MultiMapCarrier(c).Keys() }

// New returns a kitqueue.Messaging for NATS.
func New(opts ...kitqueue.Option) *kitqueue.Messaging { return kitqueue.New(System, opts...) }

// Publish sends msg inside a "send <subject>" PRODUCER span whose context
// travels in msg.Header.
func Publish(ctx context.Context, m *kitqueue.Messaging, nc *nats.Conn, msg *nats.Msg) (err error) {
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	_, span := m.StartSend(ctx, msg.Subject, HeaderCarrier(msg.Header))
	defer func() { kitqueue.End(span, err) }()
	if err := nc.PublishMsg(msg); err != nil {
		return fmt.Errorf("publishing to %s: %w", msg.Subject, err)
	}
	return nil
}

// Handler returns a nats.MsgHandler that runs h inside a "process <subject>"
// CONSUMER span, child of the publisher's span. An error from h marks the
// span as failed.
func Handler(m *kitqueue.Messaging, h func(context.Context, *nats.Msg) error) nats.MsgHandler {
	return func(msg *nats.Msg) {
		subject := msg.Subject
		if msg.Sub != nil {
			// A wildcard subscription names the destination better than
			// each concrete subject, and keeps span names low-cardinality.
			subject = msg.Sub.Subject
		}
		ctx, span := m.StartProcess(context.Background(), subject, HeaderCarrier(msg.Header))
		kitqueue.End(span, h(ctx, msg))
	}
}
