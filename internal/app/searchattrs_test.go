package app

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Jaeger's storage integration queries "Scope Attributes" and "Link
// Attributes", sent by the OTel Go SDK and searched through the legacy API
// (tags) and api_v3 (query.attributes): four typed values held only by the
// span's instrumentation scope, or only by one of its links, find the trace
// — from the head, and from a block once the head is written out.
func TestScopeAndLinkAttributesAreSearchable(t *testing.T) {
	dir := t.TempDir()
	a := startApp(t, dir)
	addrs := a.Addrs()
	typed := []attribute.KeyValue{
		attribute.String("sameplaceattribute1", "sameplacevalue"),
		attribute.Int("sameplaceattribute2", 123),
		attribute.Bool("sameplaceattribute4", true),
		attribute.Float64("sameplaceattribute3", 72.5),
	}
	spanAttrs := trace.WithAttributes(attribute.String("sameplacetag1", "sameplacevalue"), attribute.Int("sameplacetag2", 123))

	scoped := provider(t, "query24-service", httpExporter(t, addrs.OTLPHTTP)).
		Tracer("testing-library", trace.WithInstrumentationVersion("1.1.1"), trace.WithInstrumentationAttributes(typed...))
	_, s := scoped.Start(context.Background(), "placeholder", spanAttrs)
	s.End()
	scopedID := s.SpanContext().TraceID().String()

	linked := provider(t, "query25-service", grpcExporter(t, addrs.OTLPGRPC)).Tracer("e2e")
	other := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{0xff}, SpanID: trace.SpanID{0xff}})
	_, l := linked.Start(context.Background(), "query25-operation", spanAttrs, trace.WithLinks(
		trace.Link{SpanContext: other, Attributes: append([]attribute.KeyValue{attribute.String("opentracing.ref_type", "child_of")}, typed...)},
		trace.Link{SpanContext: other, Attributes: []attribute.KeyValue{attribute.String("opentracing.ref_type", "follows_from")}},
	))
	l.End()
	linkedID := l.SpanContext().TraceID().String()

	base := "http://" + addrs.Query
	const tags = `{"sameplaceattribute1":"sameplacevalue","sameplaceattribute2":123,"sameplaceattribute3":72.5,"sameplaceattribute4":true}`
	const wrong = `{"sameplaceattribute1":"sameplacevalue","sameplaceattribute2":124}`
	window := url.Values{
		"query.start_time_min": {time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)},
		"query.start_time_max": {time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano)},
	}
	legacy := func(service, tags string) []string {
		var found jaegerResponse[[]jaegerTrace]
		getJSON(t, base+"/api/traces?"+url.Values{"service": {service}, "tags": {tags}}.Encode(), http.StatusOK, &found)
		var ids []string
		for _, tr := range found.Data {
			ids = append(ids, tr.TraceID)
		}
		return ids
	}
	v3 := func(service, attrs string) []string {
		q := url.Values{"query.service_name": {service}, "query.attributes": {attrs}}
		for k, v := range window {
			q[k] = v
		}
		resp, err := http.Get(base + "/api/v3/traces?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound { // api_v3's "no traces"
			return nil
		}
		var out struct {
			Result struct {
				ResourceSpans []struct {
					ScopeSpans []struct {
						Spans []struct {
							TraceID string `json:"traceId"`
						} `json:"spans"`
					} `json:"scopeSpans"`
				} `json:"resourceSpans"`
			} `json:"result"`
		}
		getJSON(t, base+"/api/v3/traces?"+q.Encode(), http.StatusOK, &out)
		seen := map[string]bool{}
		var ids []string
		for _, rs := range out.Result.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					if !seen[sp.TraceID] {
						seen[sp.TraceID] = true
						ids = append(ids, sp.TraceID)
					}
				}
			}
		}
		return ids
	}
	check := func(where string) {
		t.Helper()
		for _, api := range []struct {
			name   string
			search func(service, attrs string) []string
		}{{"legacy", legacy}, {"api_v3", v3}} {
			if got := api.search("query24-service", tags); len(got) != 1 || got[0] != scopedID {
				t.Errorf("%s, %s, scope attributes: traces %v, want [%s]", where, api.name, got, scopedID)
			}
			if got := api.search("query25-service", tags); len(got) != 1 || got[0] != linkedID {
				t.Errorf("%s, %s, link attributes: traces %v, want [%s]", where, api.name, got, linkedID)
			}
			if got := api.search("query24-service", `{"otel.scope.name":"testing-library","otel.scope.version":"1.1.1"}`); len(got) != 1 || got[0] != scopedID {
				t.Errorf("%s, %s, scope name and version: traces %v, want [%s]", where, api.name, got, scopedID)
			}
			if got := api.search("query25-service", `{"opentracing.ref_type":"follows_from"}`); len(got) != 1 || got[0] != linkedID {
				t.Errorf("%s, %s, second link: traces %v, want [%s]", where, api.name, got, linkedID)
			}
			for _, svc := range []string{"query24-service", "query25-service"} {
				if got := api.search(svc, wrong); len(got) != 0 {
					t.Errorf("%s, %s, %s with a wrong value: traces %v, want none", where, api.name, svc, got)
				}
			}
		}
	}
	check("head")
	if err := a.store.Maintain(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if n := blockSpans(t, dir); n != 2 {
		t.Fatalf("blocks hold %d spans after a forced cut, want 2", n)
	}
	check("block")
}

// blockSpans sums the span counts of the block metas under dir.
func blockSpans(t *testing.T, dir string) (n int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "meta.json" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var m struct {
			SpanCount int `json:"spanCount"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		n += m.SpanCount
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
