package segment

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	written           prometheus.Counter
	refused           prometheus.Counter
	blocksWritten     prometheus.Counter
	flushFailures     prometheus.Counter
	compactions       prometheus.Counter
	blocksExpired     prometheus.Counter
	sharedDeletes     prometheus.Counter
	blockReadErrors   prometheus.Counter
	blocksQuarantined prometheus.Counter
	lost              prometheus.Counter
}

// newMetrics makes the core's metrics, named <MetricPrefix>_..., and
// registers them (and gauges read at scrape time) if reg is set.
func newMetrics[R any, H Head[R], B Block](c *Core[R, H, B], reg prometheus.Registerer) *metrics {
	p, unit := c.opts.MetricPrefix+"_", c.opts.Unit
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: p + name, Help: help})
	}
	m := &metrics{
		written:       counter(unit+"_written_total", "Records ("+unit+") made durable in the WAL and indexed."),
		refused:       counter(unit+"_refused_total", "Records ("+unit+") refused because too much data was waiting to be written as blocks."),
		blocksWritten: counter("blocks_written_total", "Blocks cut from the in-memory head."),
		flushFailures: counter("block_write_failures_total", "Failed attempts to write a head as a block (retried with backoff)."),
		compactions:   counter("compactions_total", "Compactions of small blocks into larger ones."),
		blocksExpired: counter("blocks_expired_total", "Blocks dropped by retention."),
		sharedDeletes: counter("shared_blocks_deleted_total",
			"Blocks this node deleted from a shared bucket as the compactor (compacted away, expired, or uploads left incomplete)."),
		blockReadErrors: counter("block_read_errors_total",
			"Query reads of a block that did not decode; the query answered from the other blocks, marked partial, and the block was queued for verification."),
		blocksQuarantined: counter("blocks_quarantined_total",
			"Blocks found damaged and moved to quarantine/ (their intact records rebuilt as a new block)."),
		lost: counter("damaged_"+unit+"_total", "Records ("+unit+") lost in the damaged parts of quarantined blocks."),
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.written, m.refused, m.blocksWritten, m.flushFailures, m.compactions, m.blocksExpired,
		m.sharedDeletes, m.blockReadErrors, m.blocksQuarantined, m.lost)
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
