package tempo

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/clewtrace/clew/internal/query"
	"github.com/clewtrace/clew/internal/traceql"
)

// Search response shapes, field by field as Tempo's /api/search writes them
// (protobuf JSON: 64-bit integers as strings).
type searchResponse struct {
	Traces  []traceSummary `json:"traces"`
	Metrics map[string]any `json:"metrics"`
}

type traceSummary struct {
	TraceID           string                  `json:"traceID"`
	RootServiceName   string                  `json:"rootServiceName"`
	RootTraceName     string                  `json:"rootTraceName,omitempty"`
	StartTimeUnixNano string                  `json:"startTimeUnixNano"`
	DurationMs        int64                   `json:"durationMs"`
	SpanSet           *spanSet                `json:"spanSet,omitempty"`
	SpanSets          []spanSet               `json:"spanSets,omitempty"`
	ServiceStats      map[string]serviceStats `json:"serviceStats,omitempty"`
}

type serviceStats struct {
	SpanCount  int `json:"spanCount"`
	ErrorCount int `json:"errorCount,omitempty"`
}

type spanSet struct {
	Spans      []spanSummary `json:"spans"`
	Matched    int           `json:"matched"`
	Attributes []keyValue    `json:"attributes,omitempty"`
}

type spanSummary struct {
	SpanID            string     `json:"spanID"`
	Name              string     `json:"name"`
	StartTimeUnixNano string     `json:"startTimeUnixNano"`
	DurationNanos     string     `json:"durationNanos"`
	Attributes        []keyValue `json:"attributes,omitempty"`
}

type keyValue struct {
	Key   string   `json:"key"`
	Value anyValue `json:"value"`
}

// anyValue is OTLP's AnyValue in protobuf JSON.
type anyValue struct {
	StringValue *string  `json:"stringValue,omitempty"`
	IntValue    *string  `json:"intValue,omitempty"`
	DoubleValue *float64 `json:"doubleValue,omitempty"`
	BoolValue   *bool    `json:"boolValue,omitempty"`
}

func toAnyValue(v traceql.Value) anyValue {
	switch v.T {
	case traceql.TInt:
		s := strconv.FormatInt(v.N, 10)
		return anyValue{IntValue: &s}
	case traceql.TFloat:
		f := v.F
		if f != f || f > 1.7e308 || f < -1.7e308 { // NaN and ±Inf have no JSON form
			s := v.String()
			return anyValue{StringValue: &s}
		}
		return anyValue{DoubleValue: &f}
	case traceql.TBool:
		b := v.N != 0
		return anyValue{BoolValue: &b}
	}
	s := v.String()
	return anyValue{StringValue: &s}
}

// summarize describes a trace the way Tempo's search lists it.
func summarize(t *traceql.Trace) traceSummary {
	start, end := t.StartEnd()
	ts := traceSummary{
		TraceID:           t.Spans[0].TraceID.String(),
		RootServiceName:   "<root span not yet received>",
		StartTimeUnixNano: strconv.FormatInt(start, 10),
		DurationMs:        (end - start) / int64(time.Millisecond),
		ServiceStats:      map[string]serviceStats{},
	}
	if r := t.Root(); r >= 0 {
		ts.RootServiceName, ts.RootTraceName = t.Spans[r].Service(), t.Spans[r].Name
	}
	for i := range t.Spans {
		st := ts.ServiceStats[t.Spans[i].Service()]
		st.SpanCount++
		if t.Spans[i].IsError() {
			st.ErrorCount++
		}
		ts.ServiceStats[t.Spans[i].Service()] = st
	}
	return ts
}

// fromSummary describes a trace the way Tempo's search lists it, from its
// summary (the same fields summarize computes from the spans).
func fromSummary(s query.TraceSummary) traceSummary {
	ts := traceSummary{
		TraceID:           s.TraceID.String(),
		RootServiceName:   "<root span not yet received>",
		StartTimeUnixNano: strconv.FormatInt(s.StartUnixNano, 10),
		DurationMs:        (s.EndUnixNano - s.StartUnixNano) / int64(time.Millisecond),
		ServiceStats:      make(map[string]serviceStats, len(s.Services)),
	}
	if s.HasRoot {
		ts.RootServiceName, ts.RootTraceName = s.RootServiceName, s.RootOperationName
	}
	for _, svc := range s.Services {
		ts.ServiceStats[svc.Name] = serviceStats{SpanCount: svc.SpanCount, ErrorCount: svc.ErrorSpanCount}
	}
	return ts
}

// summaryFinder is a Querier that summarises a search's traces without
// reading them (*query.Service, from the store's summary rows).
type summaryFinder interface {
	FindSummaries(ctx context.Context, q query.TraceQuery) ([]query.TraceSummary, error)
}

func (h *handler) search(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Query()
	limit, err := intParam(r, "limit", DefaultLimit, MaxLimit)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, err)
		return
	}
	spss, err := intParam(r, "spss", DefaultSpss, MaxSpss)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, err)
		return
	}
	start, end, err := h.timeRange(r, 0)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, err)
		return
	}
	if src := p.Get("q"); src != "" {
		q, err := parseQuery(src)
		if err != nil {
			h.fail(w, r, http.StatusBadRequest, err)
			return
		}
		if q.IsMetrics() {
			h.fail(w, r, http.StatusBadRequest, fmt.Errorf("invalid TraceQL query: %s ends in a metrics function; use /api/metrics/query_range", src))
			return
		}
		matches, st, err := h.q.SearchTraceQL(r.Context(), q, start, end, limit)
		if err != nil {
			h.failQuery(w, r, err)
			return
		}
		out := searchResponse{Traces: []traceSummary{}, Metrics: metricsOf(st)}
		fields := q.OutputFields()
		for _, m := range matches {
			ts := summarize(m.Trace)
			for _, set := range m.Sets {
				ts.SpanSets = append(ts.SpanSets, renderSet(m.Trace, set, fields, spss))
			}
			if len(ts.SpanSets) > 0 {
				ts.SpanSet = &ts.SpanSets[0]
			}
			out.Traces = append(out.Traces, ts)
		}
		writeJSON(w, out)
		return
	}
	// The older form: logfmt tags, minDuration, maxDuration.
	tq := query.TraceQuery{Limit: limit, StartTimeMin: start, StartTimeMax: end}
	tags, err := parseLogfmt(p.Get("tags"))
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, fmt.Errorf("tags: %w", err))
		return
	}
	for k, v := range tags {
		switch k {
		case "service.name":
			tq.ServiceName = v
		case "name":
			tq.OperationName = v
		default:
			if tq.Attributes == nil {
				tq.Attributes = map[string]string{}
			}
			tq.Attributes[k] = v
		}
	}
	for name, dst := range map[string]*time.Duration{"minDuration": &tq.DurationMin, "maxDuration": &tq.DurationMax} {
		if s := p.Get(name); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				h.fail(w, r, http.StatusBadRequest, fmt.Errorf("%s: invalid duration %q", name, s))
				return
			}
			*dst = d
		}
	}
	if sf, ok := h.q.(summaryFinder); ok {
		sums, err := sf.FindSummaries(r.Context(), tq)
		if err != nil {
			h.failQuery(w, r, err)
			return
		}
		out := searchResponse{Traces: []traceSummary{}, Metrics: metricsOf(query.TraceQLStats{InspectedTraces: len(sums)})}
		for _, s := range sums {
			out.Traces = append(out.Traces, fromSummary(s))
		}
		writeJSON(w, out)
		return
	}
	traces, err := h.q.FindTraces(r.Context(), tq)
	if err != nil {
		h.failQuery(w, r, err)
		return
	}
	out := searchResponse{Traces: []traceSummary{}, Metrics: metricsOf(query.TraceQLStats{InspectedTraces: len(traces)})}
	for _, spans := range traces {
		out.Traces = append(out.Traces, summarize(traceql.NewTrace(spans)))
	}
	writeJSON(w, out)
}

// renderSet lists up to spss spans of a span set (earliest first) with the
// fields the query reads or selects.
func renderSet(t *traceql.Trace, set traceql.Set, fields []*traceql.Attr, spss int) spanSet {
	out := spanSet{Matched: len(set.Spans), Spans: []spanSummary{}}
	idx := append([]int(nil), set.Spans...)
	sort.SliceStable(idx, func(a, b int) bool { return t.Spans[idx[a]].StartUnixNano < t.Spans[idx[b]].StartUnixNano })
	if len(idx) > spss {
		idx = idx[:spss]
	}
	for _, i := range idx {
		s := &t.Spans[i]
		ss := spanSummary{
			SpanID:            s.SpanID.String(),
			Name:              s.Name,
			StartTimeUnixNano: strconv.FormatInt(s.StartUnixNano, 10),
			DurationNanos:     strconv.FormatInt(int64(s.Duration()), 10),
		}
		for _, f := range fields {
			if f.Intrinsic == traceql.IName || f.Intrinsic == traceql.IDuration {
				continue // already fields of the span
			}
			if v := t.Value(f, i); v.T != traceql.TNil {
				ss.Attributes = append(ss.Attributes, keyValue{Key: attrKey(f), Value: toAnyValue(v)})
			}
		}
		out.Spans = append(out.Spans, ss)
	}
	for _, b := range set.By {
		out.Attributes = append(out.Attributes, keyValue{Key: "by(" + b.Name + ")", Value: toAnyValue(b.Val)})
	}
	return out
}

// attrKey is how a search result names an attribute: the bare key for
// attributes (as Tempo does), the intrinsic's name otherwise.
func attrKey(a *traceql.Attr) string {
	if a.Intrinsic != traceql.INone {
		return a.String()
	}
	return a.Name
}

// parseLogfmt reads space-separated key=value pairs; values may be quoted.
func parseLogfmt(s string) (map[string]string, error) {
	out := map[string]string{}
	s = strings.TrimSpace(s)
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("expected key=value at %q", s)
		}
		key := s[:eq]
		if strings.ContainsAny(key, " \t\"") {
			return nil, fmt.Errorf("invalid key %q", key)
		}
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			end := 1
			for end < len(s) && s[end] != '"' {
				if s[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(s) {
				return nil, fmt.Errorf("unterminated quoted value for %q", key)
			}
			v, err := strconv.Unquote(s[:end+1])
			if err != nil {
				return nil, fmt.Errorf("invalid quoted value for %q", key)
			}
			val, s = v, s[end+1:]
		} else {
			sp := strings.IndexAny(s, " \t")
			if sp < 0 {
				sp = len(s)
			}
			val, s = s[:sp], s[sp:]
		}
		out[key] = val
		s = strings.TrimSpace(s)
	}
	return out, nil
}
