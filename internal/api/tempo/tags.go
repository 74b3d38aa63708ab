package tempo

import (
	"fmt"
	"net/http"
	"sort"

	"github.com/clewtrace/clew/internal/query"
	"github.com/clewtrace/clew/internal/traceql"
)

var tagScopes = map[string]bool{"": true, "all": true, "span": true, "resource": true, "event": true, "link": true, "instrumentation": true, "intrinsic": true}

// tagsV2 serves /api/v2/search/tags: {"scopes": [{"name", "tags"}], ...}.
func (h *handler) tagsV2(w http.ResponseWriter, r *http.Request) {
	scope := r.URL.Query().Get("scope")
	if !tagScopes[scope] {
		h.fail(w, r, http.StatusBadRequest, fmt.Errorf("invalid scope %q: want span, resource, event, link, instrumentation, intrinsic or all", scope))
		return
	}
	start, end, err := h.timeRange(r, 0)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, err)
		return
	}
	scopes, err := h.q.TagNames(r.Context(), scope, start, end)
	if err != nil {
		h.failQuery(w, r, err)
		return
	}
	type scopeJSON struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	out := struct {
		Scopes  []scopeJSON    `json:"scopes"`
		Metrics map[string]any `json:"metrics"`
	}{Scopes: []scopeJSON{}, Metrics: metricsOf(query.TraceQLStats{})}
	for _, s := range scopes {
		out.Scopes = append(out.Scopes, scopeJSON{Name: s.Name, Tags: s.Tags})
	}
	writeJSON(w, out)
}

// tagsV1 serves /api/search/tags: {"tagNames": [...]}, attribute keys of
// every scope without the scope.
func (h *handler) tagsV1(w http.ResponseWriter, r *http.Request) {
	start, end, err := h.timeRange(r, 0)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, err)
		return
	}
	scopes, err := h.q.TagNames(r.Context(), "all", start, end)
	if err != nil {
		h.failQuery(w, r, err)
		return
	}
	seen := map[string]bool{}
	names := []string{}
	for _, s := range scopes {
		if s.Name == "intrinsic" {
			continue
		}
		for _, t := range s.Tags {
			if !seen[t] {
				seen[t] = true
				names = append(names, t)
			}
		}
	}
	sort.Strings(names)
	writeJSON(w, map[string]any{"tagNames": names})
}

// tagValuesV2 serves /api/v2/search/tag/{name}/values with an optional
// TraceQL filter q: {"tagValues": [{"type", "value"}], ...}.
func (h *handler) tagValuesV2(w http.ResponseWriter, r *http.Request) {
	field, err := traceql.ParseField(r.PathValue("name"))
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, fmt.Errorf("invalid tag name %q: %w", r.PathValue("name"), err))
		return
	}
	vals, ok := h.tagValues(w, r, field)
	if !ok {
		return
	}
	type valueJSON struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	}
	out := struct {
		TagValues []valueJSON    `json:"tagValues"`
		Metrics   map[string]any `json:"metrics"`
	}{TagValues: []valueJSON{}, Metrics: metricsOf(query.TraceQLStats{})}
	for _, v := range vals {
		out.TagValues = append(out.TagValues, valueJSON{Type: v.TypeName(), Value: v.String()})
	}
	writeJSON(w, out)
}

// tagValuesV1 serves /api/search/tag/{name}/values: {"tagValues": [...]}
// for an unscoped attribute key.
func (h *handler) tagValuesV1(w http.ResponseWriter, r *http.Request) {
	field := &traceql.Attr{Name: r.PathValue("name")}
	if field.Name == "" {
		h.fail(w, r, http.StatusBadRequest, fmt.Errorf("empty tag name"))
		return
	}
	vals, ok := h.tagValues(w, r, field)
	if !ok {
		return
	}
	out := []string{}
	for _, v := range vals {
		out = append(out, v.String())
	}
	writeJSON(w, map[string]any{"tagValues": out})
}

func (h *handler) tagValues(w http.ResponseWriter, r *http.Request, field *traceql.Attr) ([]traceql.Value, bool) {
	start, end, err := h.timeRange(r, 0)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, err)
		return nil, false
	}
	var filter *traceql.Query
	// Grafana sends q="{}" or a partial query being typed; an empty filter
	// reads the catalogue.
	if src := r.URL.Query().Get("q"); src != "" && src != "{}" && src != "{ }" {
		if filter, err = parseQuery(src); err != nil {
			h.fail(w, r, http.StatusBadRequest, err)
			return nil, false
		}
		if filter.IsMetrics() {
			h.fail(w, r, http.StatusBadRequest, fmt.Errorf("q: a metrics query cannot filter tag values"))
			return nil, false
		}
	}
	vals, err := h.q.TagValues(r.Context(), field, filter, start, end)
	if err != nil {
		h.failQuery(w, r, err)
		return nil, false
	}
	return vals, true
}
