package ui_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/clewtrace/clew/internal/app/apptest"
	"github.com/clewtrace/clew/internal/config"
	"github.com/clewtrace/clew/internal/model"
)

// testApp is a whole Clew running in this process (internal/app, data in a
// temp dir), seeded over OTLP/HTTP like any instrumented service would.
type testApp struct {
	URL   string // query port: API + UI
	OTLP  string // OTLP/HTTP base URL
	GRPC  string // OTLP/gRPC host:port
	token string // query token, if the app requires one
}

// hangTimeout bounds every wait for the app to show what was sent. It only
// catches hangs: on a loaded shared machine a healthy wait can take many
// seconds, so it is generous, and no test asserts how fast anything is.
const hangTimeout = 2 * time.Minute

// newTestApp starts the real application on loopback ports and exports the
// given traces to it, then waits until every one is readable in full
// through the query API. The UI therefore sees exactly what it sees in
// production: the public HTTP API of the real store.
func newTestApp(t testing.TB, traces ...[]model.Span) *testApp {
	t.Helper()
	return newTestAppWith(t, nil, traces...)
}

// newTestAppWith is newTestApp with a configuration change (nil: none).
func newTestAppWith(t testing.TB, mutate func(*config.Config), traces ...[]model.Span) *testApp {
	t.Helper()
	var cfg config.Config
	a := apptest.Start(t, func(c *config.Config) {
		if mutate != nil {
			mutate(c)
		}
		cfg = *c
	})
	addrs := a.Addrs()
	ta := &testApp{URL: "http://" + addrs.Query, OTLP: "http://" + addrs.OTLPHTTP, GRPC: addrs.OTLPGRPC, token: cfg.QueryToken}
	for _, tr := range traces {
		// Batches keep each request well under the receiver's size limit
		// and exercise the store's merging of one trace's parts.
		for i := 0; i < len(tr); i += 2000 {
			body, err := ptraceotlp.NewExportRequestFromTraces(model.ToTraces(tr[i:min(i+2000, len(tr))])).MarshalProto()
			if err != nil {
				t.Fatal(err)
			}
			ta.post(t, "/v1/traces", body)
		}
	}
	for _, tr := range traces {
		ta.waitTrace(t, tr[0].TraceID.String(), len(tr))
	}
	return ta
}

// post sends one OTLP/HTTP protobuf request and requires a 200.
func (ta *testApp) post(t testing.TB, path string, body []byte) {
	t.Helper()
	resp, err := http.Post(ta.OTLP+path, "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, msg)
	}
}

// getJSON reads a query-API path into out and returns the status code.
func (ta *testApp) getJSON(t testing.TB, path string, out any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, ta.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ta.token != "" {
		req.Header.Set("Authorization", "Bearer "+ta.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

// waitTrace polls the query API (with a deadline) until the trace has all
// its spans: the acknowledgement of an export means durable, and this
// checks it is also readable.
func (ta *testApp) waitTrace(t testing.TB, id string, spans int) {
	t.Helper()
	deadline := time.Now().Add(hangTimeout)
	for got := 0; ; {
		var body struct {
			Data []struct {
				Spans []json.RawMessage `json:"spans"`
			} `json:"data"`
		}
		if ta.getJSON(t, "/api/traces/"+id, &body) == http.StatusOK && len(body.Data) == 1 {
			got = len(body.Data[0].Spans)
			if got == spans {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s: %d of %d spans readable after %v", id, got, spans, hangTimeout)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not synchronisation
	}
}

// seedLog is one log record for seedLogs.
type seedLog struct {
	service  string
	span     model.SpanID // zero: trace-level
	at       time.Time
	severity plog.SeverityNumber
	body     string
	attrs    []string // key, value, ...
}

// seedLogs exports log records of one trace over OTLP/HTTP and waits until
// the logs API counts them all.
func (ta *testApp) seedLogs(t *testing.T, trace model.TraceID, logs []seedLog) {
	t.Helper()
	ld := plog.NewLogs()
	byService := map[string]plog.LogRecordSlice{}
	for _, l := range logs {
		recs, ok := byService[l.service]
		if !ok {
			rl := ld.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr("service.name", l.service)
			rl.Resource().Attributes().PutStr("host.name", l.service+"-7f9c")
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName("log/slog")
			recs = sl.LogRecords()
			byService[l.service] = recs
		}
		r := recs.AppendEmpty()
		r.SetTimestamp(pcommon.NewTimestampFromTime(l.at))
		r.SetObservedTimestamp(pcommon.NewTimestampFromTime(l.at))
		r.SetTraceID(pcommon.TraceID(trace))
		r.SetSpanID(pcommon.SpanID(l.span))
		r.SetSeverityNumber(l.severity)
		r.SetSeverityText(map[plog.SeverityNumber]string{plog.SeverityNumberDebug: "DEBUG", plog.SeverityNumberInfo: "INFO", plog.SeverityNumberWarn: "WARN", plog.SeverityNumberError: "ERROR"}[l.severity])
		r.Body().SetStr(l.body)
		for i := 0; i+1 < len(l.attrs); i += 2 {
			r.Attributes().PutStr(l.attrs[i], l.attrs[i+1])
		}
	}
	body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	ta.post(t, "/v1/logs", body)
	deadline := time.Now().Add(hangTimeout)
	for {
		var c struct {
			Counts map[string]int `json:"counts"`
		}
		if ta.getJSON(t, "/api/clew/logs/count?traceID="+trace.String(), &c) == http.StatusOK && c.Counts[trace.String()] == len(logs) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s: logs API counts %v, want %d", trace, c.Counts, len(logs))
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not synchronisation
	}
}

// spanID finds the ID of the first span with the given operation name.
func spanID(t *testing.T, spans []model.Span, name string) model.SpanID {
	t.Helper()
	for i := range spans {
		if spans[i].Name == name {
			return spans[i].SpanID
		}
	}
	t.Fatalf("no span %q", name)
	return model.SpanID{}
}

// traceBuilder builds a trace by hand: spans are added with times in ms
// after the trace's start.
type traceBuilder struct {
	tid   model.TraceID
	start int64
	res   map[string]*model.Resource
	scope *model.Scope
	spans []model.Span
	next  uint64
}

func newTrace(idHex string, start time.Time) *traceBuilder {
	tid, err := model.ParseTraceID(idHex)
	if err != nil {
		panic(err)
	}
	return &traceBuilder{tid: tid, start: start.UnixNano(), res: map[string]*model.Resource{},
		scope: &model.Scope{Name: "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", Version: "0.70.0"}}
}

func (b *traceBuilder) resource(svc string) *model.Resource {
	r := b.res[svc]
	if r == nil {
		r = &model.Resource{ServiceName: svc, Attributes: []model.Attribute{
			{Key: "service.name", Value: model.StringValue(svc)},
			{Key: "host.name", Value: model.StringValue(svc + "-7f9c")},
			{Key: "telemetry.sdk.language", Value: model.StringValue("go")},
		}}
		b.res[svc] = r
	}
	return r
}

// add appends a span and returns its ID for use as a parent.
func (b *traceBuilder) add(parent model.SpanID, svc, name string, kind model.SpanKind, startMs, endMs float64, opts ...func(*model.Span)) model.SpanID {
	b.next++
	var id model.SpanID
	for i, v := 7, b.next|uint64(b.tid[15])<<40; i >= 0; i-- {
		id[i] = byte(v)
		v >>= 8
	}
	s := model.Span{
		TraceID: b.tid, SpanID: id, ParentSpanID: parent, Name: name, Kind: kind,
		StartUnixNano: b.start + int64(startMs*1e6), EndUnixNano: b.start + int64(endMs*1e6),
		Resource: b.resource(svc), Scope: b.scope,
	}
	for _, o := range opts {
		o(&s)
	}
	b.spans = append(b.spans, s)
	return id
}

func attrs(kv ...string) func(*model.Span) {
	return func(s *model.Span) {
		for i := 0; i+1 < len(kv); i += 2 {
			s.Attributes = append(s.Attributes, model.Attribute{Key: kv[i], Value: model.StringValue(kv[i+1])})
		}
	}
}

func failed(msg, stack string) func(*model.Span) {
	return func(s *model.Span) {
		s.StatusCode = model.StatusError
		s.StatusMessage = msg
		s.Events = append(s.Events, model.Event{TimeUnixNano: s.EndUnixNano - 1e6, Name: "exception", Attributes: []model.Attribute{
			{Key: "exception.type", Value: model.StringValue("PaymentDeclined")},
			{Key: "exception.message", Value: model.StringValue(msg)},
			{Key: "exception.stacktrace", Value: model.StringValue(stack)},
		}})
	}
}

func linkTo(tid model.TraceID, sid model.SpanID) func(*model.Span) {
	return func(s *model.Span) { s.Links = append(s.Links, model.Link{TraceID: tid, SpanID: sid}) }
}

// Seeded trace IDs.
const (
	checkoutID     = "c0ffee00000000000000000000000001"
	checkoutSlowID = "c0ffee00000000000000000000000002"
	inventoryID    = "c0ffee00000000000000000000000003"
)

// checkoutTrace is a browser page load whose first request starts 1.4 s
// late (a gap), fanning out to cart, payment (failing) and postgres.
// slow adds a retried payment and extra queries, for compare.
func checkoutTrace(idHex string, start time.Time, slow bool) []model.Span {
	b := newTrace(idHex, start)
	root := b.add(model.SpanID{}, "web-frontend", "page load /checkout", model.KindClient, 0, 2000,
		attrs("url.full", "https://shop.example/checkout", "user_agent.original", "Mozilla/5.0"))
	gw := b.add(root, "api-gateway", "POST /api/checkout", model.KindServer, 1400, 1950,
		attrs("http.request.method", "POST", "http.route", "/api/checkout", "http.response.status_code", "502"))
	cart := b.add(gw, "cart", "GetCart", model.KindServer, 1410, 1480, attrs("rpc.system.name", "grpc"))
	b.add(cart, "postgres", "SELECT cart_items", model.KindClient, 1420, 1470, attrs("db.system.name", "postgresql", "db.query.text", "SELECT * FROM cart_items WHERE cart_id = $1"))
	pay := b.add(gw, "payment", "Charge", model.KindServer, 1500, 1900,
		attrs("rpc.system.name", "grpc", "payment.amount", "42.00"),
		failed("card declined by issuer", "PaymentDeclined: card declined by issuer\n    at payment.charge (payment/charge.go:88)\n    at payment.(*Server).Charge (payment/server.go:41)\n    at grpc.(*Server).handle (server.go:1712)"))
	b.add(pay, "postgres", "INSERT payment_attempt", model.KindClient, 1510, 1560, attrs("db.system.name", "postgresql"))
	if slow {
		b.add(pay, "postgres", "INSERT payment_attempt", model.KindClient, 1600, 1700, attrs("db.system.name", "postgresql"))
		b.add(gw, "cart", "ReserveItems", model.KindServer, 1900, 1945)
	}
	b.add(root, "web-frontend", "render confirmation", model.KindInternal, 1955, 1995,
		linkTo(model.TraceID{15: 3, 0: 0xc0, 1: 0xff, 2: 0xee}, model.SpanID{7: 1}))
	return b.spans
}

func inventoryTrace(start time.Time) []model.Span {
	b := newTrace(inventoryID, start)
	r := b.add(model.SpanID{}, "inventory", "RestockJob", model.KindInternal, 0, 120)
	b.add(r, "postgres", "UPDATE stock", model.KindClient, 10, 100, attrs("db.system.name", "postgresql"))
	return b.spans
}

// bigTrace has n spans: a root with a fan-out tree, 4 children per span.
func bigTrace(idHex string, start time.Time, n int) []model.Span {
	b := newTrace(idHex, start)
	svcs := []string{"gateway", "orders", "stock", "billing", "search", "mailer"}
	type node struct {
		id         model.SpanID
		start, end float64
	}
	nodes := []node{{b.add(model.SpanID{}, "gateway", "GET /bulk", model.KindServer, 0, 10000), 0, 10000}}
	for i := 1; i < n; i++ {
		p := nodes[(i-1)/4]
		k := float64((i - 1) % 4)
		w := (p.end - p.start) / 4
		s, e := p.start+k*w+w*0.05, p.start+(k+1)*w-w*0.05
		svc := svcs[i%len(svcs)]
		id := b.add(p.id, svc, fmt.Sprintf("%s op %d", strings.ToUpper(svc[:1])+svc[1:], i%37), model.KindServer, s, e)
		nodes = append(nodes, node{id, s, e})
	}
	return b.spans
}
