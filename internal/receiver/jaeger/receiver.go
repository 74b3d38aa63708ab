package jaeger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clewtrace/clew/internal/auth"
	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/listen"
	"github.com/clewtrace/clew/internal/receiver/ratelog"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxRequestBytes = 16 << 20
	DefaultQueueSize       = 1000
)

// Transport labels of the receiver's metrics.
const (
	transportHTTP    = "http"
	transportCompact = "udp_compact"
	transportBinary  = "udp_binary"
)

// Config says where the receiver listens. An empty address disables that
// listener; port 0 picks a free port.
type Config struct {
	HTTPAddr    string // collector, POST /api/traces (Jaeger's default ":14268")
	CompactAddr string // agent UDP, emitBatch in TCompactProtocol (":6831")
	BinaryAddr  string // agent UDP, emitBatch in TBinaryProtocol (":6832")

	// MaxRequestBytes caps an HTTP body; larger requests get 413. 0 means
	// DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// QueueSize is how many decoded UDP batches may wait for the consumer
	// before new ones are dropped. 0 means DefaultQueueSize.
	QueueSize int
	// AuthToken, when set, is required as "Authorization: Bearer <token>"
	// on the HTTP endpoint (401 otherwise).
	AuthToken string
}

// DefaultConfig listens on Jaeger's well-known ports.
func DefaultConfig() Config {
	return Config{HTTPAddr: ":14268", CompactAddr: ":6831", BinaryAddr: ":6832"}
}

// Receiver is the Jaeger collector endpoint plus the two agent UDP sockets.
type Receiver struct {
	cfg     Config
	next    consumer.Traces
	logger  *slog.Logger
	metrics *metrics
	warns   *ratelog.Limiter // refusals are logged at most once per interval, and counted always

	// afterDatagram, when set (tests only), runs after each datagram has been
	// decoded and queued, dropped or counted as malformed.
	afterDatagram func()

	mu      sync.Mutex
	started bool
	stopped bool
	server  *http.Server
	httpLn  net.Listener
	compact net.PacketConn
	binary  net.PacketConn
	queue   chan queued
	readers sync.WaitGroup
	workers sync.WaitGroup
	cancel  context.CancelFunc
}

type metrics struct {
	accepted  *prometheus.CounterVec
	refused   *prometheus.CounterVec
	malformed *prometheus.CounterVec
	dropped   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clew_receiver_jaeger_accepted_spans_total",
			Help: "Spans received from Jaeger clients and accepted by the pipeline.",
		}, []string{"transport"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clew_receiver_jaeger_refused_spans_total",
			Help: "Spans decoded but refused or rejected by the pipeline.",
		}, []string{"transport"}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clew_receiver_jaeger_malformed_total",
			Help: "HTTP requests or UDP datagrams that could not be decoded.",
		}, []string{"transport"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clew_receiver_jaeger_dropped_spans_total",
			Help: "Spans from UDP datagrams dropped because the queue to the pipeline was full.",
		}, []string{"transport"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.accepted, m.refused, m.malformed, m.dropped} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register jaeger receiver metrics: %w", err)
		}
	}
	return m, nil
}

// New builds a receiver that hands every batch to next. reg may be nil (no
// metrics exported); logger may be nil (slog.Default()).
func New(cfg Config, next consumer.Traces, reg prometheus.Registerer, logger *slog.Logger) (*Receiver, error) {
	if next == nil {
		return nil, errors.New("jaeger receiver: nil consumer")
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if logger == nil {
		logger = slog.Default()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Receiver{
		cfg:     cfg,
		next:    next,
		logger:  logger.With("component", "receiver/jaeger"),
		warns:   ratelog.New(ratelog.DefaultInterval, nil),
		metrics: m,
	}, nil
}

// Start opens the configured listeners and begins serving. ctx bounds only
// the start itself; the receiver runs until Shutdown.
func (r *Receiver) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.stopped {
		return errors.New("jaeger receiver: already started or shut down")
	}
	var lc net.ListenConfig
	var err error
	defer func() {
		if err != nil {
			r.closeListenersLocked()
		}
	}()
	if r.cfg.HTTPAddr != "" {
		if r.httpLn, err = listen.TCP(ctx, r.cfg.HTTPAddr, listen.DefaultLimits()); err != nil {
			return fmt.Errorf("jaeger receiver: listen http %s: %w", r.cfg.HTTPAddr, err)
		}
	}
	if r.cfg.CompactAddr != "" {
		if r.compact, err = lc.ListenPacket(ctx, "udp", r.cfg.CompactAddr); err != nil {
			return fmt.Errorf("jaeger receiver: listen udp %s: %w", r.cfg.CompactAddr, err)
		}
	}
	if r.cfg.BinaryAddr != "" {
		if r.binary, err = lc.ListenPacket(ctx, "udp", r.cfg.BinaryAddr); err != nil {
			return fmt.Errorf("jaeger receiver: listen udp %s: %w", r.cfg.BinaryAddr, err)
		}
	}

	// Consumer calls outlive Start's ctx, but keep its values (trace, logger).
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	if r.httpLn != nil {
		r.server = listen.HTTPServer(auth.Require(auth.NewToken(r.cfg.AuthToken), r.Handler(), nil), listen.DefaultLimits(), r.logger)
		r.server.BaseContext = func(net.Listener) context.Context { return runCtx }
		go func(srv *http.Server, ln net.Listener) {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				r.logger.Error("http server stopped", "err", err)
			}
		}(r.server, r.httpLn)
	}
	if r.compact != nil || r.binary != nil {
		r.queue = make(chan queued, r.cfg.QueueSize)
		if r.compact != nil {
			r.readers.Add(1)
			go r.readLoop(runCtx, r.compact, transportCompact)
		}
		if r.binary != nil {
			r.readers.Add(1)
			go r.readLoop(runCtx, r.binary, transportBinary)
		}
		for range udpWorkers {
			r.workers.Add(1)
			go r.consumeLoop(runCtx)
		}
	}
	r.started = true
	r.logger.Info("jaeger receiver started",
		"http", r.httpAddrLocked(), "compact", r.compactAddrLocked(), "binary", r.binaryAddrLocked())
	return nil
}

func (r *Receiver) closeListenersLocked() {
	if r.httpLn != nil {
		_ = r.httpLn.Close()
		r.httpLn = nil
	}
	for _, pc := range []net.PacketConn{r.compact, r.binary} {
		if pc != nil {
			_ = pc.Close()
		}
	}
	r.compact, r.binary = nil, nil
}

// Shutdown stops accepting data, waits for in-flight HTTP requests and for the
// UDP queue to drain into the consumer, or for ctx to expire. It is safe to
// call at any time and more than once.
func (r *Receiver) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	if !r.started || r.stopped {
		r.stopped = true
		r.mu.Unlock()
		return nil
	}
	r.stopped = true
	server, queue, cancel := r.server, r.queue, r.cancel
	conns := []net.PacketConn{r.compact, r.binary}
	r.mu.Unlock()

	var errs []error
	if server != nil {
		if err := server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("jaeger receiver: http shutdown: %w", err))
		}
	}
	for _, pc := range conns {
		if pc != nil {
			_ = pc.Close() // unblocks ReadFrom; the readers then exit
		}
	}
	drained := make(chan struct{})
	go func() {
		r.readers.Wait()
		if queue != nil {
			close(queue) // readers are the only senders
		}
		r.workers.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("jaeger receiver: drain udp queue: %w", ctx.Err()))
	}
	if cancel != nil {
		cancel() // aborts consumer calls still running after a timed-out drain
	}
	return errors.Join(errs...)
}

// HTTPAddr is the collector's bound address, "" when disabled or not started.
func (r *Receiver) HTTPAddr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.httpAddrLocked()
}

// CompactAddr is the compact-protocol UDP socket's bound address, "" when
// disabled or not started.
func (r *Receiver) CompactAddr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.compactAddrLocked()
}

// BinaryAddr is the binary-protocol UDP socket's bound address, "" when
// disabled or not started.
func (r *Receiver) BinaryAddr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.binaryAddrLocked()
}

func (r *Receiver) httpAddrLocked() string {
	if r.httpLn == nil {
		return ""
	}
	return r.httpLn.Addr().String()
}

func (r *Receiver) compactAddrLocked() string { return packetAddr(r.compact) }

func (r *Receiver) binaryAddrLocked() string { return packetAddr(r.binary) }

func packetAddr(pc net.PacketConn) string {
	if pc == nil {
		return ""
	}
	return pc.LocalAddr().String()
}
