package segment

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Counters are the core's counters, registered under Options.MetricPrefix.
type Counters struct {
	Written           prometheus.Counter
	Refused           prometheus.Counter
	BlocksWritten     prometheus.Counter
	FlushFailures     prometheus.Counter
	Compactions       prometheus.Counter
	BlocksExpired     prometheus.Counter
	SharedDeletes     prometheus.Counter
	BlockReadErrors   prometheus.Counter
	BlocksQuarantined prometheus.Counter
	Lost              prometheus.Counter
}

// newMetrics makes the core's metrics, named <MetricPrefix>_..., and
// registers them (and gauges read at scrape time) if reg is set.
func newMetrics[R any, H Head[R], B Block](c *Core[R, H, B], reg prometheus.Registerer) *Counters {
	p, unit := c.opts.MetricPrefix+"_", c.opts.Unit
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: p + name, Help: help})
	}
	m := &Counters{
		Written:       counter(unit+"_written_total", "Records ("+unit+") made durable in the WAL and indexed."),
		Refused:       counter(unit+"_refused_total", "Records ("+unit+") refused because too much data was waiting to be written as blocks."),
		BlocksWritten: counter("blocks_written_total", "Blocks cut from the in-memory head."),
		FlushFailures: counter("block_write_failures_total", "Failed attempts to write a head as a block (retried with backoff)."),
		Compactions:   counter("compactions_total", "Compactions of small blocks into larger ones."),
		BlocksExpired: counter("blocks_expired_total", "Blocks dropped by retention."),
		SharedDeletes: counter("shared_blocks_deleted_total",
			"Blocks this node deleted from a shared bucket as the compactor (compacted away, expired, or uploads left incomplete)."),
		BlockReadErrors: counter("block_read_errors_total",
			"Query reads of a block that did not decode; the query answered from the other blocks, marked partial, and the block was queued for verification."),
		BlocksQuarantined: counter("blocks_quarantined_total",
			"Blocks found damaged and moved to quarantine/ (their intact records rebuilt as a new block)."),
		Lost: counter("damaged_"+unit+"_total", "Records ("+unit+") lost in the damaged parts of quarantined blocks."),
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.Written, m.Refused, m.BlocksWritten, m.FlushFailures, m.Compactions, m.BlocksExpired,
		m.SharedDeletes, m.BlockReadErrors, m.BlocksQuarantined, m.Lost)
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: p + name, Help: help}, f))
	}
	gauge("upload_backlog_blocks", "Heads cut and waiting to be written as blocks (uploaded, with --storage s3); grows while writes fail.",
		func() float64 { n, _ := c.Backlog(); return float64(n) })
	gauge("upload_backlog_"+unit, "Records ("+unit+") in heads waiting to be written as blocks: acknowledged, in the WAL and queryable, not yet in a block.",
		func() float64 { _, n := c.Backlog(); return float64(n) })
	gauge("blocks", "Blocks in this node's block list.",
		func() float64 { c.mu.RLock(); defer c.mu.RUnlock(); return float64(len(c.blocks)) })
	gauge("block_bytes", "Bytes of the blocks in this node's block list.", func() float64 {
		c.mu.RLock()
		defer c.mu.RUnlock()
		var n int64
		for _, b := range c.blocks {
			n += b.meta.Bytes
		}
		return float64(n)
	})
	gauge("head_"+unit, "Records ("+unit+") in memory, not yet in a block.", func() float64 {
		c.mu.RLock()
		defer c.mu.RUnlock()
		n, _ := c.head.Size()
		for _, f := range c.flushing {
			k, _ := f.h.Size()
			n += k
		}
		return float64(n)
	})
	gauge("wal_bytes", "Bytes of write-ahead log on disk.", func() float64 { return float64(c.wal.Size()) })
	gauge("wal_replaying", "1 while the WAL is being replayed after a start (queries are partial, writes refused), else 0.",
		func() float64 {
			if c.replay.running.Load() {
				return 1
			}
			return 0
		})
	return m
}
