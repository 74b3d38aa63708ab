package jaeger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query"
)

// Defaults of Jaeger's legacy query API.
const (
	legacyDefaultLimit    = 100            // traces per search
	legacyDefaultLookback = 48 * time.Hour // search window when start is absent
	legacyDependencyRange = 24 * time.Hour // dependencies lookback when absent
	maxTraceIDsPerRequest = 1000           // repeated traceID= values accepted at once
	maxAttributeFilters   = 64             // tag filters accepted in one search
	maxQueryStringBytes   = 64 << 10       // whole query string

	// MaxSearchLimit is the largest number of traces one search may ask for
	// (legacy limit, api_v3 query.search_depth); above it the answer is 400.
	MaxSearchLimit = 1500
	// maxSearchSpans bounds one search's memory: traces are returned, most
	// recent first, until they hold this many spans (docs/api.md).
	maxSearchSpans = 100_000
	// queryTimeout bounds the CPU one request may take; a search that runs
	// longer is answered 503 and should be narrowed.
	queryTimeout = 30 * time.Second
)

// structuredResponse is the wrapper of every legacy response, errors included.
type structuredResponse struct {
	Data   any               `json:"data"`
	Total  int               `json:"total"`
	Limit  int               `json:"limit"`
	Offset int               `json:"offset"`
	Errors []structuredError `json:"errors"`
}

type structuredError struct {
	Code    int    `json:"code,omitempty"`
	Msg     string `json:"msg"`
	TraceID string `json:"traceID,omitempty"`
}

type uiOperation struct {
	Name     string `json:"name"`
	SpanKind string `json:"spanKind"`
}

type uiDependencyLink struct {
	Parent    string `json:"parent"`
	Child     string `json:"child"`
	CallCount uint64 `json:"callCount"`
}

// errBadRequest marks errors caused by the request; handlers answer 400.
var errBadRequest = errors.New("bad request")

type badRequestError struct{ msg string }

func (e badRequestError) Error() string        { return e.msg }
func (e badRequestError) Is(target error) bool { return target == errBadRequest }

func badRequestf(format string, args ...any) error {
	return badRequestError{msg: fmt.Sprintf(format, args...)}
}

func (h *handler) legacyError(w http.ResponseWriter, r *http.Request, status int, err error) {
	h.logFailure(r, status, err)
	h.writeJSON(w, r, status, structuredResponse{Errors: []structuredError{{Code: status, Msg: err.Error()}}})
}

// legacyFail maps an error from parsing or from the Querier to a status.
func (h *handler) legacyFail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errBadRequest):
		h.legacyError(w, r, http.StatusBadRequest, err)
	case errors.Is(err, query.ErrNotFound):
		h.legacyError(w, r, http.StatusNotFound, err)
	default:
		h.legacyError(w, r, http.StatusInternalServerError, err)
	}
}

// searchFailureStatus is 503 for a search that ran out of time (narrowing it
// helps), 500 otherwise.
func searchFailureStatus(err error) int {
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func spanCount(traces [][]model.Span) int {
	n := 0
	for _, t := range traces {
		n += len(t)
	}
	return n
}

func (h *handler) legacyServices(w http.ResponseWriter, r *http.Request) {
	services, err := h.q.Services(r.Context())
	if err != nil {
		h.legacyFail(w, r, fmt.Errorf("listing services: %w", err))
		return
	}
	if services == nil {
		services = []string{}
	}
	h.writeJSON(w, r, http.StatusOK, structuredResponse{Data: services, Total: len(services)})
}

// legacyServiceOperations is the older operations endpoint: unique names, sorted.
func (h *handler) legacyServiceOperations(w http.ResponseWriter, r *http.Request) {
	service := r.PathValue("service")
	ops, err := h.q.Operations(r.Context(), service, "")
	if err != nil {
		h.legacyFail(w, r, fmt.Errorf("listing operations of %q: %w", service, err))
		return
	}
	names := make([]string, 0, len(ops))
	for _, op := range ops {
		names = append(names, op.Name)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	h.writeJSON(w, r, http.StatusOK, structuredResponse{Data: names, Total: len(names)})
}

func (h *handler) legacyOperations(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	service := v.Get("service")
	if service == "" {
		h.legacyFail(w, r, badRequestf("parameter 'service' is required"))
		return
	}
	ops, err := h.q.Operations(r.Context(), service, v.Get("spanKind"))
	if err != nil {
		h.legacyFail(w, r, fmt.Errorf("listing operations of %q: %w", service, err))
		return
	}
	data := make([]uiOperation, 0, len(ops))
	for _, op := range ops {
		data = append(data, uiOperation{Name: op.Name, SpanKind: op.SpanKind})
	}
	h.writeJSON(w, r, http.StatusOK, structuredResponse{Data: data, Total: len(data)})
}

func (h *handler) legacyGetTrace(w http.ResponseWriter, r *http.Request) {
	id, err := model.ParseTraceID(r.PathValue("traceID"))
	if err != nil {
		h.legacyFail(w, r, badRequestf("cannot parse traceID: %v", err))
		return
	}
	spans, err := h.q.GetTrace(r.Context(), id)
	if err == nil && len(spans) == 0 {
		err = query.ErrNotFound
	}
	if err != nil {
		h.legacyFail(w, r, err)
		return
	}
	h.writeJSON(w, r, http.StatusOK, structuredResponse{Data: []uiTrace{toUITrace(spans)}})
}

// legacySearch serves /api/traces: either the traces named by repeated
// traceID= parameters (unknown ones reported in errors, as Jaeger does) or a
// search.
func (h *handler) legacySearch(w http.ResponseWriter, r *http.Request) {
	s, err := parseLegacySearch(r.URL, h.now())
	if err != nil {
		h.legacyFail(w, r, err)
		return
	}
	var traces [][]model.Span
	var uiErrors []structuredError
	if len(s.traceIDs) > 0 {
		for _, id := range s.traceIDs {
			spans, err := h.q.GetTrace(r.Context(), id)
			if errors.Is(err, query.ErrNotFound) || (err == nil && len(spans) == 0) {
				uiErrors = append(uiErrors, structuredError{Msg: query.ErrNotFound.Error(), TraceID: legacyTraceID(id)})
				continue
			}
			if err != nil {
				h.legacyFail(w, r, fmt.Errorf("fetching trace %s: %w", id, err))
				return
			}
			traces = append(traces, spans)
		}
	} else {
		traces, err = h.q.FindTraces(r.Context(), s.query)
		if err != nil {
			// A not-found from a search is not the client's 404; keep it a 500.
			h.legacyError(w, r, searchFailureStatus(err), fmt.Errorf("searching traces: %w", err))
			return
		}
		if n := spanCount(traces); n >= maxSearchSpans {
			uiErrors = append(uiErrors, structuredError{Msg: fmt.Sprintf(
				"result cut at %d traces holding %d spans (at most %d spans per search); narrow the search or lower the limit",
				len(traces), n, maxSearchSpans)})
		}
	}
	data := make([]uiTrace, 0, len(traces))
	for _, t := range traces {
		if len(t) > 0 {
			data = append(data, toUITrace(t))
		}
	}
	h.writeJSON(w, r, http.StatusOK, structuredResponse{Data: data, Errors: uiErrors})
}

// legacySearchParams is a parsed /api/traces request.
type legacySearchParams struct {
	query    query.TraceQuery
	traceIDs []model.TraceID
}

// parseLegacySearch reads Jaeger's legacy search parameters. Deviations from
// Jaeger, all of them relaxations: service is optional, durations may be bare
// integers (µs), and tags JSON values may be numbers or booleans.
func parseLegacySearch(u *url.URL, now time.Time) (legacySearchParams, error) {
	var p legacySearchParams
	if len(u.RawQuery) > maxQueryStringBytes {
		return p, badRequestf("query string longer than %d bytes", maxQueryStringBytes)
	}
	v, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return p, badRequestf("malformed query string: %v", err)
	}
	q := &p.query
	q.ServiceName = v.Get("service")
	q.OperationName = v.Get("operation")

	q.StartTimeMin = now.Add(-legacyDefaultLookback)
	q.StartTimeMax = now
	if s := v.Get("start"); s != "" {
		if q.StartTimeMin, err = parseUnixMicros("start", s); err != nil {
			return p, err
		}
	}
	if s := v.Get("end"); s != "" {
		if q.StartTimeMax, err = parseUnixMicros("end", s); err != nil {
			return p, err
		}
	}
	if q.StartTimeMax.Before(q.StartTimeMin) {
		return p, badRequestf("'end' must not be before 'start'")
	}

	if q.Attributes, err = parseLegacyTags(v["tag"], v["tags"]); err != nil {
		return p, err
	}

	q.Limit = legacyDefaultLimit
	if s := v.Get("limit"); s != "" {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return p, badRequestf("unable to parse param 'limit': %v", err)
		}
		if n < 0 {
			return p, badRequestf("unable to parse param 'limit': must not be negative")
		}
		if n > MaxSearchLimit {
			return p, badRequestf("param 'limit' must be at most %d, got %d", MaxSearchLimit, n)
		}
		q.Limit = int(n) // 0 means the query layer's default
	}
	q.MaxSpans = maxSearchSpans

	if q.DurationMin, err = parseLegacyDuration("minDuration", v.Get("minDuration")); err != nil {
		return p, err
	}
	if q.DurationMax, err = parseLegacyDuration("maxDuration", v.Get("maxDuration")); err != nil {
		return p, err
	}
	if q.DurationMin != 0 && q.DurationMax != 0 && q.DurationMax < q.DurationMin {
		return p, badRequestf("'maxDuration' should be greater than 'minDuration'")
	}

	if len(v["traceID"]) > maxTraceIDsPerRequest {
		return p, badRequestf("at most %d traceID parameters are accepted", maxTraceIDsPerRequest)
	}
	for _, s := range v["traceID"] {
		id, err := model.ParseTraceID(s)
		if err != nil {
			return p, badRequestf("cannot parse traceID param: %v", err)
		}
		if !slices.Contains(p.traceIDs, id) {
			p.traceIDs = append(p.traceIDs, id)
		}
	}
	return p, nil
}

func parseUnixMicros(name, s string) (time.Time, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, badRequestf("unable to parse param '%s': %v", name, err)
	}
	return time.UnixMicro(n), nil
}

// parseLegacyDuration accepts Go durations ("1.2s", "100ms", "500us") as
// Jaeger does, and also bare integers as microseconds, the unit of every
// other number in this API.
func parseLegacyDuration(name, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	var d time.Duration
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > int64(time.Duration(1<<63-1)/time.Microsecond) {
			return 0, badRequestf("unable to parse param '%s': out of range", name)
		}
		d = time.Duration(n) * time.Microsecond
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, badRequestf("unable to parse param '%s': %v", name, err)
	}
	if d < 0 {
		return 0, badRequestf("unable to parse param '%s': must not be negative", name)
	}
	return d, nil
}

// parseLegacyTags merges repeated tag=key:value (split at the first colon,
// so values may contain colons) and tags={"key":"value"} JSON objects; JSON
// wins on conflicts, as in Jaeger.
func parseLegacyTags(simple, jsonTags []string) (map[string]string, error) {
	var out map[string]string
	put := func(k, v string) error {
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
		if len(out) > maxAttributeFilters {
			return badRequestf("at most %d tag filters are accepted", maxAttributeFilters)
		}
		return nil
	}
	for _, t := range simple {
		k, v, ok := strings.Cut(t, ":")
		if !ok {
			return nil, badRequestf("malformed 'tag' parameter, expecting key:value, received: %s", t)
		}
		if err := put(k, v); err != nil {
			return nil, err
		}
	}
	for _, t := range jsonTags {
		if t == "" {
			continue // Grafana sends tags= when the field is empty
		}
		m, err := parseAttributesJSON(t)
		if err != nil {
			return nil, badRequestf("malformed 'tags' parameter, cannot unmarshal JSON: %v", err)
		}
		for k, v := range m {
			if err := put(k, v); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// parseAttributesJSON reads a JSON object of scalar values into strings,
// the form the query layer compares against ("true", "200", ...).
func parseAttributesJSON(s string) (map[string]string, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(raw))
	for k, msg := range raw {
		var v any
		if err := json.Unmarshal(msg, &v); err != nil {
			return nil, err
		}
		switch t := v.(type) {
		case string:
			out[k] = t
		case bool, float64:
			out[k] = strings.TrimSpace(string(msg)) // a number keeps its spelling: "200", not "200.0"
		default:
			return nil, fmt.Errorf("value of %q must be a string, number or boolean", k)
		}
	}
	return out, nil
}

// legacyDependencies serves /api/dependencies?endTs=&lookback= (both ms).
// Edges with the same parent and child are merged, as in Jaeger.
func (h *handler) legacyDependencies(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	endTs := h.now()
	if s := v.Get("endTs"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			h.legacyFail(w, r, badRequestf("unable to parse param 'endTs': %v", err))
			return
		}
		endTs = time.UnixMilli(n)
	}
	lookback := legacyDependencyRange
	if s := v.Get("lookback"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > int64(time.Duration(1<<63-1)/time.Millisecond) {
			h.legacyFail(w, r, badRequestf("unable to parse param 'lookback': want a non-negative number of milliseconds, got %q", s))
			return
		}
		lookback = time.Duration(n) * time.Millisecond
	}
	deps, err := h.q.Dependencies(r.Context(), endTs, lookback)
	if err != nil {
		h.legacyFail(w, r, fmt.Errorf("computing dependencies: %w", err))
		return
	}
	type edge struct{ parent, child string }
	index := map[edge]int{}
	data := make([]uiDependencyLink, 0, len(deps))
	for _, d := range deps {
		e := edge{d.Parent, d.Child}
		if i, ok := index[e]; ok {
			data[i].CallCount += d.CallCount
			continue
		}
		index[e] = len(data)
		data = append(data, uiDependencyLink{Parent: d.Parent, Child: d.Child, CallCount: d.CallCount})
	}
	h.writeJSON(w, r, http.StatusOK, structuredResponse{Data: data})
}
