package store

import (
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the span store's counters: the lifecycle's own
// (segment.Counters, registered as clew_store_...) plus what only the span
// store reports.
type metrics struct {
	blockReadErrors   prometheus.Counter
	blocksQuarantined prometheus.Counter
	spansLost         prometheus.Counter
}

func newMetrics(s *Store, reg prometheus.Registerer) *metrics {
	c := s.core.Counters()
	m := &metrics{blockReadErrors: c.BlockReadErrors, blocksQuarantined: c.BlocksQuarantined, spansLost: c.Lost}
	if reg == nil {
		return m
	}
	replay := func(f func(bytes, size, records int64) int64) func() float64 {
		return func() float64 { _, b, sz, r := s.core.ReplayProgress(); return float64(f(b, sz, r)) }
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clew_store_wal_replay_bytes",
		Help: "Bytes of WAL records replayed since the start (compare clew_store_wal_replay_size_bytes)."},
		replay(func(b, _, _ int64) int64 { return b })))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clew_store_wal_replay_size_bytes",
		Help: "Bytes of WAL on disk when the replay at start began."},
		replay(func(_, sz, _ int64) int64 { return sz })))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clew_store_wal_replayed_spans",
		Help: "Spans replayed from the WAL since the start."},
		replay(func(_, _, r int64) int64 { return r })))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "clew_store_wal_write_failures_total",
		Help: "WAL writes, fsyncs and segment creations that failed (a full or failing disk); the WAL retries by itself."},
		func() float64 { return float64(s.wal.Failures()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clew_store_wal_writable",
		Help: "1 while the WAL can write, 0 after a failed write until a write succeeds again (/readyz is not ready meanwhile)."},
		func() float64 {
			if s.wal.Err() != nil {
				return 0
			}
			return 1
		}))
	for i, from := range summarySourceNames {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "clew_store_trace_summaries_total",
			Help:        "Trace summaries answered (search results' summaries), by source: a block's summary row, a head's spans, or the whole trace read.",
			ConstLabels: prometheus.Labels{"from": from}},
			func() float64 { return float64(s.summaries[i].Load()) }))
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clew_store_disk_free_bytes",
		Help: "Bytes available to Clew on the file system of the data directory (-1 if unknown)."},
		func() float64 { return float64(freeBytes(s.opts.Dir)) }))
	return m
}

// freeBytes is the space an unprivileged writer can use on dir's file
// system, or -1 if it cannot be read.
func freeBytes(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
