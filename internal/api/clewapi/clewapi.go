package clewapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/clewtrace/clew/internal/analysis"
	"github.com/clewtrace/clew/internal/api/clewjson"
	"github.com/clewtrace/clew/internal/api/recovery"
	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query"
)

// Querier is what the handler needs from the query layer.
type Querier interface {
	// GetTrace returns every span of a trace, or an error wrapping
	// query.ErrNotFound.
	GetTrace(ctx context.Context, id model.TraceID) ([]model.Span, error)
}

// Prefix is where the application mounts the handler. The handler matches
// full request paths, so mount it without stripping the prefix.
const Prefix = "/api/clew/"

type handler struct {
	q      Querier
	logger *slog.Logger
}

// NewHandler serves Clew's endpoints at their full paths under Prefix. A nil
// logger discards log output.
func NewHandler(q Querier, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{q: q, logger: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Prefix+"traces/{id}/analysis", h.analysis)
	mux.HandleFunc(Prefix, clewjson.NoEndpoint)
	return recovery.Wrap(mux, logger, clewjson.Fail)
}

// AnalysisResponse is the body of GET /api/clew/traces/{id}/analysis. Times
// and durations are microseconds (Unix µs for instants), the unit of Jaeger's
// legacy API, so the UI can compare them with span startTime directly.
type AnalysisResponse struct {
	TraceID      string           `json:"traceID"`
	SpanCount    int              `json:"spanCount"`
	CriticalPath []SegmentJSON    `json:"criticalPath"` // time order
	Gaps         []GapJSON        `json:"gaps"`         // time order
	SelfTime     map[string]int64 `json:"selfTime"`     // span ID → µs
	// CriticalTime is, per span on the path, the total µs it spent on it.
	CriticalTime map[string]int64 `json:"criticalTime"`
	Options      OptionsJSON      `json:"options"`
}

// SegmentJSON is one critical-path segment.
type SegmentJSON struct {
	SpanID string `json:"spanID"`
	Start  int64  `json:"start"`
	End    int64  `json:"end"`
}

// GapJSON is one uninstrumented interval inside a span.
type GapJSON struct {
	SpanID   string `json:"spanID"`
	Start    int64  `json:"start"`
	End      int64  `json:"end"`
	Duration int64  `json:"duration"`
}

// OptionsJSON echoes the gap thresholds used.
type OptionsJSON struct {
	GapMinFraction float64 `json:"gapMinFraction"`
	GapMinDuration string  `json:"gapMinDuration"`
}

func (h *handler) analysis(w http.ResponseWriter, r *http.Request) {
	id, err := model.ParseTraceID(r.PathValue("id"))
	if err != nil {
		clewjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	opt, err := parseOptions(r)
	if err != nil {
		clewjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	spans, err := h.q.GetTrace(r.Context(), id)
	if errors.Is(err, query.ErrNotFound) || (err == nil && len(spans) == 0) {
		clewjson.Error(w, http.StatusNotFound, "trace not found")
		return
	}
	if err != nil {
		h.logger.ErrorContext(r.Context(), "analysis: get trace", "trace_id", id.String(), "err", err)
		clewjson.Error(w, http.StatusInternalServerError, "cannot read trace")
		return
	}
	_ = clewjson.Write(w, http.StatusOK, buildAnalysis(id, spans, opt))
}

func buildAnalysis(id model.TraceID, spans []model.Span, opt analysis.Options) AnalysisResponse {
	res := analysis.Analyze(spans, opt)
	out := AnalysisResponse{
		TraceID:      id.String(),
		SpanCount:    len(spans),
		CriticalPath: make([]SegmentJSON, len(res.CriticalPath)),
		Gaps:         make([]GapJSON, len(res.Gaps)),
		SelfTime:     make(map[string]int64, len(res.SelfTime)),
		CriticalTime: map[string]int64{},
		Options:      OptionsJSON{GapMinFraction: opt.GapMinFraction, GapMinDuration: opt.GapMinDuration.String()},
	}
	for i, s := range res.CriticalPath {
		out.CriticalPath[i] = SegmentJSON{SpanID: s.SpanID.String(), Start: micros(s.StartUnixNano), End: micros(s.EndUnixNano)}
		out.CriticalTime[s.SpanID.String()] += micros(s.EndUnixNano) - micros(s.StartUnixNano)
	}
	for i, g := range res.Gaps {
		out.Gaps[i] = GapJSON{SpanID: g.SpanID.String(), Start: micros(g.StartUnixNano), End: micros(g.EndUnixNano), Duration: g.Duration().Microseconds()}
	}
	for id, d := range res.SelfTime {
		out.SelfTime[id.String()] = d.Microseconds()
	}
	return out
}

// micros truncates like Jaeger's legacy API does for startTime.
func micros(unixNano int64) int64 { return unixNano / 1000 }

func parseOptions(r *http.Request) (analysis.Options, error) {
	opt := analysis.DefaultOptions()
	if v := r.URL.Query().Get("gapMinFraction"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 {
			return opt, fmt.Errorf("gapMinFraction %q: want a number from 0 to 1", v)
		}
		opt.GapMinFraction = f
	}
	if v := r.URL.Query().Get("gapMinDuration"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return opt, fmt.Errorf("gapMinDuration %q: want a Go duration such as 5ms", v)
		}
		opt.GapMinDuration = d
	}
	return opt, nil
}
