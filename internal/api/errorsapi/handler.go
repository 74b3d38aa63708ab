package errorsapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/clewtrace/clew/internal/api/clewjson"
	"github.com/clewtrace/clew/internal/api/recovery"
	"github.com/clewtrace/clew/internal/errgroups"
	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query"
)

// Path is where the application mounts the handler (without stripping it).
const Path = "/api/clew/errors"

// Groups is what the handler needs from the error-group store.
type Groups interface {
	Groups(q errgroups.Query) []errgroups.Group
	Group(id string, from, to time.Time) (errgroups.Group, bool)
	Services() []string
}

// Traces is what the handler needs from the trace query service.
type Traces interface {
	GetTrace(ctx context.Context, id model.TraceID) ([]model.Span, error)
}

var (
	_ Groups = (*errgroups.Store)(nil)
	_ Traces = (*query.Service)(nil)
)

const (
	defaultWindow = 24 * time.Hour
	maxLimit      = 1000
	// maxTraceLookups bounds how many example traces one request reads.
	maxTraceLookups = 50
)

type handler struct {
	groups Groups
	traces Traces
	now    func() time.Time
	logger *slog.Logger
}

// NewHandler serves the endpoints under Path. A nil logger discards.
func NewHandler(g Groups, t Traces, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{groups: g, traces: t, now: time.Now, logger: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Path, h.list)
	mux.HandleFunc("GET "+Path+"/lookup", h.lookup)
	mux.HandleFunc("GET "+Path+"/{id}", h.group)
	mux.HandleFunc("GET "+Path+"/{id}/traces", h.groupTraces)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && strings.HasPrefix(r.URL.Path, Path) {
			clewjson.OnlyGET(w, r)
			return
		}
		clewjson.NoEndpoint(w, r)
	})
	return recovery.Wrap(mux, logger, clewjson.Fail)
}

// GroupJSON is one group in a response. Times are RFC 3339.
type GroupJSON struct {
	ID        string            `json:"id"`
	Type      string            `json:"type"`
	Message   string            `json:"message"`
	Pattern   string            `json:"pattern"`
	Service   string            `json:"service"`
	Operation string            `json:"operation"`
	Frame     string            `json:"frame,omitempty"`
	Count     uint64            `json:"count"`
	Logs      uint64            `json:"logs"`
	FirstSeen string            `json:"firstSeen"`
	LastSeen  string            `json:"lastSeen"`
	FirstEver string            `json:"firstEver"`
	Users     int               `json:"users"`
	Sessions  int               `json:"sessions"`
	UserIDs   []string          `json:"userIDs"`
	AtLeast   bool              `json:"atLeast,omitempty"` // user/session counts are lower bounds
	Releases  map[string]uint64 `json:"releases"`
	Hourly    []uint64          `json:"hourly"`
	HourStart string            `json:"hourStart"` // time of hourly[0]
	New       bool              `json:"new"`
	Rising    bool              `json:"rising"`
	Examples  []ExampleJSON     `json:"examples"`
}

// ExampleJSON is an example occurrence.
type ExampleJSON struct {
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID,omitempty"`
	Time    string `json:"time"`
	User    string `json:"user,omitempty"`
	Session string `json:"session,omitempty"`
}

// maxUserIDs bounds the user IDs listed per group in a response.
const maxUserIDs = 50

func toJSON(g errgroups.Group) GroupJSON {
	j := GroupJSON{
		ID: g.ID, Type: g.Info.Type, Message: g.Info.Message, Pattern: g.Info.Pattern,
		Service: g.Info.Service, Operation: g.Info.Operation, Frame: g.Info.Frame,
		Count: g.Count, Logs: g.Logs,
		FirstSeen: rfc(g.First), LastSeen: rfc(g.Last), FirstEver: rfc(g.FirstEver),
		Users: len(g.Users), Sessions: len(g.Sessions), AtLeast: g.IDsCapped,
		UserIDs: g.Users, Releases: g.Releases, New: g.New, Rising: g.Rising,
		Hourly: make([]uint64, len(g.Hourly)), Examples: make([]ExampleJSON, len(g.Examples)),
	}
	if len(j.UserIDs) > maxUserIDs {
		j.UserIDs = j.UserIDs[:maxUserIDs]
	}
	if j.UserIDs == nil {
		j.UserIDs = []string{}
	}
	if j.Releases == nil {
		j.Releases = map[string]uint64{}
	}
	for i, h := range g.Hourly {
		j.Hourly[i] = h.Count
	}
	if len(g.Hourly) > 0 {
		j.HourStart = rfc(g.Hourly[0].Time)
	}
	for i, e := range g.Examples {
		j.Examples[i] = ExampleJSON{TraceID: e.TraceID, SpanID: e.SpanID, Time: rfc(time.Unix(0, e.Time)), User: e.User, Session: e.Session}
	}
	return j
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// ListResponse is the body of GET /api/clew/errors.
type ListResponse struct {
	Start    string      `json:"start"`
	End      string      `json:"end"`
	Groups   []GroupJSON `json:"groups"`
	Services []string    `json:"services"` // every service that has groups, for a filter
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	from, to, err := h.window(v)
	if err != nil {
		clewjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	limit := 100
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			clewjson.Error(w, http.StatusBadRequest, fmt.Sprintf("limit %q: want a positive integer", s))
			return
		}
		limit = min(n, maxLimit)
	}
	gs := h.groups.Groups(errgroups.Query{From: from, To: to, Service: v.Get("service"), Text: v.Get("q"), Limit: limit})
	out := ListResponse{Start: rfc(from), End: rfc(to), Groups: make([]GroupJSON, len(gs)), Services: h.groups.Services()}
	for i, g := range gs {
		out.Groups[i] = toJSON(g)
	}
	if out.Services == nil {
		out.Services = []string{}
	}
	_ = clewjson.Write(w, http.StatusOK, out)
}

func (h *handler) group(w http.ResponseWriter, r *http.Request) {
	from, to, err := h.window(r.URL.Query())
	if err != nil {
		clewjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	g, ok := h.groups.Group(r.PathValue("id"), from, to)
	if !ok {
		clewjson.Error(w, http.StatusNotFound, fmt.Sprintf("error group %q has no occurrences between %s and %s", r.PathValue("id"), rfc(from), rfc(to)))
		return
	}
	_ = clewjson.Write(w, http.StatusOK, toJSON(g))
}

// TraceJSON is one example trace of a group.
type TraceJSON struct {
	ExampleJSON
	Stored         bool   `json:"stored"` // false: dropped by sampling, expired, or not yet written
	RootService    string `json:"rootService,omitempty"`
	RootOperation  string `json:"rootOperation,omitempty"`
	DurationMicros int64  `json:"durationMicros,omitempty"`
	SpanCount      int    `json:"spanCount,omitempty"`
	ErrorSpans     int    `json:"errorSpans,omitempty"`
}

// TracesResponse is the body of GET /api/clew/errors/{id}/traces.
type TracesResponse struct {
	Traces []TraceJSON `json:"traces"`
}

func (h *handler) groupTraces(w http.ResponseWriter, r *http.Request) {
	from, to, err := h.window(r.URL.Query())
	if err != nil {
		clewjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	g, ok := h.groups.Group(r.PathValue("id"), from, to)
	if !ok {
		clewjson.Error(w, http.StatusNotFound, fmt.Sprintf("error group %q has no occurrences between %s and %s", r.PathValue("id"), rfc(from), rfc(to)))
		return
	}
	out := TracesResponse{Traces: []TraceJSON{}}
	seen := map[string]bool{}
	for _, e := range toJSON(g).Examples {
		if seen[e.TraceID] || len(out.Traces) >= maxTraceLookups {
			continue
		}
		seen[e.TraceID] = true
		t := TraceJSON{ExampleJSON: e}
		id, err := model.ParseTraceID(e.TraceID)
		if err == nil {
			spans, err := h.traces.GetTrace(r.Context(), id)
			switch {
			case err == nil:
				s := query.Summarize(spans)
				t.Stored, t.RootService, t.RootOperation = true, s.RootServiceName, s.RootOperationName
				t.DurationMicros, t.SpanCount, t.ErrorSpans = s.Duration().Microseconds(), s.SpanCount, s.ErrorSpanCount
			case errors.Is(err, query.ErrNotFound):
			default:
				h.logger.ErrorContext(r.Context(), "errors: reading trace", "trace", e.TraceID, "err", err)
				clewjson.Error(w, http.StatusInternalServerError, "cannot read traces")
				return
			}
		}
		out.Traces = append(out.Traces, t)
	}
	// Kept traces first, newest first within each.
	sort.SliceStable(out.Traces, func(i, j int) bool { return out.Traces[i].Stored && !out.Traces[j].Stored })
	_ = clewjson.Write(w, http.StatusOK, out)
}

// LookupResponse is the body of GET /api/clew/errors/lookup.
type LookupResponse struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Pattern   string `json:"pattern"`
	Service   string `json:"service"`
	Operation string `json:"operation"`
}

func (h *handler) lookup(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	tid, err := model.ParseTraceID(v.Get("traceID"))
	if err != nil {
		clewjson.Error(w, http.StatusBadRequest, "traceID: "+err.Error())
		return
	}
	sid, err := model.ParseSpanID(v.Get("spanID"))
	if err != nil {
		clewjson.Error(w, http.StatusBadRequest, "spanID: "+err.Error())
		return
	}
	spans, err := h.traces.GetTrace(r.Context(), tid)
	if errors.Is(err, query.ErrNotFound) {
		clewjson.Error(w, http.StatusNotFound, "trace not found")
		return
	}
	if err != nil {
		h.logger.ErrorContext(r.Context(), "errors: reading trace", "trace", tid.String(), "err", err)
		clewjson.Error(w, http.StatusInternalServerError, "cannot read the trace")
		return
	}
	for i := range spans {
		if spans[i].SpanID != sid {
			continue
		}
		occ, ok := errgroups.SpanOccurrence(&spans[i])
		if !ok {
			clewjson.Error(w, http.StatusNotFound, "the span is not an error occurrence")
			return
		}
		_ = clewjson.Write(w, http.StatusOK, LookupResponse{ID: errgroups.Fingerprint(occ), Type: occ.Type,
			Pattern: errgroups.NormalizeMessage(occ.Message), Service: occ.Service, Operation: occ.Operation})
		return
	}
	clewjson.Error(w, http.StatusNotFound, "span not found in the trace")
}

// window reads start and end (RFC 3339 or Unix microseconds); the default
// is the 24 hours before now.
func (h *handler) window(v url.Values) (time.Time, time.Time, error) {
	to := h.now().UTC()
	from := to.Add(-defaultWindow)
	if s := v.Get("end"); s != "" {
		t, err := clewjson.ParseTime("end", s)
		if err != nil {
			return from, to, err
		}
		to = t
		if v.Get("start") == "" {
			from = to.Add(-defaultWindow)
		}
	}
	if s := v.Get("start"); s != "" {
		t, err := clewjson.ParseTime("start", s)
		if err != nil {
			return from, to, err
		}
		from = t
	}
	if !to.After(from) {
		return from, to, fmt.Errorf("end %s is not after start %s", rfc(to), rfc(from))
	}
	if to.Sub(from) > errgroups.MaxHours*time.Hour {
		return from, to, fmt.Errorf("window of %s is longer than the %d hours allowed", to.Sub(from), errgroups.MaxHours)
	}
	return from, to, nil
}
