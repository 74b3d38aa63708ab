package spm

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/clewtrace/clew/internal/api/clewjson"
	"github.com/clewtrace/clew/internal/spanmetrics"
)

// defaultRange is the window when start and end are absent.
const defaultRange = time.Hour

type statsJSON struct {
	Calls      uint64  `json:"calls"`
	Errors     uint64  `json:"errors"`
	ErrorRate  float64 `json:"errorRate"`
	RatePerSec float64 `json:"ratePerSec"`
	P50Ms      float64 `json:"p50Ms"`
	P95Ms      float64 `json:"p95Ms"`
	P99Ms      float64 `json:"p99Ms"`
}

func toStatsJSON(s spanmetrics.Stats) statsJSON {
	return statsJSON{Calls: s.Calls, Errors: s.Errors, ErrorRate: s.ErrorRate, RatePerSec: s.RatePerSec,
		P50Ms: ms(s.P50), P95Ms: ms(s.P95), P99Ms: ms(s.P99)}
}

type serviceJSON struct {
	Service string `json:"service"`
	statsJSON
}

type operationJSON struct {
	Operation string `json:"operation"`
	SpanKind  string `json:"spanKind"`
	statsJSON
}

// pointJSON is one step; its quantiles are null when the step had no calls
// (no data is not 0 ms: charts draw a gap).
type pointJSON struct {
	Time       string   `json:"time"`
	Calls      uint64   `json:"calls"`
	Errors     uint64   `json:"errors"`
	RatePerSec float64  `json:"ratePerSec"`
	P50Ms      *float64 `json:"p50Ms"`
	P95Ms      *float64 `json:"p95Ms"`
	P99Ms      *float64 `json:"p99Ms"`
}

// msOrNull is ms, or nil when there were no calls to measure.
func msOrNull(calls uint64, d time.Duration) *float64 {
	if calls == 0 {
		return nil
	}
	v := ms(d)
	return &v
}

type nodeJSON struct {
	Name    string `json:"name"`
	Virtual bool   `json:"virtual"`
}

type edgeJSON struct {
	Client         string  `json:"client"`
	Server         string  `json:"server"`
	ConnectionType string  `json:"connectionType"`
	Calls          uint64  `json:"calls"`
	Errors         uint64  `json:"errors"`
	ErrorRate      float64 `json:"errorRate"`
	P50Ms          float64 `json:"p50Ms"`
	P95Ms          float64 `json:"p95Ms"`
}

// parseRange reads start and end; the default is the last hour.
func (h *handler) parseRange(r *http.Request) (from, to time.Time, err error) {
	q := r.URL.Query()
	to = h.now()
	if v := q.Get("end"); v != "" {
		if to, err = clewjson.ParseTime("end", v); err != nil {
			return
		}
	}
	from = to.Add(-defaultRange)
	if v := q.Get("start"); v != "" {
		if from, err = clewjson.ParseTime("start", v); err != nil {
			return
		}
	}
	if !to.After(from) {
		err = errors.New("end must be after start")
	}
	return
}

func (h *handler) clewServices(w http.ResponseWriter, r *http.Request) {
	from, to, err := h.parseRange(r)
	if err != nil {
		h.clewError(w, r, http.StatusBadRequest, err)
		return
	}
	svcs, err := h.src.Services(r.Context(), from, to)
	if err != nil {
		h.clewError(w, r, statusOf(err), err)
		return
	}
	out := make([]serviceJSON, 0, len(svcs))
	for _, s := range svcs {
		out = append(out, serviceJSON{Service: s.Service, statsJSON: toStatsJSON(s.Stats)})
	}
	h.writeJSON(w, r, http.StatusOK, map[string]any{"services": out})
}

func (h *handler) clewOperations(w http.ResponseWriter, r *http.Request) {
	service := r.URL.Query().Get("service")
	if service == "" {
		h.clewError(w, r, http.StatusBadRequest, errors.New("service is required"))
		return
	}
	from, to, err := h.parseRange(r)
	if err != nil {
		h.clewError(w, r, http.StatusBadRequest, err)
		return
	}
	ops, err := h.src.Operations(r.Context(), service, from, to)
	if err != nil {
		h.clewError(w, r, statusOf(err), err)
		return
	}
	out := make([]operationJSON, 0, len(ops))
	for _, o := range ops {
		out = append(out, operationJSON{Operation: o.Operation, SpanKind: o.SpanKind, statsJSON: toStatsJSON(o.Stats)})
	}
	h.writeJSON(w, r, http.StatusOK, map[string]any{"operations": out})
}

// parseStep reads a Go duration ("60s", "5m") or whole seconds; default 60 s.
func parseStep(v string) (time.Duration, error) {
	if v == "" {
		return time.Minute, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.ParseInt(v, 10, 64)
		if nerr != nil {
			return 0, fmt.Errorf("step: want a duration such as 60s, got %q", v)
		}
		d = time.Duration(n) * time.Second
	}
	if d <= 0 {
		return 0, fmt.Errorf("step must be positive, got %q", v)
	}
	return d, nil
}

func (h *handler) clewTimeseries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	service := q.Get("service")
	if service == "" {
		h.clewError(w, r, http.StatusBadRequest, errors.New("service is required"))
		return
	}
	from, to, err := h.parseRange(r)
	if err != nil {
		h.clewError(w, r, http.StatusBadRequest, err)
		return
	}
	step, err := parseStep(q.Get("step"))
	if err != nil {
		h.clewError(w, r, http.StatusBadRequest, err)
		return
	}
	step = max(step, time.Minute)
	if rem := step % time.Minute; rem != 0 {
		step += time.Minute - rem // as Series does, so stepSeconds tells the truth
	}
	series, err := h.src.Series(r.Context(), spanmetrics.SeriesQuery{
		Service: service, Operation: q.Get("operation"), SpanKind: q.Get("spanKind"),
		From: from, To: to, Step: step,
	})
	if err != nil {
		h.clewError(w, r, statusOf(err), err)
		return
	}
	points := []pointJSON{}
	if len(series) > 0 {
		for _, p := range series[0].Points {
			points = append(points, pointJSON{Time: p.Time.UTC().Format(time.RFC3339), Calls: p.Calls, Errors: p.Errors,
				RatePerSec: p.RatePerSec, P50Ms: msOrNull(p.Calls, p.P50), P95Ms: msOrNull(p.Calls, p.P95), P99Ms: msOrNull(p.Calls, p.P99)})
		}
	}
	h.writeJSON(w, r, http.StatusOK, struct {
		StepSeconds int64       `json:"stepSeconds"`
		Points      []pointJSON `json:"points"`
	}{int64(step / time.Second), points})
}

func (h *handler) clewGraph(w http.ResponseWriter, r *http.Request) {
	from, to, err := h.parseRange(r)
	if err != nil {
		h.clewError(w, r, http.StatusBadRequest, err)
		return
	}
	edges, err := h.src.Graph(r.Context(), from, to)
	if err != nil {
		h.clewError(w, r, statusOf(err), err)
		return
	}
	virtual := map[string]bool{} // true only while a node is seen only as a virtual server
	out := make([]edgeJSON, 0, len(edges))
	for _, e := range edges {
		virtual[e.Client] = false
		if v, seen := virtual[e.Server]; !seen || v {
			virtual[e.Server] = e.ServerVirtual
		}
		out = append(out, edgeJSON{Client: e.Client, Server: e.Server, ConnectionType: e.ConnectionType,
			Calls: e.Calls, Errors: e.Errors, ErrorRate: e.ErrorRate, P50Ms: ms(e.P50), P95Ms: ms(e.P95)})
	}
	nodes := make([]nodeJSON, 0, len(virtual))
	for name, v := range virtual {
		nodes = append(nodes, nodeJSON{Name: name, Virtual: v})
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	h.writeJSON(w, r, http.StatusOK, struct {
		Nodes []nodeJSON `json:"nodes"`
		Edges []edgeJSON `json:"edges"`
	}{nodes, out})
}
