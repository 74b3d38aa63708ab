package tempo

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/clewtrace/clew/internal/traceql"
)

type seriesLabel = keyValue

type sample struct {
	TimestampMs string  `json:"timestampMs"`
	Value       float64 `json:"value"`
}

func labelsOf(s traceql.Series) []seriesLabel {
	out := make([]seriesLabel, 0, len(s.Labels))
	for _, l := range s.Labels {
		out = append(out, seriesLabel{Key: l.Name, Value: toAnyValue(l.Val)})
	}
	return out
}

// metricsQuery parses q, the range and the step shared by both endpoints.
func (h *handler) metricsQuery(r *http.Request) (*traceql.Query, time.Time, time.Time, error) {
	src := r.URL.Query().Get("q")
	if src == "" {
		src = r.URL.Query().Get("query")
	}
	if src == "" {
		return nil, time.Time{}, time.Time{}, errors.New("q: a TraceQL metrics query is required, such as { } | rate()")
	}
	q, err := parseQuery(src)
	if err != nil {
		return nil, time.Time{}, time.Time{}, err
	}
	if !q.IsMetrics() {
		return nil, time.Time{}, time.Time{}, fmt.Errorf("invalid TraceQL query: %s is not a metrics query; end it with | rate(), count_over_time(), quantile_over_time(...) or histogram_over_time(...)", src)
	}
	start, end, err := h.timeRange(r, DefaultMetrics)
	return q, start, end, err
}

// parseStep reads a step as a Go duration ("30s") or seconds ("30", "0.5").
func parseStep(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 && f < 1e9 {
		return time.Duration(f * float64(time.Second)), nil
	}
	return 0, fmt.Errorf("step: invalid duration %q", s)
}

// metricsRange serves /api/metrics/query_range: {"series": [{"labels",
// "samples": [{"timestampMs", "value"}], "promLabels"}], "metrics"}.
func (h *handler) metricsRange(w http.ResponseWriter, r *http.Request) {
	q, start, end, err := h.metricsQuery(r)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, err)
		return
	}
	// Default: about 100 points, in whole seconds.
	step := max(end.Sub(start)/100, time.Second).Truncate(time.Second)
	if s := r.URL.Query().Get("step"); s != "" {
		if step, err = parseStep(s); err != nil {
			h.fail(w, r, http.StatusBadRequest, err)
			return
		}
	}
	// Align the range to the step so successive refreshes share points.
	start = time.Unix(0, start.UnixNano()-start.UnixNano()%int64(step))
	series, st, err := h.q.MetricsTraceQL(r.Context(), q, start, end, step)
	if err != nil {
		h.failQuery(w, r, err)
		return
	}
	type seriesJSON struct {
		Labels     []seriesLabel `json:"labels"`
		Samples    []sample      `json:"samples"`
		PromLabels string        `json:"promLabels"`
	}
	out := struct {
		Series  []seriesJSON   `json:"series"`
		Metrics map[string]any `json:"metrics"`
		Partial bool           `json:"partial,omitempty"`
	}{Series: []seriesJSON{}, Metrics: metricsOf(st), Partial: st.Partial}
	for _, s := range series {
		sj := seriesJSON{Labels: labelsOf(s), PromLabels: s.PromLabels(), Samples: []sample{}}
		for k, v := range s.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			ts := start.Add(time.Duration(k) * step).UnixMilli()
			sj.Samples = append(sj.Samples, sample{TimestampMs: strconv.FormatInt(ts, 10), Value: v})
		}
		out.Series = append(out.Series, sj)
	}
	writeJSON(w, out)
}

// metricsInstant serves /api/metrics/query: one value per series over the
// whole range: {"series": [{"labels", "promLabels", "value"}], "metrics"}.
func (h *handler) metricsInstant(w http.ResponseWriter, r *http.Request) {
	q, start, end, err := h.metricsQuery(r)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, err)
		return
	}
	series, st, err := h.q.MetricsTraceQL(r.Context(), q, start, end, end.Sub(start))
	if err != nil {
		h.failQuery(w, r, err)
		return
	}
	type seriesJSON struct {
		Labels     []seriesLabel `json:"labels"`
		PromLabels string        `json:"promLabels"`
		Value      float64       `json:"value"`
	}
	out := struct {
		Series  []seriesJSON   `json:"series"`
		Metrics map[string]any `json:"metrics"`
		Partial bool           `json:"partial,omitempty"`
	}{Series: []seriesJSON{}, Metrics: metricsOf(st), Partial: st.Partial}
	for _, s := range series {
		if len(s.Values) == 0 || math.IsNaN(s.Values[0]) || math.IsInf(s.Values[0], 0) {
			continue
		}
		out.Series = append(out.Series, seriesJSON{Labels: labelsOf(s), PromLabels: s.PromLabels(), Value: s.Values[0]})
	}
	writeJSON(w, out)
}
