package spm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/clewtrace/clew/internal/api/clewjson"
	"github.com/clewtrace/clew/internal/api/recovery"
	"github.com/clewtrace/clew/internal/spanmetrics"
)

// Source is what the handler reads. *spanmetrics.Store implements it.
type Source interface {
	Services(ctx context.Context, from, to time.Time) ([]spanmetrics.ServiceStats, error)
	Operations(ctx context.Context, service string, from, to time.Time) ([]spanmetrics.OperationStats, error)
	Series(ctx context.Context, q spanmetrics.SeriesQuery) ([]spanmetrics.Series, error)
	Graph(ctx context.Context, from, to time.Time) ([]spanmetrics.EdgeStats, error)
}

var _ Source = (*spanmetrics.Store)(nil)

type handler struct {
	src    Source
	logger *slog.Logger
	now    func() time.Time
	mux    *http.ServeMux
	// guarded is mux behind the panic guard; ServeHTTP runs it.
	guarded http.Handler
}

// NewHandler returns the handler for the span-metrics endpoints. A nil
// logger discards log output.
func NewHandler(s Source, logger *slog.Logger) http.Handler {
	return newHandler(s, logger, time.Now)
}

func newHandler(s Source, logger *slog.Logger, now func() time.Time) *handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{src: s, logger: logger, now: now, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /api/metrics/calls", h.jaegerCalls)
	h.mux.HandleFunc("GET /api/metrics/latencies", h.jaegerLatencies)
	h.mux.HandleFunc("GET /api/metrics/errors", h.jaegerErrors)
	h.mux.HandleFunc("GET /api/metrics/minstep", h.jaegerMinStep)
	h.mux.HandleFunc("/api/metrics/", func(w http.ResponseWriter, r *http.Request) {
		h.jaegerError(w, r, http.StatusNotFound, fmt.Errorf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})

	h.mux.HandleFunc("GET /api/clew/metrics/services", h.clewServices)
	h.mux.HandleFunc("GET /api/clew/metrics/operations", h.clewOperations)
	h.mux.HandleFunc("GET /api/clew/metrics/timeseries", h.clewTimeseries)
	h.mux.HandleFunc("GET /api/clew/servicegraph", h.clewGraph)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.clewError(w, r, http.StatusNotFound, fmt.Errorf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	h.guarded = recovery.Wrap(h.mux, logger, h.failPanic)
	return h
}

// ServeHTTP serves the request behind the panic guard (internal/api/recovery).
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.guarded.ServeHTTP(w, r) }

// failPanic answers a panic in the error shape of the path's API.
func (h *handler) failPanic(w http.ResponseWriter, r *http.Request, status int, err error) {
	if strings.HasPrefix(r.URL.Path, "/api/metrics/") {
		h.jaegerError(w, r, status, err)
	} else {
		h.clewError(w, r, status, err)
	}
}

// writeJSON answers v (encoded completely first, so a failure is a clean 500).
func (h *handler) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	if err := clewjson.Write(w, status, v); err != nil {
		h.logger.ErrorContext(r.Context(), "encoding span-metrics response", "path", r.URL.Path, "err", err)
	}
}

// statusOf maps a Source error: bad queries are the client's fault.
func statusOf(err error) int {
	if errors.Is(err, spanmetrics.ErrBadQuery) {
		return http.StatusBadRequest
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (h *handler) logFailure(r *http.Request, status int, err error) {
	if status >= http.StatusInternalServerError {
		h.logger.ErrorContext(r.Context(), "span-metrics request failed",
			"method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
}

// clewError writes Clew's error shape.
func (h *handler) clewError(w http.ResponseWriter, r *http.Request, status int, err error) {
	h.logFailure(r, status, err)
	h.writeJSON(w, r, status, clewjson.ErrorBody{Error: err.Error()})
}

// jaegerError writes Jaeger's structured-response error shape, which Jaeger
// UI reads.
func (h *handler) jaegerError(w http.ResponseWriter, r *http.Request, status int, err error) {
	h.logFailure(r, status, err)
	h.writeJSON(w, r, status, jaegerStructured{Errors: []jaegerErr{{Code: status, Msg: err.Error()}}})
}

// ms converts a duration to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func queryValues(r *http.Request, key string) []string {
	var out []string
	for _, v := range r.URL.Query()[key] {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

func joinKinds(kinds []string) string { return strings.Join(kinds, ",") }
