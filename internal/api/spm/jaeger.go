package spm

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/spanmetrics"
)

// Jaeger's defaults (cmd/query/app/default_params.go).
const (
	defaultLookback = time.Hour
	defaultStep     = 5 * time.Second
	defaultRatePer  = 10 * time.Minute
	// minStep is the finest resolution Clew stores; smaller steps are raised to it.
	minStep   = time.Minute
	maxPoints = 10_000
)

// The JSON of Jaeger's api_v2 metrics protobufs (openmetrics.proto) as
// jsonpb renders them.
type metricFamily struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Help    string   `json:"help"`
	Metrics []metric `json:"metrics"`
}

type metric struct {
	Labels       []label       `json:"labels"`
	MetricPoints []metricPoint `json:"metricPoints"`
}

type label struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type metricPoint struct {
	GaugeValue gaugeValue `json:"gaugeValue"`
	Timestamp  string     `json:"timestamp"`
}

type gaugeValue struct {
	DoubleValue float64 `json:"doubleValue"`
}

// jaegerStructured is Jaeger's structuredResponse (minstep, errors).
type jaegerStructured struct {
	Data   any         `json:"data"`
	Total  int         `json:"total"`
	Limit  int         `json:"limit"`
	Offset int         `json:"offset"`
	Errors []jaegerErr `json:"errors"`
}

type jaegerErr struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

// metricsParams are Jaeger's base metrics query parameters.
type metricsParams struct {
	services         []string
	groupByOperation bool
	spanKinds        []string // model names: "server", ...
	end              time.Time
	lookback         time.Duration
	step             time.Duration
	ratePer          time.Duration
}

func parseErr(param string, err error) error {
	return fmt.Errorf("unable to parse param '%s': %w", param, err)
}

func (h *handler) parseMetricsParams(r *http.Request) (metricsParams, error) {
	q := r.URL.Query()
	p := metricsParams{services: queryValues(r, "service")}
	if len(p.services) == 0 {
		return p, parseErr("service", errors.New("please provide at least one service name"))
	}
	if v := q.Get("groupByOperation"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return p, parseErr("groupByOperation", err)
		}
		p.groupByOperation = b
	}
	p.spanKinds = []string{"server"}
	if kinds, ok := q["spanKind"]; ok {
		p.spanKinds = nil
		for _, k := range kinds {
			kind, ok := model.ParseSpanKind(k)
			if !ok {
				return p, parseErr("spanKind", fmt.Errorf("unsupported span kind: '%s'", k))
			}
			p.spanKinds = append(p.spanKinds, kind.String())
		}
	}
	p.end = h.now()
	if v := q.Get("endTs"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return p, parseErr("endTs", err)
		}
		p.end = time.UnixMilli(n)
	}
	var err error
	if p.lookback, err = msParam(r, "lookback", defaultLookback); err != nil {
		return p, err
	}
	if p.step, err = msParam(r, "step", defaultStep); err != nil {
		return p, err
	}
	if p.ratePer, err = msParam(r, "ratePer", defaultRatePer); err != nil {
		return p, err
	}
	p.step = max(p.step, minStep)
	p.ratePer = max(p.ratePer, minStep)
	if p.lookback/p.step > maxPoints {
		return p, parseErr("step", fmt.Errorf("lookback/step gives more than %d points", maxPoints))
	}
	return p, nil
}

// msParam reads a positive duration in milliseconds.
func msParam(r *http.Request, name string, def time.Duration) (time.Duration, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, parseErr(name, err)
	}
	if n <= 0 {
		return 0, parseErr(name, errors.New("must be positive"))
	}
	return time.Duration(n) * time.Millisecond, nil
}

// window is one output point: the merged minutes of (t-ratePer, t].
type window struct {
	t       time.Time
	calls   uint64
	errors  uint64
	seconds float64
	hist    spanmetrics.Histogram
}

// windows evaluates the query like Prometheus' query_range over
// rate(...[ratePer]): a point every step from end-lookback to end, each
// aggregating the minutes that start in [t-ratePer, t).
func (h *handler) windows(r *http.Request, p metricsParams) (map[[2]string][]window, [][2]string, error) {
	start := p.end.Add(-p.lookback)
	out := map[[2]string][]window{}
	var order [][2]string
	for _, svc := range p.services {
		series, err := h.src.Series(r.Context(), spanmetrics.SeriesQuery{
			Service: svc, SpanKind: joinKinds(p.spanKinds),
			From: start.Add(-p.ratePer), To: p.end, Step: time.Minute,
			GroupByOperation: p.groupByOperation,
		})
		if err != nil {
			return nil, nil, err
		}
		for _, sr := range series {
			var ws []window
			var total uint64
			for t := start; !t.After(p.end); t = t.Add(p.step) {
				w := window{t: t}
				for i := range sr.Points {
					pt := &sr.Points[i]
					if pt.Time.Before(t.Add(-p.ratePer)) || !pt.Time.Before(t) {
						continue
					}
					w.calls += pt.Calls
					w.errors += pt.Errors
					w.seconds += pt.Seconds
					w.hist.Merge(pt.Hist)
				}
				total += w.calls
				ws = append(ws, w)
			}
			if total == 0 {
				continue // Prometheus has no series for what never happened
			}
			k := [2]string{svc, sr.Operation}
			out[k] = ws
			order = append(order, k)
		}
	}
	return out, order, nil
}

func (h *handler) family(w http.ResponseWriter, r *http.Request, name, help string, value func(*window) (float64, bool)) {
	p, err := h.parseMetricsParams(r)
	if err != nil {
		h.jaegerError(w, r, http.StatusBadRequest, err)
		return
	}
	h.familyWith(w, r, p, name, help, value)
}

func (h *handler) familyWith(w http.ResponseWriter, r *http.Request, p metricsParams, name, help string, value func(*window) (float64, bool)) {
	ws, order, err := h.windows(r, p)
	if err != nil {
		status := statusOf(err)
		h.jaegerError(w, r, status, err)
		return
	}
	mf := metricFamily{Name: name, Type: "GAUGE", Help: help, Metrics: []metric{}}
	for _, k := range order {
		m := metric{Labels: []label{{Name: "service_name", Value: k[0]}}, MetricPoints: []metricPoint{}}
		if p.groupByOperation {
			m.Labels = append(m.Labels, label{Name: "operation", Value: k[1]})
		}
		for i := range ws[k] {
			win := &ws[k][i]
			if v, ok := value(win); ok {
				m.MetricPoints = append(m.MetricPoints, metricPoint{GaugeValue: gaugeValue{DoubleValue: v}, Timestamp: jaegerTime(win.t)})
			}
		}
		mf.Metrics = append(mf.Metrics, m)
	}
	h.writeJSON(w, r, http.StatusOK, mf)
}

// jaegerTime renders a google.protobuf.Timestamp as jsonpb does.
func jaegerTime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02T15:04:05Z")
	}
	return t.Format("2006-01-02T15:04:05.000Z")
}

func (h *handler) jaegerCalls(w http.ResponseWriter, r *http.Request) {
	h.family(w, r, "service_call_rate", "calls/sec, grouped by service", func(win *window) (float64, bool) {
		if win.seconds <= 0 {
			return 0, false
		}
		return float64(win.calls) / win.seconds, true
	})
}

func (h *handler) jaegerErrors(w http.ResponseWriter, r *http.Request) {
	h.family(w, r, "service_error_rate", "error rate, computed as a fraction of errors/sec over calls/sec, grouped by service",
		func(win *window) (float64, bool) {
			if win.calls == 0 {
				return 0, false
			}
			return float64(win.errors) / float64(win.calls), true
		})
}

func (h *handler) jaegerLatencies(w http.ResponseWriter, r *http.Request) {
	q, err := strconv.ParseFloat(r.URL.Query().Get("quantile"), 64)
	if err != nil {
		h.jaegerError(w, r, http.StatusBadRequest, parseErr("quantile", err))
		return
	}
	if q <= 0 || q > 1 {
		h.jaegerError(w, r, http.StatusBadRequest, parseErr("quantile", errors.New("must be in (0, 1]")))
		return
	}
	h.family(w, r, "service_latencies", fmt.Sprintf("%.2fth quantile latency, grouped by service", q), func(win *window) (float64, bool) {
		if win.calls == 0 {
			return 0, false
		}
		return ms(win.hist.Quantile(q)), true
	})
}

func (h *handler) jaegerMinStep(w http.ResponseWriter, r *http.Request) {
	h.writeJSON(w, r, http.StatusOK, jaegerStructured{Data: minStep.Milliseconds()})
}
