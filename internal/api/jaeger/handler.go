package jaeger

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/clewtrace/clew/internal/api/recovery"
	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query"
	"github.com/clewtrace/clew/internal/query/partial"
)

// Querier is what the API reads through. query.Service implements it.
type Querier interface {
	// Services returns every service name, sorted.
	Services(ctx context.Context) ([]string, error)
	// Operations returns the span names of service; spanKind "" means all kinds.
	Operations(ctx context.Context, service, spanKind string) ([]query.Operation, error)
	// FindTraces returns the matching traces, each element one whole trace,
	// most recent first.
	FindTraces(ctx context.Context, q query.TraceQuery) ([][]model.Span, error)
	// GetTrace returns one trace's spans, or query.ErrNotFound.
	GetTrace(ctx context.Context, id model.TraceID) ([]model.Span, error)
	// Dependencies returns the service edges seen in (endTs-lookback, endTs].
	Dependencies(ctx context.Context, endTs time.Time, lookback time.Duration) ([]query.Dependency, error)
}

// handler serves both API generations. now is a field (not time.Now called
// directly) so tests can pin the default search window.
type handler struct {
	q      Querier
	logger *slog.Logger
	now    func() time.Time
	mux    *http.ServeMux
	// guarded is serve behind the panic guard; ServeHTTP runs it.
	guarded http.Handler
	// timeout bounds each request (queryTimeout; a field so tests need not
	// wait for it).
	timeout time.Duration
}

// NewHandler returns the handler for Jaeger's query API. It serves paths
// starting with /api/ (the app mounts it at "/api/" without stripping the
// prefix). A nil logger discards log output.
func NewHandler(q Querier, logger *slog.Logger) http.Handler {
	return newHandler(q, logger, time.Now)
}

func newHandler(q Querier, logger *slog.Logger, now func() time.Time) *handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{q: q, logger: logger, now: now, mux: http.NewServeMux(), timeout: queryTimeout}
	h.guarded = recovery.Wrap(partial.Middleware(http.HandlerFunc(h.serve)), logger, h.failPanic)

	// Legacy JSON API (Grafana, Jaeger UI's trace page).
	h.mux.HandleFunc("GET /api/services", h.legacyServices)
	h.mux.HandleFunc("GET /api/services/{service}/operations", h.legacyServiceOperations)
	h.mux.HandleFunc("GET /api/operations", h.legacyOperations)
	h.mux.HandleFunc("GET /api/traces", h.legacySearch)
	h.mux.HandleFunc("GET /api/traces/{traceID}", h.legacyGetTrace)
	h.mux.HandleFunc("GET /api/dependencies", h.legacyDependencies)

	// api_v3 (Jaeger UI's search page).
	h.mux.HandleFunc("GET /api/v3/services", h.v3Services)
	h.mux.HandleFunc("GET /api/v3/operations", h.v3Operations)
	h.mux.HandleFunc("GET /api/v3/traces", h.v3FindTraces)
	h.mux.HandleFunc("GET /api/v3/traces/{traceID}", h.v3GetTrace)
	h.mux.HandleFunc("GET /api/v3/trace-summaries", h.v3TraceSummaries)

	// Anything else under /api/ gets a JSON 404 in the matching generation's
	// error shape rather than ServeMux's plain-text one, because clients parse
	// the body.
	h.mux.HandleFunc("/api/v3/", func(w http.ResponseWriter, r *http.Request) {
		h.v3Error(w, r, http.StatusNotFound, fmt.Errorf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.legacyError(w, r, http.StatusNotFound, fmt.Errorf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return h
}

// ServeHTTP runs the request under the query deadline, guarded against
// panics (internal/api/recovery): one bad span costs the client a 500 in the
// generation's error shape, not a dropped connection, and never a second
// answer after the first had started.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.guarded.ServeHTTP(w, r) }

func (h *handler) serve(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	h.mux.ServeHTTP(w, r.WithContext(ctx))
}

// failPanic answers a panic in the error shape of the path's API generation.
func (h *handler) failPanic(w http.ResponseWriter, r *http.Request, status int, err error) {
	if strings.HasPrefix(r.URL.Path, "/api/v3/") {
		h.v3Error(w, r, status, err)
	} else {
		h.legacyError(w, r, status, err)
	}
}

// writeJSON encodes v completely before writing anything, so an encoding
// failure can still become a 500 instead of a truncated 200.
// A legacy answer that is partial (a damaged block, a WAL still replaying)
// lists each reason in its "errors" array, as Jaeger does for a partial
// answer, besides the partial.Header that every answer carries.
func (h *handler) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	if resp, ok := v.(structuredResponse); ok {
		for _, reason := range partial.From(r.Context()).Reasons() {
			resp.Errors = append(resp.Errors, structuredError{Msg: "partial result: " + reason})
		}
		v = resp
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		h.logger.ErrorContext(r.Context(), "encoding Jaeger API response", "path", r.URL.Path, "err", err)
		h.writeRaw(w, http.StatusInternalServerError,
			[]byte(`{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":500,"msg":"encoding response failed"}]}`+"\n"))
		return
	}
	h.writeRaw(w, status, buf.Bytes())
}

func (h *handler) writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client went away; nothing left to tell it
}

// logFailure logs server-side failures; 4xx are the client's business.
func (h *handler) logFailure(r *http.Request, status int, err error) {
	if status >= http.StatusInternalServerError {
		h.logger.ErrorContext(r.Context(), "Jaeger API request failed",
			"method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
}
