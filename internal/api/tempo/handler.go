package tempo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/clewtrace/clew/internal/api/recovery"
	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query"
	"github.com/clewtrace/clew/internal/traceql"
)

// Querier is what the API reads through. *query.Service implements it.
type Querier interface {
	GetTrace(ctx context.Context, id model.TraceID) ([]model.Span, error)
	FindTraces(ctx context.Context, q query.TraceQuery) ([][]model.Span, error)
	SearchTraceQL(ctx context.Context, q *traceql.Query, start, end time.Time, limit int) ([]query.TraceQLMatch, query.TraceQLStats, error)
	MetricsTraceQL(ctx context.Context, q *traceql.Query, start, end time.Time, step time.Duration) ([]traceql.Series, query.TraceQLStats, error)
	TagNames(ctx context.Context, scope string, start, end time.Time) ([]query.TagScope, error)
	TagValues(ctx context.Context, field *traceql.Attr, filter *traceql.Query, start, end time.Time) ([]traceql.Value, error)
}

var _ Querier = (*query.Service)(nil)

// Limits on one request.
const (
	DefaultLimit   = 20
	MaxLimit       = 1000
	DefaultSpss    = 3
	MaxSpss        = 1000
	DefaultMetrics = time.Hour // metrics range when the request gives none
)

// BuildInfo is what /api/status/buildinfo reports.
type BuildInfo struct {
	Version, Revision, Branch, BuildUser, BuildDate string
}

type handler struct {
	q      Querier
	logger *slog.Logger
	build  BuildInfo
	now    func() time.Time
	mux    *http.ServeMux
	// guarded is mux behind the panic guard; ServeHTTP runs it.
	guarded http.Handler
}

// NewHandler returns Tempo's query API. A nil logger discards log output.
func NewHandler(q Querier, build BuildInfo, logger *slog.Logger) http.Handler {
	return newHandler(q, build, logger, time.Now)
}

func newHandler(q Querier, build BuildInfo, logger *slog.Logger, now func() time.Time) *handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{q: q, logger: logger, build: build, now: now, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /api/echo", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("echo"))
	})
	h.mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ready"))
	})
	h.mux.HandleFunc("GET /api/status/buildinfo", h.buildInfo)
	h.mux.HandleFunc("GET /api/traces/{traceID}", h.traceByID(1))
	h.mux.HandleFunc("GET /api/v2/traces/{traceID}", h.traceByID(2))
	h.mux.HandleFunc("GET /api/search", h.search)
	h.mux.HandleFunc("GET /api/search/tags", h.tagsV1)
	h.mux.HandleFunc("GET /api/v2/search/tags", h.tagsV2)
	h.mux.HandleFunc("GET /api/search/tag/{name}/values", h.tagValuesV1)
	h.mux.HandleFunc("GET /api/v2/search/tag/{name}/values", h.tagValuesV2)
	h.mux.HandleFunc("GET /api/metrics/query_range", h.metricsRange)
	h.mux.HandleFunc("GET /api/metrics/query", h.metricsInstant)
	h.guarded = recovery.Wrap(h.mux, logger, h.fail)
	return h
}

// ServeHTTP serves the request behind the panic guard (internal/api/recovery).
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.guarded.ServeHTTP(w, r) }

// fail writes an error as Tempo does: the status and a plain-text message.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, status int, err error) {
	if status >= 500 {
		h.logger.ErrorContext(r.Context(), "tempo api", "path", r.URL.Path, "err", err)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(err.Error() + "\n"))
}

// failQuery maps a query-layer error to a status.
func (h *handler) failQuery(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, query.ErrBadQuery):
		h.fail(w, r, http.StatusBadRequest, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		h.fail(w, r, http.StatusServiceUnavailable, fmt.Errorf("query cancelled: %w", err))
	default:
		h.fail(w, r, http.StatusInternalServerError, errors.New("internal error"))
		h.logger.ErrorContext(r.Context(), "tempo api", "err", err)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (h *handler) buildInfo(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]string{
		"version": h.build.Version, "revision": h.build.Revision, "branch": h.build.Branch,
		"buildUser": h.build.BuildUser, "buildDate": h.build.BuildDate, "goVersion": runtime.Version(),
	})
}

// parseTime reads Unix seconds, milliseconds or nanoseconds (told apart by
// size), fractional seconds, or RFC 3339.
func parseTime(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		switch {
		case n > 1e15 || n < -1e15:
			return time.Unix(0, n), nil
		case n > 1e12 || n < -1e12:
			return time.UnixMilli(n), nil
		}
		return time.Unix(n, 0), nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) && math.Abs(f) < 1e11 {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("invalid time %q: want Unix seconds or RFC 3339", s)
}

// timeRange reads start and end. Missing bounds are zero (unbounded), or,
// with defaultRange, end = now and start = end - defaultRange.
func (h *handler) timeRange(r *http.Request, defaultRange time.Duration) (time.Time, time.Time, error) {
	var start, end time.Time
	var err error
	if s := r.URL.Query().Get("start"); s != "" {
		if start, err = parseTime(s); err != nil {
			return start, end, fmt.Errorf("start: %w", err)
		}
	}
	if s := r.URL.Query().Get("end"); s != "" {
		if end, err = parseTime(s); err != nil {
			return start, end, fmt.Errorf("end: %w", err)
		}
	}
	if defaultRange > 0 {
		if end.IsZero() {
			end = h.now()
		}
		if start.IsZero() {
			start = end.Add(-defaultRange)
			if s := r.URL.Query().Get("since"); s != "" {
				d, err := time.ParseDuration(s)
				if err != nil || d <= 0 {
					return start, end, fmt.Errorf("since: invalid duration %q", s)
				}
				start = end.Add(-d)
			}
		}
	}
	if !start.IsZero() && !end.IsZero() && !start.Before(end) {
		return start, end, errors.New("start must be before end")
	}
	return start, end, nil
}

func intParam(r *http.Request, name string, def, maxV int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: want a non-negative integer, got %q", name, s)
	}
	if n == 0 {
		return def, nil
	}
	return min(n, maxV), nil
}

// parseQuery parses a TraceQL parameter; errors are 400s with the position.
func parseQuery(s string) (*traceql.Query, error) {
	q, err := traceql.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("invalid TraceQL query: %w", err)
	}
	return q, nil
}

// metricsOf is Tempo's search/tag metrics block.
func metricsOf(st query.TraceQLStats) map[string]any {
	return map[string]any{
		"inspectedTraces": st.InspectedTraces,
		"inspectedSpans":  strconv.Itoa(st.InspectedSpans),
		"inspectedBytes":  "0",
		"completedJobs":   1,
		"totalJobs":       1,
	}
}

func splitScope(name string) string {
	if i := strings.IndexByte(name, '.'); i > 0 {
		return name[:i]
	}
	return ""
}
