package store

import (
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	spansWritten    prometheus.Counter
	refusedOverload prometheus.Counter
	blocksWritten   prometheus.Counter
	flushFailures   prometheus.Counter
	compactions     prometheus.Counter
	blocksExpired   prometheus.Counter
	sharedDeletes   prometheus.Counter

	blockReadErrors   prometheus.Counter
	blocksQuarantined prometheus.Counter
	spansLost         prometheus.Counter
}

func newMetrics(s *Store, reg prometheus.Registerer) *metrics {
	m := &metrics{
		spansWritten:    prometheus.NewCounter(prometheus.CounterOpts{Name: "clew_store_spans_written_total", Help: "Spans made durable in the WAL and indexed."}),
		refusedOverload: prometheus.NewCounter(prometheus.CounterOpts{Name: "clew_store_spans_refused_total", Help: "Spans refused because too much data was waiting to be written as blocks."}),
		blocksWritten:   prometheus.NewCounter(prometheus.CounterOpts{Name: "clew_store_blocks_written_total", Help: "Blocks cut from the in-memory head."}),
		flushFailures:   prometheus.NewCounter(prometheus.CounterOpts{Name: "clew_store_block_write_failures_total", Help: "Failed attempts to write a head as a block (retried)."}),
		compactions:     prometheus.NewCounter(prometheus.CounterOpts{Name: "clew_store_compactions_total", Help: "Compactions of small blocks into larger ones."}),
		blocksExpired:   prometheus.NewCounter(prometheus.CounterOpts{Name: "clew_store_blocks_expired_total", Help: "Blocks deleted by retention."}),
		sharedDeletes: prometheus.NewCounter(prometheus.CounterOpts{Name: "clew_store_shared_blocks_deleted_total",
			Help: "Blocks this node deleted from a shared bucket as the compactor (compacted away, expired, or uploads left incomplete)."}),
	}
	m.blockReadErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "clew_store_block_read_errors_total",
		Help: "Query reads of a block that failed; the query answered from the other blocks, marked partial, and the block was queued for verification."})
	m.blocksQuarantined = prometheus.NewCounter(prometheus.CounterOpts{Name: "clew_store_blocks_quarantined_total",
		Help: "Blocks found damaged by verification and moved to quarantine/ (their intact row groups rebuilt as a new block)."})
	m.spansLost = prometheus.NewCounter(prometheus.CounterOpts{Name: "clew_store_damaged_spans_total",
		Help: "Spans lost in damaged row groups of quarantined blocks."})
	if reg == nil {
		return m
	}
	reg.MustRegister(m.blockReadErrors, m.blocksQuarantined, m.spansLost)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clew_store_wal_replaying",
		Help: "1 while the WAL is being replayed after a start (queries are partial, writes refused), else 0."},
		func() float64 {
			if s.replay.running.Load() {
				return 1
			}
			return 0
		}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clew_store_wal_replay_bytes",
		Help: "Bytes of WAL records replayed since the start (compare clew_store_wal_replay_size_bytes)."},
		func() float64 { return float64(s.replay.bytes.Load()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clew_store_wal_replay_size_bytes",
		Help: "Bytes of WAL on disk when the replay at start began."},
		func() float64 { return float64(s.replay.size) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clew_store_wal_replayed_spans",
		Help: "Spans replayed from the WAL since the start."},
		func() float64 { return float64(s.replay.spans.Load()) }))
	reg.MustRegister(m.spansWritten, m.refusedOverload, m.blocksWritten, m.flushFailures, m.compactions, m.blocksExpired, m.sharedDeletes)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clew_store_wal_bytes", Help: "Bytes of write-ahead log on disk."},
		func() float64 { return float64(s.wal.Size()) }))
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
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clew_store_disk_free_bytes",
		Help: "Bytes available to Clew on the file system of the data directory (-1 if unknown)."},
		func() float64 { return float64(freeBytes(s.opts.Dir)) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clew_store_block_bytes", Help: "Bytes of blocks on disk."},
		func() float64 { return float64(s.blockBytes()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clew_store_upload_backlog_blocks",
		Help: "Heads cut and waiting to be written as blocks (uploaded, with --storage s3); grows while writes fail."},
		func() float64 { n, _ := s.backlog(); return float64(n) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clew_store_upload_backlog_spans",
		Help: "Spans in heads waiting to be written as blocks: acknowledged, in the WAL and queryable, not yet in a block."},
		func() float64 { _, n := s.backlog(); return float64(n) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clew_store_blocks", Help: "Blocks stored."},
		func() float64 { s.mu.RLock(); defer s.mu.RUnlock(); return float64(len(s.blocks)) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clew_store_head_spans", Help: "Spans in memory, not yet in a block."},
		func() float64 {
			var n int
			snap := s.snapshot()
			defer snap.release()
			for _, h := range snap.heads {
				c, _ := h.size()
				n += c
			}
			return float64(n)
		}))
	return m
}

func (s *Store) blockBytes() int64 {
	var n int64
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, b := range s.blocks {
		n += b.Meta().Bytes
	}
	return n
}

// backlog is what waits to be written as blocks: cut heads and their spans.
func (s *Store) backlog() (heads, spans int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, f := range s.flushing {
		n, _ := f.h.size()
		spans += n
	}
	return len(s.flushing), spans
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
