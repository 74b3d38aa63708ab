package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/api/clewapi"
	"github.com/clewtrace/clew/internal/api/jaeger"
	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query"
)

// appQuerier is everything the composed app reads through.
type appQuerier interface {
	jaeger.Querier
	clewapi.Querier
}

// newTestApp serves the UI the way the application wires it: Clew's API at
// /api/clew/, Jaeger's at /api/, the UI for everything else. It is the one
// place to swap in the real application once it exists.
func newTestApp(t *testing.T, q appQuerier) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(clewapi.Prefix, clewapi.NewHandler(q, nil))
	mux.Handle("/api/", jaeger.NewHandler(q, nil))
	mux.Handle("/", Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// memQuerier answers from traces held in memory with TraceQuery's
// semantics, enough for the UI's requests.
type memQuerier struct {
	traces map[model.TraceID][]model.Span
}

var _ appQuerier = (*memQuerier)(nil)

func newMemQuerier(traces ...[]model.Span) *memQuerier {
	q := &memQuerier{traces: map[model.TraceID][]model.Span{}}
	for _, tr := range traces {
		q.traces[tr[0].TraceID] = tr
	}
	return q
}

func (q *memQuerier) Services(context.Context) ([]string, error) {
	set := map[string]bool{}
	for _, tr := range q.traces {
		for i := range tr {
			set[tr[i].Service()] = true
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}

func (q *memQuerier) Operations(_ context.Context, service, kind string) ([]query.Operation, error) {
	seen := map[query.Operation]bool{}
	var out []query.Operation
	for _, tr := range q.traces {
		for i := range tr {
			op := query.Operation{Name: tr[i].Name, SpanKind: tr[i].Kind.String()}
			if tr[i].Service() == service && (kind == "" || kind == op.SpanKind) && !seen[op] {
				seen[op] = true
				out = append(out, op)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (q *memQuerier) FindTraces(_ context.Context, tq query.TraceQuery) ([][]model.Span, error) {
	var out [][]model.Span
	for _, tr := range q.traces {
		for i := range tr {
			if spanMatches(&tr[i], tq) {
				out = append(out, tr)
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return query.Summarize(out[i]).StartUnixNano > query.Summarize(out[j]).StartUnixNano
	})
	limit := tq.Limit
	if limit <= 0 {
		limit = query.DefaultLimit
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func spanMatches(s *model.Span, tq query.TraceQuery) bool {
	if tq.ServiceName != "" && s.Service() != tq.ServiceName ||
		tq.OperationName != "" && s.Name != tq.OperationName ||
		tq.DurationMin > 0 && s.Duration() < tq.DurationMin ||
		tq.DurationMax > 0 && s.Duration() > tq.DurationMax ||
		!tq.StartTimeMin.IsZero() && s.StartUnixNano < tq.StartTimeMin.UnixNano() ||
		!tq.StartTimeMax.IsZero() && s.StartUnixNano > tq.StartTimeMax.UnixNano() {
		return false
	}
	for k, v := range tq.Attributes {
		if k == "error" && v == "true" && s.IsError() {
			continue
		}
		got, ok := model.Lookup(s.Attributes, k)
		if !ok {
			got, ok = model.Lookup(s.Resource.Attributes, k)
		}
		if !ok || got.String() != v {
			return false
		}
	}
	return true
}

func (q *memQuerier) GetTrace(_ context.Context, id model.TraceID) ([]model.Span, error) {
	tr, ok := q.traces[id]
	if !ok {
		return nil, fmt.Errorf("trace %s: %w", id, query.ErrNotFound)
	}
	return tr, nil
}

func (q *memQuerier) Dependencies(_ context.Context, endTs time.Time, lookback time.Duration) ([]query.Dependency, error) {
	type edge struct{ p, c string }
	counts := map[edge]*query.Dependency{}
	for _, tr := range q.traces {
		byID := map[model.SpanID]*model.Span{}
		for i := range tr {
			byID[tr[i].SpanID] = &tr[i]
		}
		for i := range tr {
			s := &tr[i]
			p, ok := byID[s.ParentSpanID]
			if !ok || p.Service() == s.Service() || s.StartUnixNano > endTs.UnixNano() || s.StartUnixNano < endTs.Add(-lookback).UnixNano() {
				continue
			}
			e := edge{p.Service(), s.Service()}
			d := counts[e]
			if d == nil {
				d = &query.Dependency{Parent: e.p, Child: e.c}
				counts[e] = d
			}
			d.CallCount++
			if s.IsError() {
				d.ErrorCount++
			}
		}
	}
	out := make([]query.Dependency, 0, len(counts))
	for _, d := range counts {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Parent+out[i].Child < out[j].Parent+out[j].Child })
	return out, nil
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
