package logsapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/clewtrace/clew/internal/api/clewjson"
	"github.com/clewtrace/clew/internal/api/recovery"
	"github.com/clewtrace/clew/internal/logstore"
	"github.com/clewtrace/clew/internal/model"
)

// Searcher is what the handler needs from the log store.
type Searcher interface {
	Search(ctx context.Context, q logstore.LogQuery) ([]logstore.Record, error)
	CountByTrace(ctx context.Context, ids []model.TraceID) (map[model.TraceID]int, error)
}

var _ Searcher = (*logstore.Store)(nil)

// Path is where the application mounts the handler. The handler matches
// full request paths, so mount it without stripping the prefix.
const Path = "/api/clew/logs"

// maxCountIDs bounds one count request, as a trace list page is at most
// that long.
const maxCountIDs = 1000

type handler struct {
	s      Searcher
	logger *slog.Logger
}

// NewHandler serves GET Path and GET Path/count. A nil logger discards.
func NewHandler(s Searcher, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{s: s, logger: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Path, h.search)
	mux.HandleFunc("GET "+Path+"/count", h.count)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// This pattern is more specific in path than in method, so it also
		// catches other methods on the two endpoints.
		if r.URL.Path == Path || r.URL.Path == Path+"/count" {
			clewjson.OnlyGET(w, r)
			return
		}
		clewjson.NoEndpoint(w, r)
	})
	return recovery.Wrap(mux, logger, clewjson.Fail)
}

// LogJSON is one record in a search response. Times are RFC 3339 with
// nanoseconds; IDs are lowercase hex and omitted when absent.
type LogJSON struct {
	Time           string            `json:"time"`
	ObservedTime   string            `json:"observedTime,omitempty"`
	TraceID        string            `json:"traceId,omitempty"`
	SpanID         string            `json:"spanId,omitempty"`
	SeverityNumber int               `json:"severityNumber"`
	SeverityText   string            `json:"severityText"`
	Body           string            `json:"body"`
	Service        string            `json:"service"`
	Attributes     map[string]string `json:"attributes"`
	Resource       map[string]string `json:"resource"`
	Scope          string            `json:"scope"`
	EventName      string            `json:"eventName,omitempty"`
}

// SearchResponse is the body of GET /api/clew/logs.
type SearchResponse struct {
	Logs []LogJSON `json:"logs"`
}

// CountResponse is the body of GET /api/clew/logs/count: trace ID (hex) to
// number of records. Every requested trace is present, with 0 if it has none.
type CountResponse struct {
	Counts map[string]int `json:"counts"`
}

func (h *handler) search(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r.URL.Query())
	if err != nil {
		clewjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	recs, err := h.s.Search(r.Context(), q)
	if err != nil {
		h.logger.ErrorContext(r.Context(), "logs: search", "err", err)
		clewjson.Error(w, http.StatusInternalServerError, "cannot search logs")
		return
	}
	out := SearchResponse{Logs: make([]LogJSON, len(recs))}
	for i := range recs {
		out.Logs[i] = toJSON(&recs[i])
	}
	_ = clewjson.Write(w, http.StatusOK, out)
}

func (h *handler) count(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query()["traceID"]
	if len(raw) == 0 {
		clewjson.Error(w, http.StatusBadRequest, "at least one traceID is required")
		return
	}
	if len(raw) > maxCountIDs {
		clewjson.Error(w, http.StatusBadRequest, fmt.Sprintf("at most %d traceIDs per request", maxCountIDs))
		return
	}
	ids := make([]model.TraceID, len(raw))
	for i, s := range raw {
		id, err := model.ParseTraceID(s)
		if err != nil {
			clewjson.Error(w, http.StatusBadRequest, "traceID: "+err.Error())
			return
		}
		ids[i] = id
	}
	counts, err := h.s.CountByTrace(r.Context(), ids)
	if err != nil {
		h.logger.ErrorContext(r.Context(), "logs: count", "err", err)
		clewjson.Error(w, http.StatusInternalServerError, "cannot count logs")
		return
	}
	out := CountResponse{Counts: make(map[string]int, len(ids))}
	for _, id := range ids {
		out.Counts[id.String()] = counts[id]
	}
	_ = clewjson.Write(w, http.StatusOK, out)
}

func toJSON(r *logstore.Record) LogJSON {
	j := LogJSON{
		Time:           r.Time.UTC().Format(time.RFC3339Nano),
		SeverityNumber: r.SeverityNumber,
		SeverityText:   r.SeverityText,
		Body:           r.Body,
		Service:        r.ServiceName,
		Attributes:     attrMap(r.Attributes),
		Resource:       attrMap(r.ResourceAttributes),
		Scope:          r.ScopeName,
		EventName:      r.EventName,
	}
	if !r.ObservedTime.IsZero() {
		j.ObservedTime = r.ObservedTime.UTC().Format(time.RFC3339Nano)
	}
	if !r.TraceID.IsZero() {
		j.TraceID = r.TraceID.String()
	}
	if !r.SpanID.IsZero() {
		j.SpanID = r.SpanID.String()
	}
	return j
}

func attrMap(attrs []model.Attribute) map[string]string {
	m := make(map[string]string, len(attrs)) // {} rather than null for the UI
	for _, a := range attrs {
		m[a.Key] = a.Value.String()
	}
	return m
}

// parseQuery maps URL parameters to a LogQuery. Unknown parameters are
// ignored, as in Jaeger's API.
func parseQuery(v map[string][]string) (logstore.LogQuery, error) {
	var q logstore.LogQuery
	get := func(k string) string {
		if vs := v[k]; len(vs) > 0 {
			return vs[0]
		}
		return ""
	}
	if s := get("traceID"); s != "" {
		id, err := model.ParseTraceID(s)
		if err != nil {
			return q, fmt.Errorf("traceID: %w", err)
		}
		q.TraceID = &id
	}
	if s := get("spanID"); s != "" {
		id, err := model.ParseSpanID(s)
		if err != nil {
			return q, fmt.Errorf("spanID: %w", err)
		}
		q.SpanID = &id
	}
	q.Service = get("service")
	if s := get("severity"); s != "" {
		n, err := parseSeverity(s)
		if err != nil {
			return q, err
		}
		q.MinSeverity = n
	}
	var err error
	if q.Start, err = clewjson.ParseTime("start", get("start")); err != nil {
		return q, err
	}
	if q.End, err = clewjson.ParseTime("end", get("end")); err != nil {
		return q, err
	}
	if !q.Start.IsZero() && !q.End.IsZero() && q.End.Before(q.Start) {
		return q, fmt.Errorf("end %s is before start %s", q.End.Format(time.RFC3339Nano), q.Start.Format(time.RFC3339Nano))
	}
	for _, a := range v["attr"] {
		k, val, ok := strings.Cut(a, ":")
		if !ok || k == "" {
			return q, fmt.Errorf("attr %q: want key:value", a)
		}
		if q.Attributes == nil {
			q.Attributes = map[string]string{}
		}
		q.Attributes[k] = val
	}
	q.Contains = get("contains")
	if s := get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return q, fmt.Errorf("limit %q: want a positive integer", s)
		}
		q.Limit = min(n, logstore.MaxLimit)
	}
	return q, nil
}

// parseSeverity accepts a SeverityNumber (1–24) or a level name, which
// means the lowest number of that level's range.
func parseSeverity(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 24 {
			return 0, fmt.Errorf("severity %d: want 1 to 24", n)
		}
		return n, nil
	}
	// The lowest SeverityNumber of each OTLP level's range.
	switch strings.ToUpper(s) {
	case "TRACE":
		return 1, nil
	case "DEBUG":
		return 5, nil
	case "INFO":
		return 9, nil
	case "WARN", "WARNING":
		return 13, nil
	case "ERROR":
		return 17, nil
	case "FATAL":
		return 21, nil
	}
	return 0, fmt.Errorf("severity %q: want a number or TRACE, DEBUG, INFO, WARN, ERROR or FATAL", s)
}
