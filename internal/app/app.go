// Package app wires Clew's parts into one process: receivers → pipeline →
// store ← query ← API/UI, plus the admin endpoints. It owns start-up order
// (sinks first) and shutdown order (sources first), so every stage drains
// into the next before that one stops.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/clewtrace/clew/internal/api/clewapi"
	"github.com/clewtrace/clew/internal/api/errorsapi"
	jaegerapi "github.com/clewtrace/clew/internal/api/jaeger"
	"github.com/clewtrace/clew/internal/api/logsapi"
	"github.com/clewtrace/clew/internal/api/spm"
	tempoapi "github.com/clewtrace/clew/internal/api/tempo"
	"github.com/clewtrace/clew/internal/auth"
	"github.com/clewtrace/clew/internal/cluster"
	"github.com/clewtrace/clew/internal/config"
	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/errgroups"
	"github.com/clewtrace/clew/internal/logstore"
	"github.com/clewtrace/clew/internal/minutes"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/pipeline"
	"github.com/clewtrace/clew/internal/query"
	"github.com/clewtrace/clew/internal/receiver/jaeger"
	"github.com/clewtrace/clew/internal/receiver/otlp"
	"github.com/clewtrace/clew/internal/receiver/zipkin"
	"github.com/clewtrace/clew/internal/spanmetrics"
	"github.com/clewtrace/clew/internal/store"
	"github.com/clewtrace/clew/internal/store/wal"
	"github.com/clewtrace/clew/internal/ui"
)

// App is one running Clew.
type App struct {
	cfg      config.Config
	log      *slog.Logger
	reg      *registry
	store    *store.Store
	logs     *logstore.Store
	metrics  *spanmetrics.Store
	errors   *errgroups.Store
	stopRun  context.CancelFunc // stops background loops started by the app
	pipeline consumer.Traces
	stopPipe func(context.Context) error
	otlp     *otlp.Receiver
	jaeger   *jaeger.Receiver
	zipkin   *zipkin.Receiver
	legacy   []legacyReceiver
	query    *server
	tempo    *server
	admin    *server
	ready    atomic.Bool
	nodeID   string         // names this node to its peers and in the compactor lease
	lease    *cluster.Lease // nil unless competing for the compactor lease
}

type legacyReceiver interface {
	Start(ctx context.Context) error
	Shutdown(ctx context.Context) error
}

// Addrs are the addresses the app actually listens on (useful with port 0).
type Addrs struct {
	OTLPGRPC, OTLPHTTP, Query, Admin, Tempo         string
	JaegerHTTP, JaegerCompact, JaegerBinary, Zipkin string
}

// New opens the store and builds every component; nothing listens yet.
func New(ctx context.Context, cfg config.Config, logger *slog.Logger) (*App, error) {
	return newApp(ctx, cfg, logger, nil)
}

// newApp is New with wrapBlocks (nil in production), which wraps the bucket
// blocks are written to: the crash tests of this package stop a server at
// an exact point of a block write or a compaction with it, then kill it.
func newApp(ctx context.Context, cfg config.Config, logger *slog.Logger, wrapBlocks func(objstore.Bucket) objstore.Bucket) (*App, error) {
	a := &App{cfg: cfg, log: logger, reg: newRegistry()}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfoGauge(ReadBuild()))

	blocks, err := openBucket(ctx, cfg, a.reg)
	if err != nil {
		return nil, err
	}
	a.nodeID = newNodeID()
	shared := blocks != nil // an S3 bucket may be shared by several nodes: docs/scale-out.md
	if wrapBlocks != nil {
		if blocks == nil { // what the store would open itself
			if blocks, err = objstore.NewLocal(filepath.Join(cfg.DataDir, "blocks")); err != nil {
				return nil, fmt.Errorf("storage: %w", err)
			}
		}
		blocks = wrapBlocks(blocks)
	}
	var compactor store.Gate
	if shared && cfg.Compactor == "lease" {
		cond, ok := objstore.AsConditional(blocks)
		if !ok {
			return nil, errors.New("storage: the bucket does not support conditional writes, which the compactor lease needs")
		}
		a.lease, err = cluster.NewLease(cluster.LeaseOptions{Bucket: cond, Holder: a.nodeID, TTL: time.Duration(cfg.CompactorLeaseTTL),
			Logger: logger.With("component", "cluster")})
		if err != nil {
			return nil, err
		}
		compactor = a.lease
		a.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clew_compactor_lease_held",
			Help: "1 while this node holds the compactor lease of the shared bucket (compacts and applies retention), else 0."},
			func() float64 {
				if a.lease.IsHeld() {
					return 1
				}
				return 0
			}))
	}
	st, err := store.Open(ctx, store.Options{
		Shared:        shared,
		PollEvery:     time.Duration(cfg.BlocksPollInterval),
		DeleteDelay:   time.Duration(cfg.BlocksDeleteDelay),
		Compactor:     compactor,
		Dir:           cfg.DataDir,
		Bucket:        blocks,
		Retention:     time.Duration(cfg.Retention),
		BlockMaxSpans: cfg.BlockMaxSpans,
		BlockMaxAge:   time.Duration(cfg.BlockMaxAge),
		WALSync:       walSync(cfg.WALSync),
		WALSyncEvery:  time.Duration(cfg.WALSyncInterval),
		Logger:        logger.With("component", "store"),
		Registerer:    a.reg,
		// Queries are answered from blocks while a long WAL replays.
		ReplayInBackground: true,
	})
	if err != nil {
		return nil, err
	}
	a.store = st
	logOpts := logstore.Options{
		Dir:          filepath.Join(cfg.DataDir, "logs"),
		Retention:    time.Duration(cfg.Retention),
		BlockMaxAge:  time.Duration(cfg.BlockMaxAge),
		WALSync:      walSync(cfg.WALSync),
		WALSyncEvery: time.Duration(cfg.WALSyncInterval),
		Logger:       logger.With("component", "logstore"),
		Registerer:   a.reg,
		// Like the span store: queries are answered while the WAL replays.
		ReplayInBackground: true,
	}
	if shared {
		// Log blocks live in the same bucket, below logs/, with the same
		// polling and the same compactor lease (docs/scale-out.md).
		if logOpts.Bucket, err = objstore.WithPrefix(blocks, "logs"); err != nil {
			_ = st.Close(ctx)
			return nil, err
		}
		logOpts.Shared, logOpts.Compactor = true, compactor
		logOpts.PollEvery, logOpts.DeleteDelay = time.Duration(cfg.BlocksPollInterval), time.Duration(cfg.BlocksDeleteDelay)
	}
	a.logs, err = logstore.Open(ctx, logOpts)
	if err != nil {
		_ = st.Close(ctx)
		return nil, err
	}
	built := false
	defer func() {
		if !built {
			if a.metrics != nil {
				_ = a.metrics.Close(ctx)
			}
			if a.errors != nil {
				_ = a.errors.Close(ctx)
			}
			_ = a.logs.Close(ctx)
			_ = a.store.Close(ctx)
		}
	}()
	// Span-metrics and error-group minutes go where blocks go: to the
	// shared bucket, one object per minute and node, deleted by the
	// compactor lease holder (docs/scale-out.md); else to the data dir.
	metricsAt := minutes.Storage{Dir: filepath.Join(cfg.DataDir, "metrics"), Writer: a.nodeID, Retention: time.Duration(cfg.Retention)}
	errorsAt := minutes.Storage{Dir: filepath.Join(cfg.DataDir, "errors"), Writer: a.nodeID, Retention: time.Duration(cfg.Retention)}
	if shared {
		var deleter minutes.Gate = neverHeld{}
		if compactor != nil {
			deleter = compactor
		}
		metricsAt.Deleter, errorsAt.Deleter = deleter, deleter
		if metricsAt.Bucket, err = objstore.WithPrefix(blocks, spanmetrics.MinutesPrefix); err != nil {
			return nil, err
		}
		if errorsAt.Bucket, err = objstore.WithPrefix(blocks, errgroups.MinutesPrefix); err != nil {
			return nil, err
		}
	}
	a.metrics, err = spanmetrics.Open(ctx, spanmetrics.Config{Storage: metricsAt}, logger.With("component", "spanmetrics"))
	if err != nil {
		return nil, fmt.Errorf("span metrics: %w", err)
	}
	a.reg.MustRegister(a.metrics)
	a.errors, err = errgroups.Open(ctx, errgroups.Config{Storage: errorsAt}, logger.With("component", "errgroups"))
	if err != nil {
		return nil, fmt.Errorf("error groups: %w", err)
	}

	pcfg := cfg.Pipeline
	a.pipeline, a.stopPipe, err = pipeline.New(pcfg, st, a.reg, logger.With("component", "pipeline"),
		func(next consumer.Traces) consumer.Traces {
			return errgroups.NewTap(a.errors, spanmetrics.NewTap(a.metrics, next))
		})
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	// Error logs join error groups after redaction, like spans.
	logsPipeline, err := pipeline.NewLogs(pcfg, errgroups.NewLogTap(a.errors, a.logs))
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}

	a.otlp, err = otlp.New(otlp.Config{
		GRPCAddr:           cfg.OTLPGRPCAddr,
		HTTPAddr:           cfg.OTLPHTTPAddr,
		MaxRequestBytes:    cfg.MaxRequestBytes,
		CORSAllowedOrigins: cfg.CORSAllowedOrigins,
		AuthToken:          cfg.IngestToken,
	}, a.pipeline, logsPipeline, a.reg, logger.With("component", "otlp"))
	if err != nil {
		return nil, fmt.Errorf("otlp receiver: %w", err)
	}
	if err := a.buildLegacyReceivers(); err != nil {
		return nil, err
	}

	var traces query.Store = st
	api := http.NewServeMux()
	if shared {
		peers := cluster.NewPeers(cluster.PeerOptions{Addrs: cfg.Peers, NodeID: a.nodeID, Token: cfg.QueryToken,
			Logger: logger.With("component", "cluster"), Registerer: a.reg})
		traces = cluster.NewMerged(st, peers)
		api.Handle(cluster.RecentPath, cluster.NewHandler(a.nodeID, st, logger.With("component", "cluster")))
	}
	qs := query.NewService(traces)
	api.Handle(logsapi.Path, logsapi.NewHandler(a.logs, logger.With("component", "api")))
	api.Handle(logsapi.Path+"/", logsapi.NewHandler(a.logs, logger.With("component", "api")))
	graph := serviceGraph{Store: a.metrics, traces: qs}
	metricsAPI := spm.NewHandler(graph, logger.With("component", "api"))
	api.Handle("/api/metrics/", metricsAPI)
	api.Handle("/api/clew/metrics/", metricsAPI)
	api.Handle("/api/clew/servicegraph", metricsAPI)
	tempo := tempoapi.NewHandler(qs, tempoapi.BuildInfo{Version: ReadBuild().Version}, logger.With("component", "tempo-api"))
	// The UI's TraceQL box reads the Tempo API on its own origin.
	api.Handle("/api/tempo/", http.StripPrefix("/api/tempo", tempo))
	api.Handle(tempoapi.MatchPath, tempoapi.NewMatchHandler(qs, logger.With("component", "api")))
	errorsAPI := errorsapi.NewHandler(a.errors, qs, logger.With("component", "api"))
	api.Handle(errorsapi.Path, errorsAPI)
	api.Handle(errorsapi.Path+"/", errorsAPI)
	api.Handle("/api/clew/", clewapi.NewHandler(qs, logger.With("component", "api")))
	jaegerAPI := jaegerapi.NewHandler(queryWithGraph{qs, graph}, logger.With("component", "api"))
	api.Handle("/api/", jaegerAPI)
	// The same handler under its endpoints' patterns, only so that the query
	// API metrics have an endpoint label finer than "/api/" (the handler's
	// own mux works on a copy of the request, whose pattern is not seen here).
	for _, p := range []string{"/api/services", "/api/services/{service}/operations", "/api/operations", "/api/traces",
		"/api/traces/{traceID}", "/api/dependencies", "/api/v3/services", "/api/v3/operations", "/api/v3/traces",
		"/api/v3/traces/{traceID}", "/api/v3/trace-summaries"} {
		api.Handle(p, jaegerAPI)
	}
	// The UI's empty state tells where to send traces: the receivers' bound
	// addresses, read per request (ports picked at start are known then).
	api.Handle("/", ui.Handler(ui.Options{Ingest: func() ui.Ingest {
		return ui.Ingest{OTLPGRPC: addrString(a.otlp.GRPCAddr()), OTLPHTTP: addrString(a.otlp.HTTPAddr())}
	}}))
	apiMetrics := newAPIMetrics(a.reg)
	a.query = newServer("query", cfg.QueryAddr, cluster.MarkPartial(apiMetrics.wrap("query", requireToken(cfg.QueryToken, "/api/", api))), logger)
	// Grafana's Tempo data source, on Tempo's own port: same query service,
	// same token (/ready stays open for probes).
	a.tempo = newServer("tempo", cfg.TempoAddr, cluster.MarkPartial(apiMetrics.wrap("tempo", requireToken(cfg.QueryToken, "/api/", tempo))), logger)

	a.admin = newServer("admin", cfg.AdminAddr, a.adminHandler(), logger)
	built = true
	return a, nil
}

// neverHeld is the deletion gate of a node that never compacts
// (--compactor never) in a shared bucket: it leaves deletes to the others.
type neverHeld struct{}

func (neverHeld) Held(context.Context) bool { return false }

// newNodeID names this process: host name plus random digits, so that a
// restarted node is a new holder (its old lease must expire or be released).
func newNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "clew"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

func walSync(s string) wal.SyncPolicy {
	switch s {
	case "interval":
		return wal.SyncInterval
	case "never":
		return wal.SyncNever
	}
	return wal.SyncAlways
}

// Start listens everywhere: admin and query first, receivers last, so
// nothing is accepted before it can be stored and read. Queries are
// answered (marked partial) while the store replays its WAL; the receivers
// open once the replay is done, so a client meets a closed port rather than
// refusals while it lasts.
func (a *App) Start(ctx context.Context) error {
	for _, s := range []*server{a.admin, a.query, a.tempo} {
		if err := s.start(); err != nil {
			return err
		}
	}
	if err := errors.Join(a.store.WaitReplayed(ctx), a.logs.WaitReplayed(ctx)); err != nil {
		return err
	}
	if err := a.otlp.Start(ctx); err != nil {
		return fmt.Errorf("otlp receiver: %w", err)
	}
	for _, r := range a.legacy {
		if err := r.Start(ctx); err != nil {
			return err
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	a.stopRun = cancel
	go a.metrics.Run(runCtx, 0)
	go a.errors.Run(runCtx, 0)
	if a.lease != nil {
		go a.lease.Run(runCtx)
	}
	a.ready.Store(true)
	a.warnExposed()
	b := ReadBuild()
	a.log.Info("clew started", "version", b.Version, "revision", b.Revision, "data_dir", a.cfg.DataDir)
	return nil
}

// Addrs reports the bound addresses.
func (a *App) Addrs() Addrs {
	addrs := Addrs{
		OTLPGRPC: addrString(a.otlp.GRPCAddr()),
		OTLPHTTP: addrString(a.otlp.HTTPAddr()),
		Query:    a.query.addr(),
		Tempo:    a.tempo.addr(),
		Admin:    a.admin.addr(),
	}
	if a.jaeger != nil {
		addrs.JaegerHTTP, addrs.JaegerCompact, addrs.JaegerBinary = a.jaeger.HTTPAddr(), a.jaeger.CompactAddr(), a.jaeger.BinaryAddr()
	}
	if a.zipkin != nil {
		addrs.Zipkin = a.zipkin.HTTPAddr()
	}
	return addrs
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// Shutdown stops sources first: receivers stop accepting and drain into the
// pipeline, the pipeline flushes into the store, the store writes its head
// as a block and closes the WAL; the query and admin servers go last. Each
// step is logged with the time it took.
func (a *App) Shutdown(ctx context.Context) error {
	return a.shutdown(ctx, "shutdown requested", false)
}

// shutdown is Shutdown; after a failed start it closes what was opened
// without claiming a clean stop.
func (a *App) shutdown(ctx context.Context, reason string, failedStart bool) error {
	begin := time.Now()
	a.ready.Store(false)
	if failedStart {
		a.log.Warn("start failed: closing what was opened")
	} else {
		a.log.Info("clew stopping", "reason", reason)
	}
	var errs []error
	step := func(done string, f func() error) {
		t := time.Now()
		err := f()
		errs = append(errs, err)
		if err == nil {
			a.log.Info(done, "took", time.Since(t).Round(time.Millisecond))
		}
	}
	step("receivers stopped and drained", func() error {
		errs := []error{a.otlp.Shutdown(ctx)}
		for _, r := range a.legacy {
			errs = append(errs, r.Shutdown(ctx))
		}
		return errors.Join(errs...)
	})
	if a.stopPipe != nil {
		step("pipeline flushed (traces held for tail sampling decided)", func() error { return a.stopPipe(ctx) })
	}
	if a.stopRun != nil {
		a.stopRun()
	}
	step("span metrics written", func() error { return a.metrics.Close(ctx) })
	step("error groups written", func() error { return a.errors.Close(ctx) })
	step("trace store closed (head written as a block)", func() error { return a.store.Close(ctx) })
	if a.lease != nil {
		step("compactor lease released", func() error { return a.lease.Release(ctx) })
	}
	step("log store closed", func() error { return a.logs.Close(ctx) })
	errs = append(errs, a.query.stop(ctx), a.tempo.stop(ctx), a.admin.stop(ctx))
	err := errors.Join(errs...)
	took := time.Since(begin).Round(time.Millisecond)
	switch {
	case err != nil:
		a.log.Error("clew stopped with errors", "err", err, "took", took)
	case failedStart:
		a.log.Warn("closed after the failed start", "took", took)
	default:
		a.log.Info("clew stopped cleanly", "took", took)
	}
	return err
}

// Run starts the app and blocks until ctx is cancelled, then shuts down,
// logging why (context.Cause: "terminated signal received" for a SIGTERM
// through signal.NotifyContext).
func Run(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	a, err := New(ctx, cfg, logger)
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		_ = a.shutdown(context.Background(), "", true)
		return err
	}
	<-ctx.Done()
	reason := "context cancelled"
	if c := context.Cause(ctx); c != nil {
		reason = c.Error()
	}
	// Writing a full head as a block can take a while on a busy machine.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return a.shutdown(shutdownCtx, reason, false)
}

// requireToken guards paths under prefix with the bearer token when one is
// set; other paths (the UI's static files) stay open, since the UI asks for
// the token itself.
func requireToken(token, prefix string, next http.Handler) http.Handler {
	guarded := auth.Require(auth.NewToken(token), next, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		if strings.HasPrefix(r.URL.Path, "/api/clew/") { // Clew's own error shape (docs/api.md)
			_, _ = w.Write([]byte(`{"error":"missing or wrong bearer token"}` + "\n"))
			return
		}
		_, _ = w.Write([]byte(`{"errors":[{"code":401,"msg":"missing or wrong bearer token"}]}` + "\n"))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, prefix) {
			guarded.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// serviceGraph joins the two views of who calls whom: the span-metrics
// service graph (client→server and producer→consumer pairs, counted before
// sampling, with virtual nodes for databases and outside peers) and the
// stored traces' parent/child spans that cross services (Jaeger's
// definition, which also catches a server span directly under another
// service's span). Pairs the graph has come from it; the others from traces.
type serviceGraph struct {
	*spanmetrics.Store
	traces *query.Service
}

// Graph serves /api/clew/servicegraph.
func (g serviceGraph) Graph(ctx context.Context, from, to time.Time) ([]spanmetrics.EdgeStats, error) {
	edges, err := g.Store.Graph(ctx, from, to)
	if err != nil {
		return nil, err
	}
	seen := make(map[[2]string]bool, len(edges))
	for _, e := range edges {
		seen[[2]string{e.Client, e.Server}] = true
	}
	stored, err := g.traces.Dependencies(ctx, to, to.Sub(from))
	if err != nil {
		return nil, err
	}
	secs := to.Sub(from).Seconds()
	for _, d := range stored {
		if seen[[2]string{d.Parent, d.Child}] {
			continue
		}
		e := spanmetrics.EdgeStats{Client: d.Parent, Server: d.Child}
		e.Calls, e.Errors = d.CallCount, d.ErrorCount
		if e.Calls > 0 {
			e.ErrorRate = float64(e.Errors) / float64(e.Calls)
		}
		if secs > 0 {
			e.RatePerSec = float64(e.Calls) / secs
		}
		edges = append(edges, e)
	}
	return edges, nil
}

// Dependencies serves /api/dependencies from the same joined graph.
func (g serviceGraph) Dependencies(ctx context.Context, endTs time.Time, lookback time.Duration) ([]query.Dependency, error) {
	edges, err := g.Graph(ctx, endTs.Add(-lookback), endTs)
	if err != nil {
		return nil, err
	}
	return spanmetrics.DependenciesOf(edges), nil
}

// queryWithGraph is the query service with dependencies from serviceGraph.
type queryWithGraph struct {
	*query.Service
	graph serviceGraph
}

func (q queryWithGraph) Dependencies(ctx context.Context, endTs time.Time, lookback time.Duration) ([]query.Dependency, error) {
	return q.graph.Dependencies(ctx, endTs, lookback)
}

// openBucket returns the bucket trace blocks go to with --storage s3 —
// requests counted, range reads cached — or nil for the store's own local
// directory.
func openBucket(ctx context.Context, cfg config.Config, reg prometheus.Registerer) (objstore.Bucket, error) {
	if cfg.Storage != "s3" {
		return nil, nil
	}
	s3, err := objstore.NewS3(ctx, objstore.S3Options{
		Bucket:   cfg.S3Bucket,
		Endpoint: cfg.S3Endpoint,
		Region:   cfg.S3Region,
		Prefix:   cfg.S3Prefix,
		Insecure: cfg.S3Insecure,
	})
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	counting := objstore.NewCounting(s3)
	cache, err := objstore.NewCache(counting, objstore.CacheOptions{Dir: cfg.CacheDir, DirBytes: cfg.CacheMaxBytes})
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	registerBucketMetrics(reg, counting, cache)
	return cache, nil
}

func registerBucketMetrics(reg prometheus.Registerer, counting *objstore.Counting, cache *objstore.Cache) {
	ops := map[string]func(objstore.RequestCounts) int64{
		"put":    func(c objstore.RequestCounts) int64 { return c.Put },
		"get":    func(c objstore.RequestCounts) int64 { return c.Get },
		"open":   func(c objstore.RequestCounts) int64 { return c.Open },
		"range":  func(c objstore.RequestCounts) int64 { return c.RangeRead },
		"list":   func(c objstore.RequestCounts) int64 { return c.List },
		"delete": func(c objstore.RequestCounts) int64 { return c.Delete },
	}
	for op, get := range ops {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "clew_objstore_requests_total",
			Help:        "Requests sent to the object store, by kind (get and range are GETs, open is a HEAD).",
			ConstLabels: prometheus.Labels{"op": op},
		}, func() float64 { return float64(get(counting.Counts())) }))
	}
	stat := func(name, help string, get func(objstore.CacheStats) int64, counter bool) {
		f := func() float64 { return float64(get(cache.Stats())) }
		if counter {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
		} else {
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
		}
	}
	stat("clew_objstore_cache_memory_hits_total", "Block data chunks served from the memory cache.", func(s objstore.CacheStats) int64 { return s.MemoryHits }, true)
	stat("clew_objstore_cache_disk_hits_total", "Block data chunks served from the disk cache (--cache-dir).", func(s objstore.CacheStats) int64 { return s.DiskHits }, true)
	stat("clew_objstore_cache_misses_total", "Block data chunks fetched from the bucket.", func(s objstore.CacheStats) int64 { return s.Misses }, true)
	stat("clew_objstore_cache_memory_bytes", "Bytes held by the memory cache.", func(s objstore.CacheStats) int64 { return s.MemoryBytes }, false)
	stat("clew_objstore_cache_disk_bytes", "Bytes held by the disk cache.", func(s objstore.CacheStats) int64 { return s.DiskBytes }, false)
}
