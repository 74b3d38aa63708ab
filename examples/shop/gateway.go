package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/trace"

	"github.com/clewtrace/clew/kit/kitjwt"
)

// gatewayService is the API entry the browser and the load generator call.
// It verifies the JWT with kitjwt (so the server span carries enduser.id,
// user.roles and session.id, and session.id travels on as baggage), asks
// auth to check the token, then calls orders.
type gatewayService struct {
	tel            *telemetry
	verifier       *kitjwt.Verifier
	client         *http.Client
	authURL        string
	ordersURL      string
	allowedOrigins map[string]bool // CORS: the shop page's origins
}

func (s *gatewayService) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/login", s.login)
	protect := func(h http.HandlerFunc) http.Handler { return s.verifier.Middleware(h) }
	mux.Handle("GET /api/me", protect(s.me))
	mux.Handle("POST /api/orders", protect(s.placeOrder))
	mux.Handle("GET /api/orders/{id}/tracking", protect(s.tracking))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	// CORS outside the tracing middleware: preflights get no spans.
	return s.cors(s.tel.middleware()(withDemoFail(mux)))
}

// withDemoFail turns the X-Demo-Fail debug header into demo.fail baggage,
// which every downstream service sees. It keeps r's ServeMux pattern in
// sync, as kithttp asks of middlewares that call r.WithContext.
func withDemoFail(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Demo-Fail")))
		if v == "" {
			next.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		trace.SpanFromContext(ctx).SetAttributes(attribute.String(demoFailKey, v))
		if m, err := baggage.NewMemberRaw(demoFailKey, v); err == nil {
			if b, err := baggage.FromContext(ctx).SetMember(m); err == nil {
				ctx = baggage.ContextWithBaggage(ctx, b)
			}
		}
		r2 := r.WithContext(ctx)
		next.ServeHTTP(w, r2)
		if r.Pattern == "" {
			r.Pattern = r2.Pattern
		}
	})
}

func (s *gatewayService) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && s.allowedOrigins[origin] {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Demo-Fail, traceparent, tracestate, baggage")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *gatewayService) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := decodeBody(r, &req); err != nil {
		fail(w, r, s.tel.log, http.StatusBadRequest, err)
		return
	}
	var resp loginResponse
	if err := callJSON(r.Context(), s.client, "auth", http.MethodPost, s.authURL+"/login", "/login", nil, req, &resp); err != nil {
		failUpstream(w, r, s.tel.log, err)
		return
	}
	s.tel.log.InfoContext(r.Context(), "user logged in", "user", resp.User)
	writeJSON(w, http.StatusOK, resp)
}

// checkToken asks auth to confirm the token the gateway already verified
// (revocation, account state... in a real shop).
func (s *gatewayService) checkToken(ctx context.Context, r *http.Request) error {
	hdr := http.Header{"Authorization": r.Header.Values("Authorization")}
	return callJSON(ctx, s.client, "auth", http.MethodPost, s.authURL+"/check", "/check", hdr, nil, nil)
}

func (s *gatewayService) user(r *http.Request) string {
	id, _ := kitjwt.IdentityFromContext(r.Context())
	return id.UserID
}

func (s *gatewayService) me(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := s.checkToken(ctx, r); err != nil {
		failUpstream(w, r, s.tel.log, err)
		return
	}
	var orders []order
	if err := callJSON(ctx, s.client, "orders", http.MethodGet, s.ordersURL+"/users/"+url.PathEscape(s.user(r))+"/orders", "/users/{user}/orders", nil, nil, &orders); err != nil {
		failUpstream(w, r, s.tel.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": s.user(r), "orders": orders})
}

type placeOrderRequest struct {
	Item     string `json:"item"`
	Quantity int    `json:"quantity"`
}

func (s *gatewayService) placeOrder(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req placeOrderRequest
	if err := decodeBody(r, &req); err != nil {
		fail(w, r, s.tel.log, http.StatusBadRequest, err)
		return
	}
	if req.Item == "" || req.Quantity < 1 || req.Quantity > 100 {
		fail(w, r, s.tel.log, http.StatusBadRequest, errors.New("an order needs an item and a quantity from 1 to 100"))
		return
	}
	if err := s.checkToken(ctx, r); err != nil {
		failUpstream(w, r, s.tel.log, err)
		return
	}
	in := newOrderRequest{User: s.user(r), Item: req.Item, Quantity: req.Quantity}
	var placed placedOrder
	if err := callJSON(ctx, s.client, "orders", http.MethodPost, s.ordersURL+"/orders", "/orders", nil, in, &placed); err != nil {
		failUpstream(w, r, s.tel.log, err)
		return
	}
	s.tel.log.InfoContext(ctx, "order placed", "order", placed.ID, "user", in.User)
	writeJSON(w, http.StatusCreated, placed)
}

func (s *gatewayService) tracking(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := s.checkToken(ctx, r); err != nil {
		failUpstream(w, r, s.tel.log, err)
		return
	}
	u := s.ordersURL + "/orders/" + url.PathEscape(r.PathValue("id")) + "/tracking?user=" + url.QueryEscape(s.user(r))
	var t trackingInfo
	if err := callJSON(ctx, s.client, "orders", http.MethodGet, u, "/orders/{id}/tracking", nil, nil, &t); err != nil {
		failUpstream(w, r, s.tel.log, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}
