package jaeger

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query"
)

// api_v3 speaks protobuf-JSON: lowerCamel field names, 64-bit integers as
// strings, zero values omitted. Errors have their own shape (v3ErrorBody).

type v3ErrorBody struct {
	Error v3ErrorDetails `json:"error"`
}

type v3ErrorDetails struct {
	HTTPCode int    `json:"httpCode"`
	Message  string `json:"message"`
}

type v3ServicesResponse struct {
	Services []string `json:"services"`
}

type v3Operation struct {
	Name     string `json:"name"`
	SpanKind string `json:"spanKind,omitempty"`
}

type v3OperationsResponse struct {
	Operations []v3Operation `json:"operations"`
}

type v3SummariesResponse struct {
	Summaries []v3TraceSummary `json:"summaries"`
}

type v3TraceSummary struct {
	TraceID              string             `json:"traceId"`
	RootServiceName      string             `json:"rootServiceName,omitempty"`
	RootOperationName    string             `json:"rootOperationName,omitempty"`
	MinStartTimeUnixNano string             `json:"minStartTimeUnixNano,omitempty"`
	MaxEndTimeUnixNano   string             `json:"maxEndTimeUnixNano,omitempty"`
	SpanCount            int                `json:"spanCount,omitempty"`
	ErrorSpanCount       int                `json:"errorSpanCount,omitempty"`
	Services             []v3ServiceSummary `json:"services,omitempty"`
}

type v3ServiceSummary struct {
	Name           string `json:"name"`
	SpanCount      int    `json:"spanCount,omitempty"`
	ErrorSpanCount int    `json:"errorSpanCount,omitempty"`
}

// errNoTraces is api_v3's answer when a trace lookup or search finds nothing.
var errNoTraces = errors.New("No traces found") //nolint:staticcheck // Jaeger's exact message, capitalised

func (h *handler) v3Error(w http.ResponseWriter, r *http.Request, status int, err error) {
	h.logFailure(r, status, err)
	h.writeJSON(w, r, status, v3ErrorBody{Error: v3ErrorDetails{HTTPCode: status, Message: err.Error()}})
}

func (h *handler) v3Fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errBadRequest):
		h.v3Error(w, r, http.StatusBadRequest, err)
	case errors.Is(err, errNoTraces):
		h.v3Error(w, r, http.StatusNotFound, errNoTraces)
	default:
		h.v3Error(w, r, http.StatusInternalServerError, err)
	}
}

func (h *handler) v3Services(w http.ResponseWriter, r *http.Request) {
	services, err := h.q.Services(r.Context())
	if err != nil {
		h.v3Fail(w, r, fmt.Errorf("listing services: %w", err))
		return
	}
	if services == nil {
		services = []string{}
	}
	h.writeJSON(w, r, http.StatusOK, v3ServicesResponse{Services: services})
}

func (h *handler) v3Operations(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	service := v.Get("service")
	ops, err := h.q.Operations(r.Context(), service, firstParam(v, "span_kind", "spanKind"))
	if err != nil {
		h.v3Fail(w, r, fmt.Errorf("listing operations of %q: %w", service, err))
		return
	}
	out := v3OperationsResponse{Operations: make([]v3Operation, 0, len(ops))}
	for _, op := range ops {
		out.Operations = append(out.Operations, v3Operation{Name: op.Name, SpanKind: op.SpanKind})
	}
	h.writeJSON(w, r, http.StatusOK, out)
}

func (h *handler) v3GetTrace(w http.ResponseWriter, r *http.Request) {
	id, err := model.ParseTraceID(r.PathValue("traceID"))
	if err != nil {
		h.v3Fail(w, r, badRequestf("malformed parameter trace_id: %v", err))
		return
	}
	spans, err := h.q.GetTrace(r.Context(), id)
	if errors.Is(err, query.ErrNotFound) || (err == nil && len(spans) == 0) {
		h.v3Fail(w, r, errNoTraces)
		return
	}
	if err != nil {
		h.v3Fail(w, r, fmt.Errorf("fetching trace %s: %w", id, err))
		return
	}
	h.writeTraces(w, r, spans)
}

// v3FindTraces answers with all matching traces in one {"result": ...}
// message; Jaeger streams one message per chunk, which clients concatenate.
func (h *handler) v3FindTraces(w http.ResponseWriter, r *http.Request) {
	traces, ok := h.v3Search(w, r)
	if !ok {
		return
	}
	var all []model.Span
	for _, t := range traces {
		all = append(all, t...)
	}
	if len(all) == 0 {
		h.v3Fail(w, r, errNoTraces)
		return
	}
	h.writeTraces(w, r, all)
}

// summaryFinder is a Querier that summarises a search's traces without
// reading them (*query.Service, from the store's summary rows).
type summaryFinder interface {
	FindSummaries(ctx context.Context, q query.TraceQuery) ([]query.TraceSummary, error)
}

// v3TraceSummaries answers an empty list (not 404) when nothing matches,
// because a search page showing "no results" is not an error.
func (h *handler) v3TraceSummaries(w http.ResponseWriter, r *http.Request) {
	sf, ok := h.q.(summaryFinder)
	if !ok {
		h.v3TraceSummariesFromTraces(w, r)
		return
	}
	q, err := parseV3Query(r.URL)
	if err != nil {
		h.v3Fail(w, r, err)
		return
	}
	sums, err := sf.FindSummaries(r.Context(), q)
	if err != nil {
		h.v3Error(w, r, searchFailureStatus(err), fmt.Errorf("searching traces: %w", err))
		return
	}
	out := v3SummariesResponse{Summaries: make([]v3TraceSummary, 0, len(sums))}
	for _, s := range sums {
		out.Summaries = append(out.Summaries, toV3Summary(s))
	}
	h.writeJSON(w, r, http.StatusOK, out)
}

// v3TraceSummariesFromTraces summarises whole traces, for a Querier that
// cannot summarise without them.
func (h *handler) v3TraceSummariesFromTraces(w http.ResponseWriter, r *http.Request) {
	traces, ok := h.v3Search(w, r)
	if !ok {
		return
	}
	out := v3SummariesResponse{Summaries: make([]v3TraceSummary, 0, len(traces))}
	for _, t := range traces {
		if len(t) > 0 {
			out.Summaries = append(out.Summaries, toV3Summary(query.Summarize(t)))
		}
	}
	h.writeJSON(w, r, http.StatusOK, out)
}

func (h *handler) v3Search(w http.ResponseWriter, r *http.Request) ([][]model.Span, bool) {
	q, err := parseV3Query(r.URL)
	if err != nil {
		h.v3Fail(w, r, err)
		return nil, false
	}
	traces, err := h.q.FindTraces(r.Context(), q)
	if err != nil {
		h.v3Error(w, r, searchFailureStatus(err), fmt.Errorf("searching traces: %w", err))
		return nil, false
	}
	return traces, true
}

func (h *handler) writeTraces(w http.ResponseWriter, r *http.Request, spans []model.Span) {
	var m ptrace.JSONMarshaler
	otlp, err := m.MarshalTraces(model.ToTraces(spans))
	if err != nil {
		h.v3Error(w, r, http.StatusInternalServerError, fmt.Errorf("encoding OTLP JSON: %w", err))
		return
	}
	body := make([]byte, 0, len(otlp)+len(`{"result":}`)+1)
	body = append(body, `{"result":`...)
	body = append(body, otlp...)
	body = append(body, "}\n"...)
	h.writeRaw(w, http.StatusOK, body)
}

func toV3Summary(s query.TraceSummary) v3TraceSummary {
	out := v3TraceSummary{
		TraceID:           s.TraceID.String(),
		RootServiceName:   s.RootServiceName,
		RootOperationName: s.RootOperationName,
		SpanCount:         s.SpanCount,
		ErrorSpanCount:    s.ErrorSpanCount,
	}
	if s.StartUnixNano != 0 {
		out.MinStartTimeUnixNano = strconv.FormatInt(s.StartUnixNano, 10)
	}
	if s.EndUnixNano != 0 {
		out.MaxEndTimeUnixNano = strconv.FormatInt(s.EndUnixNano, 10)
	}
	for _, svc := range s.Services {
		out.Services = append(out.Services, v3ServiceSummary{Name: svc.Name, SpanCount: svc.SpanCount, ErrorSpanCount: svc.ErrorSpanCount})
	}
	return out
}

// parseV3Query reads api_v3's query.* parameters; each has a snake_case
// name and the lowerCamel alias grpc-gateway also accepts. Start times are
// required, as in Jaeger.
func parseV3Query(u *url.URL) (query.TraceQuery, error) {
	var q query.TraceQuery
	if len(u.RawQuery) > maxQueryStringBytes {
		return q, badRequestf("query string longer than %d bytes", maxQueryStringBytes)
	}
	v, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return q, badRequestf("malformed query string: %v", err)
	}
	q.ServiceName = firstParam(v, "query.service_name", "query.serviceName")
	q.OperationName = firstParam(v, "query.operation_name", "query.operationName")

	minS := firstParam(v, "query.start_time_min", "query.startTimeMin")
	maxS := firstParam(v, "query.start_time_max", "query.startTimeMax")
	if minS == "" || maxS == "" {
		return q, badRequestf("query.start_time_min and query.start_time_max are required")
	}
	if q.StartTimeMin, err = time.Parse(time.RFC3339Nano, minS); err != nil {
		return q, badRequestf("malformed parameter query.start_time_min: %v", err)
	}
	if q.StartTimeMax, err = time.Parse(time.RFC3339Nano, maxS); err != nil {
		return q, badRequestf("malformed parameter query.start_time_max: %v", err)
	}
	if q.StartTimeMax.Before(q.StartTimeMin) {
		return q, badRequestf("query.start_time_max must not be before query.start_time_min")
	}

	for _, p := range []struct {
		names []string
		dst   *time.Duration
	}{
		{[]string{"query.duration_min", "query.durationMin"}, &q.DurationMin},
		{[]string{"query.duration_max", "query.durationMax"}, &q.DurationMax},
	} {
		s := firstParam(v, p.names...)
		if s == "" {
			continue
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return q, badRequestf("malformed parameter %s: want a non-negative Go duration such as 1.5s, got %q", p.names[0], s)
		}
		*p.dst = d
	}
	if q.DurationMin != 0 && q.DurationMax != 0 && q.DurationMax < q.DurationMin {
		return q, badRequestf("query.duration_max must not be less than query.duration_min")
	}

	// search_depth is the current name; num_traces the one it replaced.
	if s := firstParam(v, "query.search_depth", "query.searchDepth", "query.num_traces", "query.numTraces"); s != "" {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || n < 0 {
			return q, badRequestf("malformed parameter query.search_depth: want a non-negative integer, got %q", s)
		}
		if n > MaxSearchLimit {
			return q, badRequestf("query.search_depth must be at most %d, got %d", MaxSearchLimit, n)
		}
		q.Limit = int(n)
	}
	q.MaxSpans = maxSearchSpans

	if s := firstParam(v, "query.attributes"); s != "" {
		attrs, err := parseAttributesJSON(s)
		if err != nil {
			return q, badRequestf("malformed parameter query.attributes: %v", err)
		}
		if len(attrs) > maxAttributeFilters {
			return q, badRequestf("at most %d attribute filters are accepted", maxAttributeFilters)
		}
		if len(attrs) > 0 {
			q.Attributes = attrs
		}
	}
	return q, nil
}

// firstParam returns the first non-empty value among the given names.
func firstParam(v url.Values, names ...string) string {
	for _, n := range names {
		if s := v.Get(n); s != "" {
			return s
		}
	}
	return ""
}
