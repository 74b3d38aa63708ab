package block

import (
	"fmt"
	"math/rand/v2"

	"github.com/clewtrace/clew/internal/model"
)

// genSpans makes n realistic spans: traces of 5-20 spans across a handful
// of services (a few pods each), 8-15 attributes per span from a realistic
// vocabulary including high-cardinality user IDs and URL paths, and an
// exception event on errors. Deterministic for a seed. The format fixtures
// under testdata/ were written from genSpans(600, 20261130) and are checked
// against it: this generator must not change what it makes.
func genSpans(n int, seed uint64) []model.Span {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	services := []string{"frontend", "checkout", "cart", "payment", "shipping", "currency", "email", "recommendation"}
	var resources []*model.Resource
	for _, svc := range services {
		for pod := range 3 {
			resources = append(resources, &model.Resource{
				ServiceName: svc,
				SchemaURL:   "https://opentelemetry.io/schemas/1.26.0",
				Attributes: []model.Attribute{
					{Key: "service.name", Value: model.StringValue(svc)},
					{Key: "service.version", Value: model.StringValue("1.4.2")},
					{Key: "deployment.environment", Value: model.StringValue("production")},
					{Key: "host.name", Value: model.StringValue(fmt.Sprintf("node-%d", pod*3+len(svc)%3))},
					{Key: "k8s.pod.name", Value: model.StringValue(fmt.Sprintf("%s-7d9f8c-%05d", svc, pod*7919))},
					{Key: "telemetry.sdk.language", Value: model.StringValue("go")},
				},
			})
		}
	}
	scope := &model.Scope{Name: "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", Version: "0.60.0"}
	routes := []string{"/api/cart", "/api/checkout", "/api/products/{id}", "/api/users/{id}", "/api/orders/{id}", "/health", "/api/currency", "/api/recommendations"}
	methods := []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	stmts := []string{"SELECT * FROM carts WHERE user_id = ?", "UPDATE orders SET status = ? WHERE id = ?", "INSERT INTO payments (id, amount) VALUES (?, ?)", "SELECT id, name, price FROM products WHERE id IN (?)"}
	ops := []string{"HTTP GET", "HTTP POST", "GetCart", "PlaceOrder", "Charge", "ShipOrder", "Convert", "SendEmail", "ListRecommendations", "SELECT carts", "UPDATE orders", "redis GET"}
	peers := []string{"cart", "payment", "shipping", "postgres", "redis", "currency"}
	statuses := []int64{200, 200, 200, 200, 201, 204, 400, 404, 500, 503}

	spans := make([]model.Span, 0, n)
	t0 := int64(1_760_000_000_000_000_000)
	for len(spans) < n {
		var tid model.TraceID
		for i := range tid {
			tid[i] = byte(rng.Uint32())
		}
		count := min(5+rng.IntN(16), n-len(spans))
		start := t0 + rng.Int64N(3600e9)
		first := len(spans)
		for k := range count {
			var sid model.SpanID
			for i := range sid {
				sid[i] = byte(rng.Uint32())
			}
			s := model.Span{TraceID: tid, SpanID: sid, Flags: 1, Scope: scope}
			if k > 0 {
				s.ParentSpanID = spans[first+rng.IntN(k)].SpanID
			}
			s.Resource = resources[rng.IntN(len(resources))]
			s.Name = ops[rng.IntN(len(ops))]
			s.Kind = model.SpanKind(1 + rng.IntN(3))
			s.StartUnixNano = start + int64(k)*rng.Int64N(2e6)
			s.EndUnixNano = s.StartUnixNano + 1000 + rng.Int64N(rng.Int64N(500e6)+1)
			route := routes[rng.IntN(len(routes))]
			status := statuses[rng.IntN(len(statuses))]
			attrs := []model.Attribute{
				{Key: "http.method", Value: model.StringValue(methods[rng.IntN(len(methods))])},
				{Key: "http.route", Value: model.StringValue(route)},
				{Key: "http.status_code", Value: model.IntValue(status)},
				{Key: "url.path", Value: model.StringValue(fmt.Sprintf("%s/%d", route[:len(route)-5], rng.IntN(5000)))},
				{Key: "net.peer.name", Value: model.StringValue(peers[rng.IntN(len(peers))])},
				{Key: "user.id", Value: model.StringValue(fmt.Sprintf("u-%06d", rng.IntN(100000)))},
				{Key: "http.user_agent", Value: model.StringValue("Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0")},
				{Key: "net.peer.port", Value: model.IntValue(int64(8080 + rng.IntN(4)))},
			}
			extra := rng.IntN(8)
			if extra > 0 {
				attrs = append(attrs,
					model.Attribute{Key: "db.system", Value: model.StringValue([]string{"postgresql", "redis"}[rng.IntN(2)])},
					model.Attribute{Key: "db.statement", Value: model.StringValue(stmts[rng.IntN(len(stmts))])})
			}
			for e := 2; e < extra; e++ {
				attrs = append(attrs, model.Attribute{Key: fmt.Sprintf("app.attr%d", e), Value: model.IntValue(int64(rng.IntN(50)))})
			}
			s.Attributes = attrs
			if status >= 500 {
				s.StatusCode = model.StatusError
				s.StatusMessage = "upstream failed"
				s.Events = []model.Event{{
					TimeUnixNano: s.EndUnixNano - 100,
					Name:         "exception",
					Attributes: []model.Attribute{
						{Key: "exception.type", Value: model.StringValue("*net.OpError")},
						{Key: "exception.message", Value: model.StringValue("dial tcp: connection refused")},
					},
				}}
			}
			spans = append(spans, s)
		}
	}
	return spans
}
