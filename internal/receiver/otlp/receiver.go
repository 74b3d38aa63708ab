package otlp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/clewtrace/clew/internal/auth"
	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/listen"
	"github.com/clewtrace/clew/internal/receiver/ratelog"
)

// Receiver serves OTLP over gRPC and HTTP. Create it with New, then Start;
// Shutdown stops it. Its methods are safe for concurrent use.
type Receiver struct {
	cfg      Config
	origins  []originPattern
	traces   consumer.Traces
	logs     consumer.Logs // nil: logs are rejected with a partial success
	metrics  *receiverMetrics
	logger   *slog.Logger
	warns    *ratelog.Limiter // refusals are logged at most once per interval, and counted always
	inFlight *budget
	// receiving bounds the gRPC messages being read at once (gate.go).
	receiving *receiveGate
	token     auth.Token
	handler   http.Handler

	mu         sync.Mutex // guards the fields below
	started    bool
	stopped    bool
	grpcServer *grpc.Server
	httpServer *http.Server
	grpcLis    net.Listener
	httpLis    net.Listener
	serving    sync.WaitGroup // Serve goroutines
}

// New validates cfg and builds a Receiver that sends traces to traces and logs
// to logs (nil logs: log records are rejected as a partial success). Counters
// are registered on reg unless it is nil.
func New(cfg Config, traces consumer.Traces, logs consumer.Logs, reg prometheus.Registerer, logger *slog.Logger) (*Receiver, error) {
	if traces == nil {
		return nil, errors.New("otlp: traces consumer is required")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	origins := make([]originPattern, 0, len(cfg.CORSAllowedOrigins))
	for _, s := range cfg.CORSAllowedOrigins {
		p, err := parseOriginPattern(s)
		if err != nil {
			return nil, err
		}
		origins = append(origins, p)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	inFlight := newBudget(cfg.MaxInFlightBytes, cfg.MaxClientInFlightBytes)
	m, err := newReceiverMetrics(reg, func() float64 { return float64(inFlight.used.Load()) })
	if err != nil {
		return nil, err
	}
	r := &Receiver{
		cfg:      cfg,
		origins:  origins,
		traces:   traces,
		logs:     logs,
		metrics:  m,
		logger:   logger,
		warns:    ratelog.New(ratelog.DefaultInterval, nil),
		inFlight: inFlight,
		receiving: newReceiveGate(int(cfg.MaxInFlightBytes/cfg.MaxRequestBytes),
			int(cfg.MaxClientInFlightBytes/cfg.MaxRequestBytes), cfg.BodyGrace),
		token: auth.NewToken(cfg.AuthToken),
	}
	r.handler = httpHandler{r: r}
	return r, nil
}

// HTTPHandler returns the OTLP/HTTP (:4318) handler, for tests with httptest
// or for mounting on another server.
func (r *Receiver) HTTPHandler() http.Handler { return r.handler }

// Start listens on the configured addresses and serves in the background. ctx
// bounds only the listening; stop the receiver with Shutdown. If either
// listener fails, nothing is left listening.
func (r *Receiver) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return errors.New("otlp: receiver already started")
	}
	if r.stopped {
		return errors.New("otlp: receiver already shut down")
	}
	var grpcLis, httpLis net.Listener
	if r.cfg.GRPCAddr != "" {
		l, err := listen.TCP(ctx, r.cfg.GRPCAddr, listen.DefaultLimits())
		if err != nil {
			return fmt.Errorf("otlp: listen gRPC on %s: %w", r.cfg.GRPCAddr, err)
		}
		grpcLis = l
	}
	if r.cfg.HTTPAddr != "" {
		l, err := listen.TCP(ctx, r.cfg.HTTPAddr, listen.DefaultLimits())
		if err != nil {
			if grpcLis != nil {
				_ = grpcLis.Close() // the listen error is the one worth reporting
			}
			return fmt.Errorf("otlp: listen HTTP on %s: %w", r.cfg.HTTPAddr, err)
		}
		httpLis = l
	}
	r.started = true

	if grpcLis != nil {
		r.grpcLis = grpcLis
		r.grpcServer = r.newGRPCServer()
		r.serving.Go(func() {
			if err := r.grpcServer.Serve(grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				r.logger.Error("otlp: gRPC server stopped", slog.Any("error", err))
			}
		})
		r.logger.InfoContext(ctx, "otlp: gRPC receiver listening", slog.String("addr", grpcLis.Addr().String()))
	}
	if httpLis != nil {
		r.httpLis = httpLis
		// Slow bodies are also cut by the minimum rate (paced.go).
		r.httpServer = listen.HTTPServer(r.handler, listen.DefaultLimits(), r.logger)
		r.serving.Go(func() {
			if err := r.httpServer.Serve(httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				r.logger.Error("otlp: HTTP server stopped", slog.Any("error", err))
			}
		})
		r.logger.InfoContext(ctx, "otlp: HTTP receiver listening", slog.String("addr", httpLis.Addr().String()))
	}
	return nil
}

// GRPCAddr is the gRPC listener's address, or nil before Start or when gRPC
// is disabled.
func (r *Receiver) GRPCAddr() net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.grpcLis == nil {
		return nil
	}
	return r.grpcLis.Addr()
}

// HTTPAddr is the HTTP listener's address, or nil before Start or when HTTP
// is disabled.
func (r *Receiver) HTTPAddr() net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.httpLis == nil {
		return nil
	}
	return r.httpLis.Addr()
}

// Shutdown stops accepting requests and waits for in-flight ones to finish,
// so every acknowledged batch has reached the consumer. When ctx ends first,
// remaining connections are closed and ctx's error returned. It is safe to
// call at any time and more than once.
func (r *Receiver) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.stopped = true
	gs, hs := r.grpcServer, r.httpServer
	r.mu.Unlock()

	var (
		wg      sync.WaitGroup
		httpErr error
	)
	if hs != nil {
		wg.Go(func() {
			if err := hs.Shutdown(ctx); err != nil {
				httpErr = fmt.Errorf("otlp: HTTP shutdown: %w", err)
				_ = hs.Close() // ctx expired: cut the stragglers
			}
		})
	}
	var grpcErr error
	if gs != nil {
		wg.Go(func() {
			done := make(chan struct{})
			go func() { gs.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
				gs.Stop()
				<-done
				grpcErr = fmt.Errorf("otlp: gRPC shutdown: %w", ctx.Err())
			}
		})
	}
	wg.Wait()
	r.serving.Wait()
	return errors.Join(httpErr, grpcErr)
}
