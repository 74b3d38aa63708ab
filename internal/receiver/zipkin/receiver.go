package zipkin

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clewtrace/clew/internal/auth"
	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/listen"
	"github.com/clewtrace/clew/internal/receiver/httpedge"
	"github.com/clewtrace/clew/internal/receiver/ratelog"
)

// DefaultMaxRequestBytes caps a request body, measured after decompression.
const DefaultMaxRequestBytes = 16 << 20

// Config says where the receiver listens.
type Config struct {
	// HTTPAddr is the collector address (Zipkin's default ":9411"); "" disables
	// the listener (Handler still works); port 0 picks a free port.
	HTTPAddr string
	// MaxRequestBytes caps a body after decompression; larger requests get
	// 413. 0 means DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// AuthToken, when set, is required as "Authorization: Bearer <token>"
	// on the HTTP endpoint (401 otherwise).
	AuthToken string
}

// DefaultConfig listens on Zipkin's well-known port.
func DefaultConfig() Config { return Config{HTTPAddr: ":9411"} }

// Receiver is the Zipkin v2 collector endpoint.
type Receiver struct {
	cfg     Config
	next    consumer.Traces
	logger  *slog.Logger
	metrics *metrics
	warns   *ratelog.Limiter // refusals are logged at most once per interval, and counted always

	mu      sync.Mutex
	started bool
	stopped bool
	ln      net.Listener
	server  *http.Server
}

type metrics struct {
	accepted  prometheus.Counter
	refused   prometheus.Counter
	malformed prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clew_receiver_zipkin_accepted_spans_total",
			Help: "Spans received from Zipkin clients and accepted by the pipeline.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clew_receiver_zipkin_refused_spans_total",
			Help: "Spans decoded but refused or rejected by the pipeline.",
		}),
		malformed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clew_receiver_zipkin_malformed_requests_total",
			Help: "Requests whose body could not be decoded.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.accepted, m.refused, m.malformed} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register zipkin receiver metrics: %w", err)
		}
	}
	return m, nil
}

// New builds a receiver that hands every batch to next. reg may be nil (no
// metrics exported); logger may be nil (slog.Default()).
func New(cfg Config, next consumer.Traces, reg prometheus.Registerer, logger *slog.Logger) (*Receiver, error) {
	if next == nil {
		return nil, errors.New("zipkin receiver: nil consumer")
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if logger == nil {
		logger = slog.Default()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Receiver{cfg: cfg, next: next, logger: logger.With("component", "receiver/zipkin"), metrics: m,
		warns: ratelog.New(ratelog.DefaultInterval, nil)}, nil
}

// Start opens the listener and serves Handler on it. ctx bounds only the
// start itself; the receiver runs until Shutdown.
func (r *Receiver) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.stopped {
		return errors.New("zipkin receiver: already started or shut down")
	}
	if r.cfg.HTTPAddr != "" {
		ln, err := listen.TCP(ctx, r.cfg.HTTPAddr, listen.DefaultLimits())
		if err != nil {
			return fmt.Errorf("zipkin receiver: listen %s: %w", r.cfg.HTTPAddr, err)
		}
		base := context.WithoutCancel(ctx)
		r.ln = ln
		r.server = listen.HTTPServer(auth.Require(auth.NewToken(r.cfg.AuthToken), r.Handler(), nil), listen.DefaultLimits(), r.logger)
		r.server.BaseContext = func(net.Listener) context.Context { return base }
		go func(srv *http.Server) {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				r.logger.Error("http server stopped", "err", err)
			}
		}(r.server)
	}
	r.started = true
	r.logger.Info("zipkin receiver started", "http", r.addrLocked())
	return nil
}

// Shutdown stops accepting requests and waits for in-flight ones, or for ctx
// to expire. It is safe to call at any time and more than once.
func (r *Receiver) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	server := r.server
	already := r.stopped
	r.stopped = true
	r.mu.Unlock()
	if already || server == nil {
		return nil
	}
	if err := server.Shutdown(ctx); err != nil {
		return fmt.Errorf("zipkin receiver: shutdown: %w", err)
	}
	return nil
}

// HTTPAddr is the bound address, "" when disabled or not started.
func (r *Receiver) HTTPAddr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addrLocked()
}

func (r *Receiver) addrLocked() string {
	if r.ln == nil {
		return ""
	}
	return r.ln.Addr().String()
}

// Handler serves POST /api/v2/spans and answers 202 like Zipkin does.
func (r *Receiver) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v2/spans", r.handleSpans)
	return mux
}

func (r *Receiver) handleSpans(w http.ResponseWriter, req *http.Request) {
	decode, ok := decoderFor(req.Header.Get("Content-Type"))
	if !ok {
		http.Error(w, fmt.Sprintf("unsupported content type %q: want application/json or application/x-protobuf",
			req.Header.Get("Content-Type")), http.StatusUnsupportedMediaType)
		return
	}
	body, status, err := r.readBody(req)
	if err != nil {
		if status == http.StatusBadRequest {
			r.metrics.malformed.Inc()
		}
		http.Error(w, err.Error(), status)
		return
	}
	spans, err := decode(body)
	if err != nil {
		r.metrics.malformed.Inc()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if len(spans) == 0 {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	td := toTraces(spans)
	n := len(spans)
	res, err := r.next.ConsumeTraces(req.Context(), td)
	if err != nil {
		r.metrics.refused.Add(float64(n))
		status := httpedge.Refuse(w, err)
		if ok, suppressed := r.warns.Allow(); ok {
			r.logger.LogAttrs(req.Context(), slog.LevelWarn, "batch refused",
				slog.Int("spans", n), slog.Int("status", status), slog.Any("err", err), slog.Int("suppressed", suppressed))
		}
		return
	}
	// Zipkin has no partial-success answer: rejected spans are counted and logged.
	rejected := min(max(res.Rejected, 0), int64(n))
	r.metrics.accepted.Add(float64(int64(n) - rejected))
	if rejected > 0 {
		r.metrics.refused.Add(float64(rejected))
		if ok, suppressed := r.warns.Allow(); ok {
			r.logger.Warn("spans rejected", "rejected", rejected, "msg", res.Message, "suppressed", suppressed)
		}
	}
	w.WriteHeader(http.StatusAccepted)
}

// decoderFor picks the decoder by media type. A missing Content-Type means
// JSON, as in Zipkin's collector (curl users rarely set it).
func decoderFor(contentType string) (func([]byte) ([]zspan, error), bool) {
	if contentType == "" {
		return decodeJSON, true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, false
	}
	switch mt {
	case "application/json":
		return decodeJSON, true
	case "application/x-protobuf", "application/protobuf":
		return decodeProto, true
	}
	return nil, false
}

// readBody returns the decompressed body, or the status to answer with.
// The cap is measured after decompression, so a small gzip bomb cannot expand
// past it; the gzip reader only consumes as much input as the output needs.
func (r *Receiver) readBody(req *http.Request) ([]byte, int, error) {
	limit := r.cfg.MaxRequestBytes
	if req.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("request body over %d bytes", limit)
	}
	var src io.Reader = req.Body
	switch enc := req.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		src = zr
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("unsupported content encoding %q", enc)
	}
	body, err := io.ReadAll(io.LimitReader(src, limit+1))
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("read request body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("request body over %d bytes", limit)
	}
	return body, 0, nil
}
