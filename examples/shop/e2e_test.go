package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// spanSpec names one span a trace must contain.
type spanSpec struct{ service, op, kind string }

// placeOrderSpans is what one successful "Place order" produces below the
// client's root span.
func placeOrderSpans() []spanSpec {
	return []spanSpec{
		{"gateway", "POST /api/orders", "server"},
		{"gateway", "POST /check", "client"},
		{"auth", "POST /check", "server"},
		{"gateway", "POST /orders", "client"},
		{"orders", "POST /orders", "server"},
		{"orders", "INSERT orders", "client"},
		{"orders", "POST /shipments", "client"},
		{"orders", "UPDATE orders", "client"},
		{"shipping", "POST /shipments", "server"},
		{"shipping", "POST /v2/bookings", "client"},
		{"partner", "POST /v2/bookings", "server"},
		{"shipping", "send shop.email.confirmation", "producer"},
		{"worker", "process shop.email.*", "consumer"},
		{"worker", "send confirmation e-mail", ""},
	}
}

// complete reports whether every wanted span arrived and all are connected.
func complete(want []spanSpec) func(*jTrace) bool {
	return func(tr *jTrace) bool {
		for _, w := range want {
			if !tr.has(w.service, w.op, w.kind) {
				return false
			}
		}
		return tr.connected()
	}
}

// checkPlaceOrder asserts what a successful order trace must show in Clew.
func checkPlaceOrder(t *testing.T, tr *jTrace, rootService, rootOp, user string) {
	t.Helper()
	roots, orphans := tr.roots()
	if len(roots) != 1 || tr.service(roots[0]) != rootService || roots[0].OperationName != rootOp {
		t.Errorf("want one root span %s %q, got %d roots:%s", rootService, rootOp, len(roots), tr.describe())
	}
	if len(orphans) > 0 {
		t.Errorf("%d spans have a parent missing from the trace:%s", len(orphans), tr.describe())
	}
	for _, w := range placeOrderSpans() {
		if !tr.has(w.service, w.op, w.kind) {
			t.Errorf("no %s span %q (kind %q):%s", w.service, w.op, w.kind, tr.describe())
		}
	}
	for _, s := range tr.Spans {
		if s.failed() {
			t.Errorf("%s span %q failed", tr.service(s), s.OperationName)
		}
	}
	for _, s := range tr.spans("gateway", "POST /api/orders", "server") {
		if got, _ := s.tag("enduser.id"); got != user {
			t.Errorf("gateway server span enduser.id = %q, want %q", got, user)
		}
		if got, _ := s.tag("session.id"); got == "" {
			t.Error("gateway server span has no session.id")
		}
	}
	// session.id travelled as baggage all the way to the worker.
	for _, s := range tr.spans("worker", "send confirmation e-mail", "") {
		if got, _ := s.tag("session.id"); got == "" {
			t.Error("worker span has no session.id from baggage")
		}
	}
	for _, s := range tr.spans("orders", "INSERT orders", "client") {
		if sys, _ := s.tag("db.system.name"); sys != "sqlite" {
			t.Errorf("db span db.system.name = %q, want sqlite", sys)
		}
		if q, _ := s.tag("db.query.text"); !strings.HasPrefix(q, "INSERT INTO orders") || strings.Contains(q, user) {
			t.Errorf("db span db.query.text = %q, want the parameterised INSERT", q)
		}
	}
}

func login(t *testing.T, c *testClient, shop *Shop, user string) string {
	t.Helper()
	ctx, span := c.tracer.Start(context.Background(), "click Log in")
	defer span.End()
	var resp loginResponse
	if err := callJSON(ctx, c.http, "gateway", http.MethodPost, shop.GatewayURL()+"/api/login", "/api/login", nil, loginRequest{Username: user}, &resp); err != nil {
		t.Fatalf("login: %v", err)
	}
	return resp.Token
}

// placeOrder runs one "Place order" under a client root span and returns the
// trace ID and the gateway's answer.
func placeOrder(t *testing.T, c *testClient, shop *Shop, token, forceFail string) (string, error) {
	t.Helper()
	ctx, root := c.tracer.Start(context.Background(), "click Place order")
	hdr := http.Header{"Authorization": {"Bearer " + token}}
	if forceFail != "" {
		hdr.Set("X-Demo-Fail", forceFail)
	}
	err := callJSON(ctx, c.http, "gateway", http.MethodPost, shop.GatewayURL()+"/api/orders", "/api/orders", hdr,
		placeOrderRequest{Item: "teapot", Quantity: 2}, nil)
	root.End()
	return root.SpanContext().TraceID().String(), err
}

func TestPlaceOrderEndToEnd(t *testing.T) {
	clew := startClew(t)
	shop := startShop(t, clew)
	client := newTestClient(t, clew)
	token := login(t, client, shop, "alice")

	t.Run("success", func(t *testing.T) {
		traceID, err := placeOrder(t, client, shop, token, "")
		if err != nil {
			t.Fatalf("place order: %v", err)
		}
		want := append(placeOrderSpans(), spanSpec{"e2e-client", "click Place order", ""})
		tr := waitForTrace(t, clew.Query, traceID, complete(want))
		t.Logf("trace %s:%s", traceID, tr.describe())
		checkPlaceOrder(t, tr, "e2e-client", "click Place order", "alice")
	})

	t.Run("auth failure", func(t *testing.T) {
		traceID, err := placeOrder(t, client, shop, token, "auth")
		checkStatus(t, err, http.StatusBadGateway)
		tr := waitForTrace(t, clew.Query, traceID, complete([]spanSpec{
			{"e2e-client", "click Place order", ""},
			{"gateway", "POST /api/orders", "server"},
			{"gateway", "POST /check", "client"},
			{"auth", "POST /check", "server"},
		}))
		checkFailed(t, tr,
			spanSpec{"auth", "POST /check", "server"},
			spanSpec{"gateway", "POST /api/orders", "server"},
		)
		if tr.has("orders", "", "") {
			t.Errorf("orders was called although auth failed:%s", tr.describe())
		}
		for _, s := range tr.spans("auth", "POST /check", "server") {
			if d, _ := s.tag("demo.fail"); d != "auth" {
				t.Errorf("auth span demo.fail = %q, want auth (from baggage)", d)
			}
		}
	})

	t.Run("partner failure", func(t *testing.T) {
		traceID, err := placeOrder(t, client, shop, token, "partner")
		checkStatus(t, err, http.StatusBadGateway)
		tr := waitForTrace(t, clew.Query, traceID, complete([]spanSpec{
			{"e2e-client", "click Place order", ""},
			{"gateway", "POST /api/orders", "server"},
			{"auth", "POST /check", "server"},
			{"orders", "POST /orders", "server"},
			{"orders", "UPDATE orders", "client"},
			{"shipping", "POST /shipments", "server"},
			{"shipping", "POST /v2/bookings", "client"},
			{"partner", "POST /v2/bookings", "server"},
		}))
		checkFailed(t, tr,
			spanSpec{"partner", "POST /v2/bookings", "server"},
			spanSpec{"shipping", "POST /shipments", "server"},
			spanSpec{"orders", "POST /orders", "server"},
			spanSpec{"gateway", "POST /api/orders", "server"},
		)
		for _, s := range tr.spans("auth", "POST /check", "server") {
			if s.failed() {
				t.Error("auth failed although only the partner should")
			}
		}
		if tr.has("worker", "", "") || tr.has("shipping", "send shop.email.confirmation", "") {
			t.Errorf("an e-mail was queued for a failed order:%s", tr.describe())
		}
	})
}

func checkStatus(t *testing.T, err error, want int) {
	t.Helper()
	var ue *upstreamError
	if !errors.As(err, &ue) || ue.Status != want {
		t.Fatalf("gateway answered %v, want status %d", err, want)
	}
}

// checkFailed asserts that each listed span has an Error status and an
// exception event in Clew's legacy model.
func checkFailed(t *testing.T, tr *jTrace, want ...spanSpec) {
	t.Helper()
	if roots, orphans := tr.roots(); len(roots) != 1 || len(orphans) != 0 {
		t.Errorf("want one root and no orphans:%s", tr.describe())
	}
	for _, w := range want {
		spans := tr.spans(w.service, w.op, w.kind)
		if len(spans) == 0 {
			t.Errorf("no %s span %q:%s", w.service, w.op, tr.describe())
		}
		for _, s := range spans {
			if !s.failed() {
				t.Errorf("%s span %q: want error=true and otel.status_code=ERROR, tags %v", w.service, w.op, s.Tags)
			}
			if !s.hasException() {
				t.Errorf("%s span %q: no exception event, logs %v", w.service, w.op, s.Logs)
			}
		}
	}
}
