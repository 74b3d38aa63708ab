package kit_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/clewtrace/clew/kit"
)

func withBaggage(t *testing.T, ctx context.Context, kv map[string]string) context.Context {
	t.Helper()
	var members []baggage.Member
	for k, v := range kv {
		m, err := baggage.NewMemberRaw(k, v)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, m)
	}
	b, err := baggage.New(members...)
	if err != nil {
		t.Fatal(err)
	}
	return baggage.ContextWithBaggage(ctx, b)
}

func TestBaggageSpanProcessor(t *testing.T) {
	tests := []struct {
		name    string
		keys    []string
		baggage map[string]string
		want    map[string]string
		absent  []string
	}{
		{
			name:    "default key copied, others ignored",
			baggage: map[string]string{"session.id": "s-42", "user.email": "a@example.com"},
			want:    map[string]string{"session.id": "s-42"},
			absent:  []string{"user.email"},
		},
		{
			name:    "configured keys",
			keys:    []string{"tenant", "session.id"},
			baggage: map[string]string{"tenant": "acme", "session.id": "s-1"},
			want:    map[string]string{"tenant": "acme", "session.id": "s-1"},
		},
		{
			name:   "no baggage",
			absent: []string{"session.id"},
		},
		{
			name:    "value with characters that need percent-encoding on the wire",
			baggage: map[string]string{"session.id": "a b,c;d=e"},
			want:    map[string]string{"session.id": "a b,c;d=e"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(
				sdktrace.WithSpanProcessor(kit.NewBaggageSpanProcessor(tt.keys...)),
				sdktrace.WithSyncer(exp),
			)
			defer tp.Shutdown(context.Background())
			ctx := t.Context()
			if tt.baggage != nil {
				ctx = withBaggage(t, ctx, tt.baggage)
			}
			_, span := tp.Tracer("test").Start(ctx, "op")
			span.End()

			spans := exp.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("got %d spans", len(spans))
			}
			attrs := attribute.NewSet(spans[0].Attributes...)
			for k, want := range tt.want {
				if v, ok := attrs.Value(attribute.Key(k)); !ok || v.AsString() != want {
					t.Errorf("%s = %q (present %v), want %q", k, v.AsString(), ok, want)
				}
			}
			for _, k := range tt.absent {
				if attrs.HasValue(attribute.Key(k)) {
					t.Errorf("%s copied although not configured or not present", k)
				}
			}
		})
	}
}
