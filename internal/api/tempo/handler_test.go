package tempo

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query"
	"github.com/clewtrace/clew/internal/store"
)

// testTraces are gateway → cart → db trees; some db spans fail, some cart
// spans call db twice.
func testTraces(now time.Time, n int) [][]model.Span {
	r := rand.New(rand.NewSource(1))
	res := map[string]*model.Resource{}
	for _, s := range []string{"gateway", "cart", "db"} {
		res[s] = &model.Resource{ServiceName: s, Attributes: []model.Attribute{{Key: "service.name", Value: model.StringValue(s)}}}
	}
	scope := &model.Scope{Name: "test"}
	var out [][]model.Span
	for i := 0; i < n; i++ {
		var tid model.TraceID
		binary.BigEndian.PutUint64(tid[8:], uint64(i+1))
		start := now.Add(-time.Duration(i) * 10 * time.Second).UnixNano()
		mk := func(k int, parent model.SpanID, svc, name string, kind model.SpanKind, d time.Duration) model.Span {
			var sid model.SpanID
			binary.BigEndian.PutUint64(sid[:], uint64(i*10+k+1))
			return model.Span{TraceID: tid, SpanID: sid, ParentSpanID: parent, Name: name, Kind: kind,
				StartUnixNano: start + int64(k)*1e6, EndUnixNano: start + int64(k)*1e6 + int64(d),
				Resource: res[svc], Scope: scope,
				Attributes: []model.Attribute{{Key: "http.status_code", Value: model.IntValue(200)}}}
		}
		gw := mk(0, model.SpanID{}, "gateway", "GET /cart", model.KindServer, 300*time.Millisecond)
		cart := mk(1, gw.SpanID, "cart", "load", model.KindServer, 200*time.Millisecond)
		spans := []model.Span{gw, cart}
		for k := 0; k < 1+r.Intn(2); k++ {
			db := mk(2+k, cart.SpanID, "db", "SELECT", model.KindClient, time.Duration(r.Intn(100))*time.Millisecond)
			if r.Intn(4) == 0 {
				db.StatusCode = model.StatusError
				db.Attributes[0].Value = model.IntValue(500)
			}
			spans = append(spans, db)
		}
		out = append(out, spans)
	}
	return out
}

type fixture struct {
	srv    *httptest.Server
	traces [][]model.Span
	now    time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	now := time.Now().Truncate(time.Second)
	traces := testTraces(now, 120)
	for _, sp := range traces {
		if _, err := st.ConsumeTraces(ctx, model.ToTraces(sp)); err != nil {
			t.Fatal(err)
		}
	}
	h := newHandler(query.NewService(st), BuildInfo{Version: "test"}, nil, func() time.Time { return now.Add(time.Minute) })
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, traces: traces, now: now}
}

func (f *fixture) get(t *testing.T, path string, accept string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (f *fixture) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	code, b := f.get(t, path, "")
	if code != 200 {
		t.Fatalf("%s: %d %s", path, code, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v: %s", path, err, b)
	}
}

// sameShape checks that every key of want (a documented Tempo answer) is in
// got with the same JSON type, recursively (arrays: first elements).
func sameShape(t *testing.T, path string, want, got any) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Fatalf("%s: want an object, got %T", path, got)
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				t.Fatalf("%s.%s: missing", path, k)
			}
			sameShape(t, path+"."+k, wv, gv)
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			t.Fatalf("%s: want an array, got %T", path, got)
		}
		if len(w) > 0 && len(g) > 0 {
			sameShape(t, path+"[0]", w[0], g[0])
		}
	default:
		if fmt.Sprintf("%T", want) != fmt.Sprintf("%T", got) {
			t.Fatalf("%s: want %T, got %T (%v)", path, want, got, got)
		}
	}
}

func loadFixture(t *testing.T, name string) any {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestShapesMatchTempo(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct{ path, fixture string }{
		{`/api/search?q=` + urlq(`{ .service.name = "db" && span.http.status_code >= 500 }`), "search.json"},
		{"/api/v2/search/tags", "tags_v2.json"},
		{"/api/v2/search/tag/span.http.status_code/values", "tag_values_v2.json"},
		{"/api/metrics/query_range?q=" + urlq(`{ } | rate() by (resource.service.name)`) + "&step=60s", "query_range.json"},
		{"/api/metrics/query?q=" + urlq(`{ } | count_over_time() by (resource.service.name)`), "query_instant.json"},
		{"/api/status/buildinfo", "buildinfo.json"},
	} {
		var got any
		f.getJSON(t, c.path, &got)
		sameShape(t, c.fixture, loadFixture(t, c.fixture), got)
	}
	for path, body := range map[string]string{"/api/echo": "echo", "/ready": "ready"} {
		if code, b := f.get(t, path, ""); code != 200 || string(b) != body {
			t.Errorf("%s: %d %q", path, code, b)
		}
	}
}

func urlq(s string) string {
	return strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", " ", "%20", "#", "%23").Replace(s)
}

// searchIDs runs a TraceQL search and returns the trace IDs.
func (f *fixture) searchIDs(t *testing.T, q string, extra string) []string {
	var resp searchResponse
	f.getJSON(t, "/api/search?limit=1000&q="+urlq(q)+extra, &resp)
	var ids []string
	for _, tr := range resp.Traces {
		ids = append(ids, tr.TraceID)
	}
	sort.Strings(ids)
	return ids
}

func TestSearchMatchesBruteForce(t *testing.T) {
	f := newFixture(t)
	isDBErr := func(s *model.Span) bool { return s.Service() == "db" && s.StatusCode == model.StatusError }
	cases := map[string]func(sp []model.Span) bool{
		`{ .service.name = "gateway" } >> { status = error }`: func(sp []model.Span) bool {
			for i := range sp {
				if isDBErr(&sp[i]) {
					return true // every db span descends from the gateway root
				}
			}
			return false
		},
		`{ resource.service.name = "db" && span.http.status_code >= 500 }`: func(sp []model.Span) bool {
			for i := range sp {
				if isDBErr(&sp[i]) {
					return true
				}
			}
			return false
		},
		`{ .service.name = "db" } | count() > 1`: func(sp []model.Span) bool { return len(sp) > 3 },
		`{ name = "SELECT" } ~ { name = "SELECT" && status = error }`: func(sp []model.Span) bool {
			return len(sp) == 4 && (isDBErr(&sp[2]) || isDBErr(&sp[3]))
		},
		`{ .service.name = "cart" } !> { .service.name = "db" }`: func([]model.Span) bool { return false },
	}
	for q, want := range cases {
		var exp []string
		for _, sp := range f.traces {
			if want(sp) {
				exp = append(exp, sp[0].TraceID.String())
			}
		}
		sort.Strings(exp)
		got := f.searchIDs(t, q, "")
		if fmt.Sprint(got) != fmt.Sprint(exp) {
			t.Errorf("%s: got %d traces, want %d", q, len(got), len(exp))
		}
	}
	var resp searchResponse
	f.getJSON(t, "/api/search?limit=5&spss=1&q="+urlq(`{ .service.name = "db" }`), &resp)
	if len(resp.Traces) != 5 {
		t.Fatalf("limit 5: %d traces", len(resp.Traces))
	}
	for _, tr := range resp.Traces {
		if len(tr.SpanSet.Spans) != 1 || tr.SpanSet.Matched < 1 || tr.RootServiceName != "gateway" || tr.RootTraceName != "GET /cart" {
			t.Fatalf("spss=1: %+v", tr)
		}
		if a := tr.SpanSet.Spans[0].Attributes; len(a) != 1 || a[0].Key != "service.name" || *a[0].Value.StringValue != "db" {
			t.Fatalf("attributes: %+v", a)
		}
	}
	// Traces 0..9 started in the last 100 s.
	start, end := f.now.Add(-95*time.Second).Unix(), f.now.Add(time.Second).Unix()
	got := f.searchIDs(t, `{ }`, fmt.Sprintf("&start=%d&end=%d", start, end))
	if len(got) != 10 {
		t.Fatalf("time range: %d traces, want 10", len(got))
	}
	// The older tags form.
	f.getJSON(t, "/api/search?tags="+urlq(`service.name=db http.status_code=500`)+"&limit=1000", &resp)
	var exp int
	for _, sp := range f.traces {
		for i := range sp {
			if isDBErr(&sp[i]) {
				exp++
				break
			}
		}
	}
	if len(resp.Traces) != exp || exp == 0 {
		t.Fatalf("tags search: %d traces, want %d", len(resp.Traces), exp)
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	for path, want := range map[string]string{
		"/api/search?q=" + urlq(`{ .a = }`):                                         "position 8",
		"/api/search?q=" + urlq(`{ } | rate()`):                                     "metrics",
		"/api/search?limit=x&q={}":                                                  "limit",
		"/api/search?start=yesterday&q={}":                                          "start",
		"/api/traces/xyz":                                                           "invalid trace ID",
		"/api/v2/search/tags?scope=nope":                                            "invalid scope",
		"/api/v2/search/tag/" + urlq("span.") + "/values":                           "attribute name",
		"/api/metrics/query_range?q=" + urlq(`{ }`):                                 "not a metrics query",
		"/api/metrics/query_range?q=" + urlq(`{ } | rate()`) + "&step=1ms&since=1h": "steps",
		"/api/metrics/query_range":                                                  "required",
	} {
		code, b := f.get(t, path, "")
		if code != 400 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d %q, want 400 with %q", path, code, b, want)
		}
	}
	if code, _ := f.get(t, "/api/traces/0000000000000000000000000000abcd", ""); code != 404 {
		t.Errorf("unknown trace: %d", code)
	}
}

func TestTraceByID(t *testing.T) {
	f := newFixture(t)
	want := f.traces[3]
	id := want[0].TraceID.String()
	count := func(td ptrace.Traces) int { return td.SpanCount() }

	code, b := f.get(t, "/api/traces/"+id, "application/protobuf")
	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b)
	if code != 200 || err != nil || count(td) != len(want) {
		t.Fatalf("v1 protobuf: %d %v %d spans", code, err, count(td))
	}
	code, b = f.get(t, "/api/v2/traces/"+id, "application/protobuf")
	// TraceByIDResponse: field 1 holds the Trace.
	if code != 200 || len(b) < 2 || b[0] != 0x0a {
		t.Fatalf("v2 protobuf: %d % x", code, b[:min(len(b), 4)])
	}
	n, k := binary.Uvarint(b[1:])
	if td, err = (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b[1+k : 1+k+int(n)]); err != nil || count(td) != len(want) {
		t.Fatalf("v2 protobuf trace: %v", err)
	}
	code, b = f.get(t, "/api/traces/"+strings.TrimLeft(id, "0"), "application/json")
	var v1 struct {
		Batches []json.RawMessage `json:"batches"`
	}
	if code != 200 || json.Unmarshal(b, &v1) != nil || len(v1.Batches) == 0 {
		t.Fatalf("v1 json (short ID): %d %s", code, b)
	}
	code, b = f.get(t, "/api/v2/traces/"+id, "")
	var v2 struct {
		Trace json.RawMessage `json:"trace"`
	}
	if code != 200 || json.Unmarshal(b, &v2) != nil {
		t.Fatalf("v2 json: %d %s", code, b)
	}
	if td, err = (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(v2.Trace); err != nil || count(td) != len(want) {
		t.Fatalf("v2 json trace: %v", err)
	}
}

func TestTags(t *testing.T) {
	f := newFixture(t)
	var tags struct {
		Scopes []struct {
			Name string   `json:"name"`
			Tags []string `json:"tags"`
		} `json:"scopes"`
	}
	f.getJSON(t, "/api/v2/search/tags?scope=span", &tags)
	if len(tags.Scopes) != 1 || tags.Scopes[0].Name != "span" || fmt.Sprint(tags.Scopes[0].Tags) != "[http.status_code]" {
		t.Fatalf("%+v", tags)
	}
	type vals struct {
		TagValues []struct{ Type, Value string } `json:"tagValues"`
	}
	var v vals
	f.getJSON(t, "/api/v2/search/tag/resource.service.name/values", &v)
	if fmt.Sprint(v.TagValues) != "[{string cart} {string db} {string gateway}]" {
		t.Fatalf("services: %+v", v)
	}
	f.getJSON(t, "/api/v2/search/tag/span.http.status_code/values?q="+urlq(`{ .service.name = "db" && status = error }`), &v)
	if fmt.Sprint(v.TagValues) != "[{int 500}]" {
		t.Fatalf("filtered values: %+v", v)
	}
	f.getJSON(t, "/api/v2/search/tag/status/values", &v)
	if fmt.Sprint(v.TagValues) != "[{keyword error} {keyword ok} {keyword unset}]" {
		t.Fatalf("status: %+v", v)
	}
	var v1 struct {
		TagNames []string `json:"tagNames"`
	}
	f.getJSON(t, "/api/search/tags", &v1)
	if fmt.Sprint(v1.TagNames) != "[http.status_code service.name]" {
		t.Fatalf("v1 tags: %v", v1)
	}
}

func TestMetricsEndpoints(t *testing.T) {
	f := newFixture(t)
	var resp struct {
		Series []struct {
			Labels     []keyValue `json:"labels"`
			Samples    []sample   `json:"samples"`
			PromLabels string     `json:"promLabels"`
		} `json:"series"`
	}
	start, end := f.now.Add(-30*time.Minute), f.now.Add(time.Minute)
	f.getJSON(t, fmt.Sprintf("/api/metrics/query_range?q=%s&start=%d&end=%d&step=60", urlq(`{ status = error } | count_over_time() by (resource.service.name)`), start.Unix(), end.Unix()), &resp)
	var exp int
	for _, sp := range f.traces {
		for i := range sp {
			if sp[i].StatusCode == model.StatusError && sp[i].StartUnixNano >= start.UnixNano() {
				exp++
			}
		}
	}
	if len(resp.Series) != 1 || resp.Series[0].PromLabels != `{resource.service.name="db"}` {
		t.Fatalf("%+v", resp.Series)
	}
	total := 0.0
	for _, s := range resp.Series[0].Samples {
		total += s.Value
	}
	if int(total) != exp || exp == 0 {
		t.Fatalf("counted %v errors, want %d", total, exp)
	}
	var inst struct {
		Series []struct {
			Value float64 `json:"value"`
		} `json:"series"`
	}
	f.getJSON(t, fmt.Sprintf("/api/metrics/query?q=%s&start=%d&end=%d", urlq(`{ status = error } | count_over_time()`), start.Unix(), end.Unix()), &inst)
	if len(inst.Series) != 1 || int(inst.Series[0].Value) != exp {
		t.Fatalf("instant: %+v, want %d", inst, exp)
	}
}

func TestMatchHandler(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	traces := testTraces(time.Now(), 4)
	for _, sp := range traces {
		if _, err := st.ConsumeTraces(ctx, model.ToTraces(sp)); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(NewMatchHandler(query.NewService(st), nil))
	defer srv.Close()
	sp := traces[0]
	var got struct {
		SpanIDs []string `json:"spanIDs"`
	}
	resp, err := http.Get(srv.URL + MatchPath + "traces/" + sp[0].TraceID.String() + "?q=" + urlq(`{ .service.name = "gateway" } >> { kind = client }`))
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	var want []string
	for i := range sp {
		if sp[i].Kind == model.KindClient {
			want = append(want, sp[i].SpanID.String())
		}
	}
	sort.Strings(want)
	if resp.StatusCode != 200 || fmt.Sprint(got.SpanIDs) != fmt.Sprint(want) {
		t.Fatalf("%d %v, want %v", resp.StatusCode, got.SpanIDs, want)
	}
	for path, code := range map[string]int{
		"traces/" + sp[0].TraceID.String() + "?q=" + urlq("{ nope }"): 400,
		"traces/zz?q={}": 400,
		"traces/0000000000000000000000000000dead?q={}": 404,
	} {
		resp, err := http.Get(srv.URL + MatchPath + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, code)
		}
	}
}
