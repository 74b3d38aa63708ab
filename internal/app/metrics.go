package app

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/felixge/httpsnoop"
	"github.com/prometheus/client_golang/prometheus"
)

// registry is the Prometheus registry behind /metrics. It remembers every
// metric description registered, so a test can list all of Clew's metrics,
// not only those that have a value yet (docs/metrics.md).
type registry struct {
	*prometheus.Registry
	mu    sync.Mutex
	descs []*prometheus.Desc
}

func newRegistry() *registry { return &registry{Registry: prometheus.NewRegistry()} }

// Register implements prometheus.Registerer.
func (r *registry) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	r.mu.Lock()
	defer r.mu.Unlock()
	for d := range ch {
		r.descs = append(r.descs, d)
	}
	return nil
}

// MustRegister implements prometheus.Registerer.
func (r *registry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// described returns every registered description.
func (r *registry) described() []*prometheus.Desc {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*prometheus.Desc(nil), r.descs...)
}

// apiMetrics counts query API requests and their latency by listener,
// endpoint (the ServeMux pattern that answered, so the label stays bounded)
// and status code.
type apiMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newAPIMetrics(reg prometheus.Registerer) *apiMetrics {
	m := &apiMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clew_query_api_requests_total",
			Help: "Query API requests (paths under /api/), by listener, endpoint pattern and status code.",
		}, []string{"listener", "endpoint", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "clew_query_api_request_duration_seconds",
			Help:    "Query API request latency, by listener and endpoint pattern.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"listener", "endpoint"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// wrap measures the /api/ requests of one listener; the UI's files are not
// counted.
func (m *apiMetrics) wrap(listener string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		code := http.StatusOK
		w = httpsnoop.Wrap(w, httpsnoop.Hooks{WriteHeader: func(f httpsnoop.WriteHeaderFunc) httpsnoop.WriteHeaderFunc {
			return func(c int) {
				code = c
				f(c)
			}
		}})
		next.ServeHTTP(w, r)
		endpoint := r.Pattern // set by the mux that answered (the request is shared down the chain)
		if endpoint == "" {
			endpoint = "unmatched"
		}
		m.requests.WithLabelValues(listener, endpoint, strconv.Itoa(code)).Inc()
		m.duration.WithLabelValues(listener, endpoint).Observe(time.Since(start).Seconds())
	})
}
