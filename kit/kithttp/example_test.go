package kithttp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/clewtrace/clew/kit/kithttp"
)

func ExampleMiddleware() {
	// With kit.Setup the global provider is used and this option is not needed.
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())

	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "order %s", r.PathValue("id"))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	handler := kithttp.Middleware(kithttp.WithTracerProvider(tp))(mux)

	for _, path := range []string{"/orders/42", "/healthz"} {
		handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	for _, s := range exp.GetSpans() {
		fmt.Println(s.Name)
	}
	// Output: GET /orders/{id}
}

func ExampleNewTransport() {
	client := &http.Client{Transport: kithttp.NewTransport(nil)}
	_ = client // requests made with client carry traceparent and baggage
}
