package limits

import (
	"container/list"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// spanCounts counts the spans seen per trace, for the traces seen most
// recently. The bound keeps memory fixed whatever the traffic; the price is
// that a trace evicted (no span for a while, under heavy traffic) starts
// counting again from zero.
type spanCounts struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *traceCount, most recently used at the front
	byID  map[pcommon.TraceID]*list.Element
}

type traceCount struct {
	id pcommon.TraceID
	n  int
}

func newSpanCounts(max int) *spanCounts {
	return &spanCounts{max: max, order: list.New(), byID: make(map[pcommon.TraceID]*list.Element)}
}

// admit counts one more span of trace id and reports whether the trace is
// still within limit spans.
func (c *spanCounts) admit(id pcommon.TraceID, limit int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byID[id]; ok {
		c.order.MoveToFront(e)
		tc := e.Value.(*traceCount)
		if tc.n >= limit {
			return false
		}
		tc.n++
		return true
	}
	if c.order.Len() >= c.max {
		// Reuse the evicted element's record: no allocation once full.
		e := c.order.Back()
		tc := e.Value.(*traceCount)
		delete(c.byID, tc.id)
		tc.id, tc.n = id, 1
		c.order.MoveToFront(e)
		c.byID[id] = e
		return limit >= 1
	}
	c.byID[id] = c.order.PushFront(&traceCount{id: id, n: 1})
	return limit >= 1
}

func (c *spanCounts) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
