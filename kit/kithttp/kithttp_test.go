package kithttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/clewtrace/clew/kit/kithttp"
)

func newTracing(t *testing.T) (*tracetest.InMemoryExporter, []kithttp.Option) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return exp, []kithttp.Option{
		kithttp.WithTracerProvider(tp),
		kithttp.WithPropagator(propagation.TraceContext{}),
	}
}

func attr(s tracetest.SpanStub, key string) (attribute.Value, bool) {
	set := attribute.NewSet(s.Attributes...)
	return set.Value(attribute.Key(key))
}

// copyingMiddleware behaves like any middleware that adds to the request
// context, and hands the matched pattern back as the package doc asks.
func copyingMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2 := r.WithContext(context.WithValue(r.Context(), struct{}{}, 1))
		next.ServeHTTP(w, r2)
		r.Pattern = r2.Pattern
	})
}

func TestServerSpans(t *testing.T) {
	errDB := errors.New("connection refused")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "order %s", r.PathValue("id"))
	})
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /reports/{id}", func(w http.ResponseWriter, r *http.Request) {
		kithttp.RecordError(r.Context(), fmt.Errorf("loading report: %w", &fs.PathError{Op: "open", Path: "r.csv", Err: errDB}))
		http.Error(w, "internal error", http.StatusInternalServerError)
	})
	mux.HandleFunc("GET /missing", http.NotFound)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /live", func(w http.ResponseWriter, r *http.Request) {})

	tests := []struct {
		name       string
		opts       []kithttp.Option
		wrap       func(http.Handler) http.Handler
		method     string
		path       string
		wantSpan   bool
		wantName   string
		wantRoute  string
		wantStatus codes.Code
		// exception event expected when non-empty
		wantExcType, wantExcMsg string
	}{
		{name: "route name", method: "GET", path: "/orders/42", wantSpan: true,
			wantName: "GET /orders/{id}", wantRoute: "/orders/{id}", wantStatus: codes.Unset},
		{name: "route name through another middleware", wrap: copyingMiddleware, method: "GET", path: "/orders/42",
			wantSpan: true, wantName: "GET /orders/{id}", wantRoute: "/orders/{id}", wantStatus: codes.Unset},
		{name: "5xx without recorded error", method: "POST", path: "/orders", wantSpan: true,
			wantName: "POST /orders", wantRoute: "/orders", wantStatus: codes.Error,
			wantExcType: "HTTPServerError", wantExcMsg: "HTTP 503 Service Unavailable"},
		{name: "5xx with recorded error", method: "GET", path: "/reports/9", wantSpan: true,
			wantName: "GET /reports/{id}", wantRoute: "/reports/{id}", wantStatus: codes.Error,
			wantExcType: "*fs.PathError", wantExcMsg: "loading report: open r.csv: connection refused"},
		{name: "4xx is not an error", method: "GET", path: "/missing", wantSpan: true,
			wantName: "GET /missing", wantRoute: "/missing", wantStatus: codes.Unset},
		{name: "unmatched route named by method", method: "GET", path: "/nope", wantSpan: true,
			wantName: "GET", wantStatus: codes.Unset},
		{name: "healthz skipped", method: "GET", path: "/healthz"},
		{name: "readyz skipped", method: "GET", path: "/readyz"},
		{name: "custom skip list skips", opts: []kithttp.Option{kithttp.WithSkipPaths("/live")},
			method: "GET", path: "/live"},
		{name: "custom skip list replaces defaults", opts: []kithttp.Option{kithttp.WithSkipPaths("/live")},
			method: "GET", path: "/healthz", wantSpan: true, wantName: "GET /healthz", wantRoute: "/healthz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp, opts := newTracing(t)
			var h http.Handler = mux
			if tt.wrap != nil {
				h = tt.wrap(h)
			}
			h = kithttp.Middleware(append(opts, tt.opts...)...)(h)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))

			spans := exp.GetSpans()
			if !tt.wantSpan {
				if len(spans) != 0 {
					t.Fatalf("got %d spans for a skipped path", len(spans))
				}
				return
			}
			if len(spans) != 1 {
				t.Fatalf("got %d spans, want 1", len(spans))
			}
			s := spans[0]
			if s.Name != tt.wantName {
				t.Errorf("name = %q, want %q", s.Name, tt.wantName)
			}
			if s.SpanKind != trace.SpanKindServer {
				t.Errorf("kind = %v", s.SpanKind)
			}
			route, ok := attr(s, "http.route")
			if tt.wantRoute == "" && ok {
				t.Errorf("http.route = %q for an unmatched request", route.AsString())
			}
			if tt.wantRoute != "" && route.AsString() != tt.wantRoute {
				t.Errorf("http.route = %q, want %q", route.AsString(), tt.wantRoute)
			}
			if s.Status.Code != tt.wantStatus {
				t.Errorf("status = %v, want %v", s.Status.Code, tt.wantStatus)
			}
			var exc []sdktrace.Event
			for _, e := range s.Events {
				if e.Name == "exception" {
					exc = append(exc, e)
				}
			}
			if tt.wantExcType == "" {
				if len(exc) != 0 {
					t.Errorf("unexpected exception events: %v", exc)
				}
				return
			}
			if len(exc) != 1 {
				t.Fatalf("got %d exception events, want 1", len(exc))
			}
			ev := attribute.NewSet(exc[0].Attributes...)
			if v, _ := ev.Value("exception.type"); v.AsString() != tt.wantExcType {
				t.Errorf("exception.type = %q, want %q", v.AsString(), tt.wantExcType)
			}
			if v, _ := ev.Value("exception.message"); v.AsString() != tt.wantExcMsg {
				t.Errorf("exception.message = %q, want %q", v.AsString(), tt.wantExcMsg)
			}
		})
	}
}

func TestPanicRecordedAndRepanicked(t *testing.T) {
	exp, opts := newTracing(t)
	h := kithttp.Middleware(opts...)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	}))
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want the handler's panic", v)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
	}()
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("got %d spans", len(spans))
	}
	if spans[0].Status.Code != codes.Error || len(spans[0].Events) == 0 || spans[0].Events[0].Name != "exception" {
		t.Errorf("panic not recorded: status %v events %v", spans[0].Status, spans[0].Events)
	}
}

func TestTransportPropagatesToServer(t *testing.T) {
	exp, opts := newTracing(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	srv := httptest.NewServer(kithttp.Middleware(opts...)(mux))
	defer srv.Close()

	client := &http.Client{Transport: kithttp.NewTransport(nil, opts...)}
	req, err := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/items/7", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	// Reading to EOF means the handler, and so the server span, has finished.
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	var server, clientSpan *tracetest.SpanStub
	spans := exp.GetSpans()
	for i := range spans {
		switch spans[i].SpanKind {
		case trace.SpanKindServer:
			server = &spans[i]
		case trace.SpanKindClient:
			clientSpan = &spans[i]
		}
	}
	if server == nil || clientSpan == nil {
		t.Fatalf("want a client and a server span, got %d spans", len(spans))
	}
	if server.Parent.SpanID() != clientSpan.SpanContext.SpanID() || server.SpanContext.TraceID() != clientSpan.SpanContext.TraceID() {
		t.Errorf("server span is not a child of the client span")
	}
	if server.Name != "GET /items/{id}" {
		t.Errorf("server span name = %q", server.Name)
	}
}

func TestRoute(t *testing.T) {
	tests := map[string]string{
		"":                           "",
		"/orders/{id}":               "/orders/{id}",
		"GET /orders/{id}":           "/orders/{id}",
		"GET  /x":                    "/x",
		"example.com/a/{b...}":       "/a/{b...}",
		"POST example.com/a/{$}":     "/a/{$}",
		"GET api.example.com:8080/v": "/v",
	}
	for in, want := range tests {
		if got := kithttp.Route(in); got != want {
			t.Errorf("Route(%q) = %q, want %q", in, got, want)
		}
	}
}
