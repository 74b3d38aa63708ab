package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/clewtrace/clew/kit/kitjwt"
)

// version is reported as service.version by every demo service.
const version = "0.1.0"

// Config is everything the shop needs; main fills it from flags.
type Config struct {
	// Listen is the address of the page served to browsers.
	Listen string
	// OTLPGRPC is Clew's OTLP/gRPC host:port, for the Go services.
	OTLPGRPC string
	// OTLPHTTP is Clew's OTLP/HTTP base URL as the browser reaches it.
	OTLPHTTP string
	// ClewUI is Clew's UI as the browser reaches it (for "open in Clew" links).
	ClewUI string
	// AMQPURL selects RabbitMQ instead of the embedded NATS server.
	AMQPURL string

	AuthFailureRate    float64
	PartnerFailureRate float64
	PartnerSlowRate    float64
	// WorkerBounceRate is the share of confirmation e-mails that bounce:
	// the order succeeded, the failure happens after the queue hop.
	WorkerBounceRate float64

	// JWTSecret signs and verifies tokens (auth and gateway share it).
	// Empty: a random secret per run.
	JWTSecret []byte
	// BatchTimeout is how long spans and logs wait before export.
	BatchTimeout time.Duration
	// OTLPLogs also exports every service's logs to Clew.
	OTLPLogs bool
	// LogOutput receives the services' text logs (with trace_id/span_id).
	LogOutput io.Writer
	LogLevel  slog.Level
}

func (c *Config) validate() error {
	for name, r := range map[string]float64{
		"auth failure rate": c.AuthFailureRate, "partner failure rate": c.PartnerFailureRate, "partner slow rate": c.PartnerSlowRate,
		"worker bounce rate": c.WorkerBounceRate,
	} {
		if r < 0 || r > 1 {
			return fmt.Errorf("%s %v: must be between 0 and 1", name, r)
		}
	}
	if c.OTLPGRPC == "" {
		return errors.New("an OTLP/gRPC endpoint is required")
	}
	u, err := url.Parse(c.OTLPHTTP)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("OTLP/HTTP endpoint %q: want a URL such as http://localhost:4318", c.OTLPHTTP)
	}
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = time.Second
	}
	if c.LogOutput == nil {
		c.LogOutput = io.Discard
	}
	return nil
}

// Shop is the running demo: seven services, each with its own telemetry and
// (except the worker) its own HTTP server on a loopback port.
type Shop struct {
	cfg      Config
	tels     []*telemetry
	queue    jobQueue
	closeDB  func() error   // the orders database, closed after the servers
	servers  []*namedServer // start order: sinks first
	frontend *namedServer
	gateway  *namedServer
	log      *slog.Logger
	serveErr chan error
}

type namedServer struct {
	name string
	srv  *http.Server
	ln   net.Listener
}

func (n *namedServer) url() string { return "http://" + n.ln.Addr().String() }

// Start builds and starts every service. On error everything already
// started is stopped again.
func Start(ctx context.Context, cfg Config) (s *Shop, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if len(cfg.JWTSecret) == 0 {
		cfg.JWTSecret = make([]byte, 32)
		if _, err := rand.Read(cfg.JWTSecret); err != nil {
			return nil, fmt.Errorf("generating JWT secret: %w", err)
		}
	}
	s = &Shop{cfg: cfg, serveErr: make(chan error, 8)}
	defer func() {
		if err != nil {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			err = errors.Join(err, s.Shutdown(sctx))
		}
	}()

	tcfg := telemetryConfig{otlpEndpoint: cfg.OTLPGRPC, batchTimeout: cfg.BatchTimeout, otlpLogs: cfg.OTLPLogs, logOutput: cfg.LogOutput, logLevel: cfg.LogLevel}
	tel := map[string]*telemetry{}
	for _, name := range []string{"frontend", "gateway", "auth", "orders", "shipping", "partner", "worker"} {
		t, err := newTelemetry(ctx, tcfg, name, version)
		if err != nil {
			return s, err
		}
		s.tels = append(s.tels, t)
		tel[name] = t
	}
	s.log = tel["frontend"].log

	// Listeners first, so every service knows the others' addresses.
	listen := func(name, addr string) (*namedServer, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%s: listening on %s: %w", name, addr, err)
		}
		n := &namedServer{name: name, ln: ln}
		s.servers = append(s.servers, n)
		return n, nil
	}
	partner, err := listen("partner", "127.0.0.1:0")
	if err != nil {
		return s, err
	}
	shipping, err := listen("shipping", "127.0.0.1:0")
	if err != nil {
		return s, err
	}
	orders, err := listen("orders", "127.0.0.1:0")
	if err != nil {
		return s, err
	}
	auth, err := listen("auth", "127.0.0.1:0")
	if err != nil {
		return s, err
	}
	if s.gateway, err = listen("gateway", "127.0.0.1:0"); err != nil {
		return s, err
	}
	if s.frontend, err = listen("frontend", cfg.Listen); err != nil {
		return s, err
	}

	worker := &workerService{tel: tel["worker"], bounceRate: cfg.WorkerBounceRate}
	if cfg.AMQPURL != "" {
		s.queue, err = startAMQP(cfg.AMQPURL, tel["shipping"], worker)
	} else {
		s.queue, err = startNATS(tel["shipping"], worker)
	}
	if err != nil {
		return s, err
	}

	verifier := func(t *telemetry) (*kitjwt.Verifier, error) {
		v, err := kitjwt.NewVerifier(ctx, kitjwt.Config{
			HMACSecret: cfg.JWTSecret, Audience: tokenAudience, Issuer: tokenIssuer, Logger: t.log,
		})
		if err != nil {
			return nil, fmt.Errorf("%s: JWT verifier: %w", t.service, err)
		}
		return v, nil
	}
	authVerifier, err := verifier(tel["auth"])
	if err != nil {
		return s, err
	}
	gatewayVerifier, err := verifier(tel["gateway"])
	if err != nil {
		return s, err
	}

	partner.srv = newServer((&partnerService{tel: tel["partner"], failureRate: cfg.PartnerFailureRate, slowRate: cfg.PartnerSlowRate}).handler(), tel["partner"])
	shipping.srv = newServer((&shippingService{tel: tel["shipping"], client: tel["shipping"].client(), partnerURL: partner.url(), queue: s.queue}).handler(), tel["shipping"])
	db, err := openOrdersDB(ctx, tel["orders"])
	if err != nil {
		return s, err
	}
	orders.srv = newServer((&ordersService{tel: tel["orders"], db: db, client: tel["orders"].client(), shippingURL: shipping.url()}).handler(), tel["orders"])
	s.closeDB = db.db.Close
	auth.srv = newServer((&authService{tel: tel["auth"], secret: cfg.JWTSecret, verifier: authVerifier, failureRate: cfg.AuthFailureRate}).handler(), tel["auth"])
	s.gateway.srv = newServer((&gatewayService{
		tel: tel["gateway"], verifier: gatewayVerifier, client: tel["gateway"].client(),
		authURL: auth.url(), ordersURL: orders.url(), allowedOrigins: pageOrigins(s.frontend.ln.Addr()),
	}).handler(), tel["gateway"])
	page, err := newFrontend(frontendConfig{
		gatewayURL: s.gateway.url(), otlpTracesURL: strings.TrimRight(cfg.OTLPHTTP, "/") + "/v1/traces", clewUI: cfg.ClewUI, version: version,
	})
	if err != nil {
		return s, err
	}
	s.frontend.srv = newServer(page, tel["frontend"])

	for _, n := range s.servers {
		go func() {
			if err := n.srv.Serve(n.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.serveErr <- fmt.Errorf("%s: %w", n.name, err)
			}
		}()
	}
	s.log.InfoContext(ctx, "shop started", "page", s.FrontendURL(), "gateway", s.GatewayURL(), "otlp_grpc", cfg.OTLPGRPC, "otlp_http", cfg.OTLPHTTP)
	return s, nil
}

func newServer(h http.Handler, t *telemetry) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(t.log.Handler(), slog.LevelWarn),
	}
}

// pageOrigins lists the origins a browser may use for the shop page, for the
// gateway's CORS answer.
func pageOrigins(addr net.Addr) map[string]bool {
	port := addr.(*net.TCPAddr).Port
	return map[string]bool{
		fmt.Sprintf("http://127.0.0.1:%d", port): true,
		fmt.Sprintf("http://localhost:%d", port): true,
		fmt.Sprintf("http://[::1]:%d", port):     true,
	}
}

// FrontendURL is the page to open in a browser.
func (s *Shop) FrontendURL() string {
	u := s.frontend.url()
	// A wildcard listen address is not something to type into a browser.
	if tcp, ok := s.frontend.ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		u = fmt.Sprintf("http://127.0.0.1:%d", tcp.Port)
	}
	return u
}

// GatewayURL is the API entry point.
func (s *Shop) GatewayURL() string { return s.gateway.url() }

// Errors reports servers that stopped on their own.
func (s *Shop) Errors() <-chan error { return s.serveErr }

// Flush exports every service's buffered spans and logs.
func (s *Shop) Flush(ctx context.Context) error {
	var errs []error
	for _, t := range s.tels {
		errs = append(errs, t.flush(ctx))
	}
	return errors.Join(errs...)
}

// Shutdown stops the sources first (page, gateway ... partner), then the
// queue and database, then flushes telemetry. Safe on a partly started shop.
func (s *Shop) Shutdown(ctx context.Context) error {
	var errs []error
	for i := len(s.servers) - 1; i >= 0; i-- {
		n := s.servers[i]
		if n.srv == nil {
			errs = append(errs, ignoreClosed(n.ln.Close()))
			continue
		}
		if err := n.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.name, err))
		}
	}
	if s.queue != nil {
		errs = append(errs, s.queue.close(ctx))
	}
	if s.closeDB != nil {
		if err := s.closeDB(); err != nil {
			errs = append(errs, fmt.Errorf("closing orders database: %w", err))
		}
	}
	for _, t := range s.tels {
		errs = append(errs, t.shutdown(ctx))
	}
	return errors.Join(errs...)
}

func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
