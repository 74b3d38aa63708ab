package tempo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"

	"github.com/clewtrace/clew/internal/api/recovery"
	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query"
	"github.com/clewtrace/clew/internal/traceql"
)

// Matcher evaluates a TraceQL query on one trace. *query.Service implements it.
type Matcher interface {
	MatchTraceQL(ctx context.Context, id model.TraceID, q *traceql.Query) (*traceql.Trace, []traceql.Set, error)
}

// MatchPath is where the application mounts NewMatchHandler on the query
// port (a Clew extension, not part of Tempo's API).
const MatchPath = "/api/clew/traceql/"

// NewMatchHandler serves GET /api/clew/traceql/traces/{traceID}?q=...:
// {"traceID", "spanIDs": [...], "spanSets": n}, the spans of the trace the
// query selects, so Clew's trace view can highlight them.
func NewMatchHandler(m Matcher, logger *slog.Logger) http.Handler {
	h := &handler{logger: logger}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+MatchPath+"traces/{traceID}", func(w http.ResponseWriter, r *http.Request) {
		id, err := model.ParseTraceID(r.PathValue("traceID"))
		if err != nil {
			h.fail(w, r, http.StatusBadRequest, fmt.Errorf("invalid trace ID %q", r.PathValue("traceID")))
			return
		}
		q, err := parseQuery(r.URL.Query().Get("q"))
		if err != nil {
			h.fail(w, r, http.StatusBadRequest, err)
			return
		}
		t, sets, err := m.MatchTraceQL(r.Context(), id, q)
		if errors.Is(err, query.ErrNotFound) {
			h.fail(w, r, http.StatusNotFound, errors.New("trace not found"))
			return
		}
		if err != nil {
			h.failQuery(w, r, err)
			return
		}
		seen := map[string]bool{}
		ids := []string{}
		for _, s := range sets {
			for _, i := range s.Spans {
				if id := t.Spans[i].SpanID.String(); !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
		}
		sort.Strings(ids)
		writeJSON(w, map[string]any{"traceID": id.String(), "spanIDs": ids, "spanSets": len(sets)})
	})
	return recovery.Wrap(mux, h.logger, h.fail)
}
