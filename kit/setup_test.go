package kit_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/clewtrace/clew/kit"
)

// restoreGlobals puts back the OpenTelemetry globals Setup replaces, so tests
// do not leak providers into each other.
func restoreGlobals(t *testing.T) {
	t.Helper()
	tp, prop := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	t.Cleanup(func() {
		otel.SetTracerProvider(tp)
		otel.SetTextMapPropagator(prop)
	})
}

func resourceValue(tel *kit.Telemetry, key string) (string, bool) {
	v, ok := tel.Resource.Set().Value(attribute.Key(key))
	return v.Emit(), ok
}

func TestSetupFromEnvironment(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		opts      []kit.Option
		wantAttrs map[string]string
		// headers the global propagator must write for a sampled span.
		wantHeaders []string
		noHeaders   []string
	}{
		{
			name:        "defaults",
			wantAttrs:   map[string]string{"telemetry.sdk.language": "go"},
			wantHeaders: []string{"traceparent"},
			noHeaders:   []string{"b3"},
		},
		{
			name: "options only",
			opts: []kit.Option{kit.WithServiceName("orders"), kit.WithServiceVersion("1.2.3"), kit.WithEnvironment("staging")},
			wantAttrs: map[string]string{
				"service.name": "orders", "service.version": "1.2.3", "deployment.environment.name": "staging",
			},
		},
		{
			name: "environment overrides options",
			env: map[string]string{
				"OTEL_SERVICE_NAME":        "billing",
				"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=prod,team=payments",
				"OTEL_PROPAGATORS":         "b3",
			},
			opts: []kit.Option{kit.WithServiceName("orders"), kit.WithEnvironment("staging")},
			wantAttrs: map[string]string{
				"service.name": "billing", "deployment.environment.name": "prod", "team": "payments",
			},
			wantHeaders: []string{"b3"},
			noHeaders:   []string{"traceparent"},
		},
		{
			name:        "several propagators",
			env:         map[string]string{"OTEL_PROPAGATORS": "tracecontext,baggage,jaeger"},
			wantHeaders: []string{"traceparent", "uber-trace-id", "baggage"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			restoreGlobals(t)
			t.Setenv("OTEL_LOGS_EXPORTER", "none")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			exp := tracetest.NewInMemoryExporter()
			opts := append([]kit.Option{kit.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(exp))}, tt.opts...)
			tel, err := kit.Setup(t.Context(), opts...)
			if err != nil {
				t.Fatalf("Setup: %v", err)
			}
			t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })

			name, _ := resourceValue(tel, "service.name")
			if name == "" {
				t.Errorf("service.name is empty")
			}
			if len(tt.opts) == 0 && tt.env["OTEL_SERVICE_NAME"] == "" && !strings.HasPrefix(name, "unknown_service:") {
				t.Errorf("service.name = %q, want unknown_service:<exe>", name)
			}
			for k, want := range tt.wantAttrs {
				if got, ok := resourceValue(tel, k); !ok || got != want {
					t.Errorf("resource %s = %q (present %v), want %q", k, got, ok, want)
				}
			}

			// The globals must be the ones just built.
			mem, _ := baggage.NewMemberRaw("k", "v")
			bag, _ := baggage.New(mem)
			ctx := baggage.ContextWithBaggage(t.Context(), bag)
			ctx, span := otel.Tracer("test").Start(ctx, "op")
			carrier := propagation.MapCarrier{}
			otel.GetTextMapPropagator().Inject(ctx, carrier)
			span.End()
			if got := len(exp.GetSpans()); got != 1 {
				t.Fatalf("exported %d spans through the global provider, want 1", got)
			}
			for _, h := range tt.wantHeaders {
				if carrier.Get(h) == "" {
					t.Errorf("propagator did not write %q; wrote %v", h, carrier.Keys())
				}
			}
			for _, h := range tt.noHeaders {
				if carrier.Get(h) != "" {
					t.Errorf("propagator wrote %q, which OTEL_PROPAGATORS did not ask for", h)
				}
			}
		})
	}
}

func TestSetupSamplerFromEnvironment(t *testing.T) {
	restoreGlobals(t)
	t.Setenv("OTEL_LOGS_EXPORTER", "none")
	t.Setenv("OTEL_TRACES_SAMPLER", "always_off")
	exp := tracetest.NewInMemoryExporter()
	tel, err := kit.Setup(t.Context(), kit.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(exp)))
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	_, span := otel.Tracer("test").Start(t.Context(), "dropped")
	span.End()
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("always_off sampler exported %d spans", n)
	}
}

func TestSetupRejectsUnsupportedSettings(t *testing.T) {
	tests := []struct{ name, key, value string }{
		{"traces exporter", "OTEL_TRACES_EXPORTER", "zipkin"},
		{"protocol", "OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"},
		{"logs exporter", "OTEL_LOGS_EXPORTER", "console"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			restoreGlobals(t)
			t.Setenv(tt.key, tt.value)
			tel, err := kit.Setup(t.Context())
			if err == nil {
				_ = tel.Shutdown(context.Background())
				t.Fatalf("Setup accepted %s=%s", tt.key, tt.value)
			}
			if !strings.Contains(err.Error(), tt.value) {
				t.Errorf("error %q does not name the bad value", err)
			}
		})
	}
}

// TestSetupExportsOverOTLPHTTP checks the real exporter path: endpoint and
// protocol come from the environment, and Shutdown flushes.
func TestSetupExportsOverOTLPHTTP(t *testing.T) {
	tests := []struct {
		protocol, wantContentType string
	}{
		{"http/protobuf", "application/x-protobuf"},
		{"http/json", "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.protocol, func(t *testing.T) {
			restoreGlobals(t)
			var posts atomic.Int32
			var contentType atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" {
					contentType.Store(r.Header.Get("Content-Type"))
					_, _ = io.Copy(io.Discard, r.Body)
					posts.Add(1)
				}
				w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
				w.WriteHeader(http.StatusOK)
			}))
			defer srv.Close()
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", tt.protocol)
			t.Setenv("OTEL_LOGS_EXPORTER", "none")

			tel, err := kit.Setup(t.Context(), kit.WithServiceName("exporter-test"))
			if err != nil {
				t.Fatal(err)
			}
			_, span := otel.Tracer("test").Start(t.Context(), "op")
			span.End()
			if err := tel.Shutdown(t.Context()); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if posts.Load() == 0 {
				t.Fatal("Shutdown did not flush the span to the OTLP endpoint")
			}
			if got, _ := contentType.Load().(string); got != tt.wantContentType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantContentType)
			}
		})
	}
}
