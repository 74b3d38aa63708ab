package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// shippingService books parcels with the outside partner and queues the
// confirmation e-mail for the worker.
type shippingService struct {
	tel        *telemetry
	client     *http.Client
	partnerURL string
	queue      jobPublisher
}

type bookShipmentRequest struct {
	OrderID int64  `json:"order_id"`
	User    string `json:"user"`
	Item    string `json:"item"`
}

type shipmentBooked struct {
	Tracking string `json:"tracking"`
}

type shipmentStatus struct {
	Tracking string `json:"tracking"`
	Location string `json:"location"`
	ETA      string `json:"eta"`
}

// emailJob is the queued message; the trace context travels in its headers.
type emailJob struct {
	OrderID  int64  `json:"order_id"`
	User     string `json:"user"`
	Tracking string `json:"tracking"`
}

func (s *shippingService) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /shipments", s.book)
	mux.HandleFunc("GET /shipments/{tracking}", s.status)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	return s.tel.middleware()(mux)
}

func (s *shippingService) book(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req bookShipmentRequest
	if err := decodeBody(r, &req); err != nil {
		fail(w, r, s.tel.log, http.StatusBadRequest, err)
		return
	}
	var booked shipmentBooked
	in := map[string]any{"reference": fmt.Sprintf("order-%d", req.OrderID), "parcels": 1}
	if err := callJSON(ctx, s.client, "partner", http.MethodPost, s.partnerURL+"/v2/bookings", "/v2/bookings", nil, in, &booked); err != nil {
		failUpstream(w, r, s.tel.log, fmt.Errorf("booking with partner: %w", err))
		return
	}
	job := emailJob{OrderID: req.OrderID, User: req.User, Tracking: booked.Tracking}
	if err := s.queue.publish(ctx, job); err != nil {
		fail(w, r, s.tel.log, http.StatusInternalServerError, fmt.Errorf("queueing confirmation e-mail: %w", err))
		return
	}
	s.tel.log.InfoContext(ctx, "shipment booked", "order", req.OrderID, "tracking", booked.Tracking)
	writeJSON(w, http.StatusCreated, booked)
}

func (s *shippingService) status(w http.ResponseWriter, r *http.Request) {
	var st shipmentStatus
	u := s.partnerURL + "/v2/parcels/" + url.PathEscape(r.PathValue("tracking"))
	if err := callJSON(r.Context(), s.client, "partner", http.MethodGet, u, "/v2/parcels/{tracking}", nil, nil, &st); err != nil {
		failUpstream(w, r, s.tel.log, fmt.Errorf("asking partner for parcel status: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// errPartnerOverloaded is the partner's simulated outage.
var errPartnerOverloaded = errors.New("partner API overloaded, try again later")

// partnerService simulates the outside shipping partner's API: it fails
// with probability failureRate (always with demo.fail=partner) and is
// slow (0.5–2 s) with probability slowRate.
type partnerService struct {
	tel         *telemetry
	failureRate float64
	slowRate    float64
}

func (s *partnerService) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/bookings", s.booking)
	mux.HandleFunc("GET /v2/parcels/{tracking}", s.parcel)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	return s.tel.middleware()(mux)
}

// work simulates the partner's latency and failures; false means it has
// already answered the request with an error.
func (s *partnerService) work(w http.ResponseWriter, r *http.Request) bool {
	ctx := r.Context()
	d := jitter(5*time.Millisecond, 40*time.Millisecond)
	if shouldFail(ctx, "slow", s.slowRate) {
		d = jitter(500*time.Millisecond, 2*time.Second)
	}
	if err := pause(ctx, d, "partner processing"); err != nil {
		fail(w, r, s.tel.log, http.StatusGatewayTimeout, err)
		return false
	}
	if shouldFail(ctx, "partner", s.failureRate) {
		fail(w, r, s.tel.log, http.StatusServiceUnavailable, errPartnerOverloaded)
		return false
	}
	return true
}

func (s *partnerService) booking(w http.ResponseWriter, r *http.Request) {
	if !s.work(w, r) {
		return
	}
	tracking := fmt.Sprintf("PX%06d", rand.N(1000000))
	trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("partner.tracking", tracking))
	writeJSON(w, http.StatusCreated, shipmentBooked{Tracking: tracking})
}

func (s *partnerService) parcel(w http.ResponseWriter, r *http.Request) {
	if !s.work(w, r) {
		return
	}
	hubs := []string{"Leeds hub", "Rotterdam depot", "out for delivery", "Lyon sorting centre"}
	tracking := r.PathValue("tracking")
	h := 0
	for _, c := range tracking {
		h += int(c)
	}
	writeJSON(w, http.StatusOK, shipmentStatus{
		Tracking: tracking,
		Location: hubs[h%len(hubs)],
		ETA:      time.Now().Add(time.Duration(24+h%48) * time.Hour).Format("Mon 2 Jan"),
	})
}

// workerService consumes e-mail jobs and continues the order's trace.
type workerService struct {
	tel        *telemetry
	bounceRate float64
}

// errMailboxUnavailable is the mail server's answer for a bounce.
var errMailboxUnavailable = errors.New("550 mailbox unavailable")

// handle sends the confirmation e-mail (simulated). ctx carries the
// consumer span started by kitnats/kitamqp from the message headers.
func (s *workerService) handle(ctx context.Context, job emailJob) error {
	ctx, span := s.tel.tracer().Start(ctx, "send confirmation e-mail", trace.WithAttributes(
		attribute.Int64("shop.order.id", job.OrderID),
		attribute.String("shop.tracking", job.Tracking),
	))
	err := pause(ctx, jitter(10*time.Millisecond, 60*time.Millisecond), "rendering and sending e-mail")
	if err == nil && shouldFail(ctx, "bounce", s.bounceRate) {
		// The address differs per user; Clew's error grouping replaces it,
		// so every bounce is one group.
		err = fmt.Errorf("mail to %s@example.com bounced: %w", job.User, errMailboxUnavailable)
	}
	endSpan(span, err)
	if err != nil {
		s.tel.log.ErrorContext(ctx, "confirmation e-mail failed", "order", job.OrderID, "error", err)
		return err
	}
	s.tel.log.InfoContext(ctx, "confirmation e-mail sent", "order", job.OrderID, "user", job.User)
	return nil
}
