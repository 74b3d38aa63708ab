package kit

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// DefaultBaggageKey is the baggage member copied onto spans by default. The
// kitjwt middleware puts the session ID there, so every downstream service
// can tag its spans with the session without seeing the token.
const DefaultBaggageKey = "session.id"

// BaggageSpanProcessor copies selected W3C baggage members from the context a
// span is started with onto the span as string attributes of the same name.
//
// Baggage crosses every hop in clear text: copy only identifiers that are fine
// to store in traces, never secrets.
type BaggageSpanProcessor struct {
	keys []string
}

var _ sdktrace.SpanProcessor = (*BaggageSpanProcessor)(nil)

// NewBaggageSpanProcessor copies keys (DefaultBaggageKey when none are given).
func NewBaggageSpanProcessor(keys ...string) *BaggageSpanProcessor {
	if len(keys) == 0 {
		keys = []string{DefaultBaggageKey}
	}
	return &BaggageSpanProcessor{keys: append([]string(nil), keys...)}
}

// OnStart copies the configured members present in ctx's baggage.
func (p *BaggageSpanProcessor) OnStart(ctx context.Context, s sdktrace.ReadWriteSpan) {
	b := baggage.FromContext(ctx)
	if b.Len() == 0 {
		return
	}
	for _, k := range p.keys {
		if m := b.Member(k); m.Key() != "" {
			s.SetAttributes(attribute.String(k, m.Value()))
		}
	}
}

// OnEnd does nothing: attributes must be set before the span ends.
func (p *BaggageSpanProcessor) OnEnd(sdktrace.ReadOnlySpan) {}

// Shutdown does nothing; the processor holds no resources.
func (p *BaggageSpanProcessor) Shutdown(context.Context) error { return nil }

// ForceFlush does nothing; the processor buffers nothing.
func (p *BaggageSpanProcessor) ForceFlush(context.Context) error { return nil }
