package sampling

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/consumer"
)

// Clock tells the time; tests inject a fake one.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// trace is one held trace.
type trace struct {
	id      pcommon.TraceID
	batches []ptrace.Traces // each holds spans of this trace only
	spans   int
	bytes   int64     // OTLP protobuf size of batches
	last    time.Time // arrival of the latest span
	elem    *list.Element
}

// eachSpan calls f for every span with its resource until f returns false.
func (t *trace) eachSpan(f func(pcommon.Resource, ptrace.Span) bool) {
	for _, td := range t.batches {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			rs := rss.At(i)
			sss := rs.ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					if !f(rs.Resource(), spans.At(k)) {
						return
					}
				}
			}
		}
	}
}

// anyAttr reports whether some span's attribute key, or its resource's,
// satisfies pred.
func (t *trace) anyAttr(key string, pred func(pcommon.Value) bool) bool {
	found := false
	t.eachSpan(func(res pcommon.Resource, s ptrace.Span) bool {
		if v, ok := s.Attributes().Get(key); ok && pred(v) {
			found = true
		} else if v, ok := res.Attributes().Get(key); ok && pred(v) {
			found = true
		}
		return !found
	})
	return found
}

type policy struct {
	name      string
	ev        evaluator
	decisions [3]prometheus.Counter // by Decision
}

// Processor is the tail-sampling stage.
type Processor struct {
	cfg      Config
	next     consumer.Traces
	logger   *slog.Logger
	clock    Clock
	policies []policy

	mu      sync.Mutex
	held    map[pcommon.TraceID]*trace
	order   *list.List // of *trace, by last arrival, oldest first
	spans   int        // spans held
	bytes   int64      // their OTLP protobuf size
	kept    *idCache
	dropped *idCache

	traces         [2]prometheus.Counter // dropped, kept
	late           [2]prometheus.Counter // dropped, kept
	early          prometheus.Counter
	earlyBytes     prometheus.Counter
	heldBytes      prometheus.Gauge
	forwardFailed  prometheus.Counter
	heldTraces     prometheus.Gauge
	heldSpans      prometheus.Gauge
	stop, finished chan struct{}
	stopOnce       sync.Once
}

var _ consumer.Traces = (*Processor)(nil)

// New builds the stage; it holds nothing and decides nothing until traffic
// comes, and decides on time only once Start runs its ticker (tests call
// decideExpired instead). Counters are registered with reg (nil: not
// registered).
func New(cfg Config, next consumer.Traces, reg prometheus.Registerer, logger *slog.Logger, clock Clock) (*Processor, error) {
	cfg.Enabled = true // validate as the running stage, whatever the flag says
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("tail_sampling: %w", err)
	}
	if next == nil {
		return nil, errors.New("tail_sampling: next consumer is nil")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Processor{
		cfg: cfg, next: next, logger: logger, clock: clock,
		held:    make(map[pcommon.TraceID]*trace),
		order:   list.New(),
		kept:    newIDCache(cfg.DecisionCache.SampledCacheSize),
		dropped: newIDCache(cfg.DecisionCache.NonSampledCacheSize),
		stop:    make(chan struct{}),
	}
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "clew_pipeline_tail_sampling_policy_decisions_total",
		Help: "Tail-sampling policy verdicts on traces, by policy and decision (sampled, not_sampled, dropped).",
	}, []string{"policy", "decision"})
	for _, pc := range cfg.Policies {
		ev, _ := buildPolicy(pc) // validated above
		pol := policy{name: pc.Name, ev: ev}
		for d := range pol.decisions {
			pol.decisions[d] = decisions.WithLabelValues(pc.Name, Decision(d).String())
		}
		p.policies = append(p.policies, pol)
	}
	traces := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "clew_pipeline_tail_sampling_traces_total",
		Help: "Traces decided by tail sampling, by outcome (kept, dropped).",
	}, []string{"decision"})
	late := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "clew_pipeline_tail_sampling_late_spans_total",
		Help: "Spans that arrived after their trace was decided and followed that decision.",
	}, []string{"decision"})
	for i, d := range []string{"dropped", "kept"} {
		p.traces[i] = traces.WithLabelValues(d)
		p.late[i] = late.WithLabelValues(d)
	}
	p.early = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "clew_pipeline_tail_sampling_early_decisions_total",
		Help: "Traces decided before decision_wait because num_traces were held.",
	})
	p.earlyBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "clew_pipeline_tail_sampling_byte_limit_decisions_total",
		Help: "Traces decided before decision_wait because max_bytes of spans were held.",
	})
	p.heldBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "clew_pipeline_tail_sampling_bytes_held", Help: "OTLP protobuf bytes of the spans held awaiting a decision.",
	})
	p.forwardFailed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "clew_pipeline_tail_sampling_forward_failed_spans_total",
		Help: "Kept spans lost because the next stage failed when the ticker forwarded them.",
	})
	p.heldTraces = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "clew_pipeline_tail_sampling_traces_held", Help: "Traces held awaiting a decision.",
	})
	p.heldSpans = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "clew_pipeline_tail_sampling_spans_held", Help: "Spans held awaiting a decision.",
	})
	if reg != nil {
		for _, c := range []prometheus.Collector{decisions, traces, late, p.early, p.earlyBytes, p.forwardFailed, p.heldTraces, p.heldSpans, p.heldBytes} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("tail_sampling: register metrics: %w", err)
			}
		}
	}
	return p, nil
}

// Start runs the goroutine that decides traces whose wait is over. Shutdown
// stops it.
func (p *Processor) Start() {
	p.finished = make(chan struct{})
	tick := min(max(p.cfg.DecisionWait/10, 10*time.Millisecond), time.Second)
	go func() {
		defer close(p.finished)
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.decideExpired(context.Background())
			}
		}
	}()
}

// Shutdown stops the ticker, then decides every held trace and forwards the
// kept ones. It is safe to call more than once.
func (p *Processor) Shutdown(ctx context.Context) error {
	p.stopOnce.Do(func() { close(p.stop) })
	if p.finished != nil {
		select {
		case <-p.finished:
		case <-ctx.Done():
			return fmt.Errorf("tail_sampling: shutdown: %w", ctx.Err())
		}
	}
	p.mu.Lock()
	fwd := p.decideWhile(p.clock.Now(), func(*trace) bool { return true }, false)
	p.mu.Unlock()
	if _, err := p.forward(ctx, fwd); err != nil {
		return fmt.Errorf("tail_sampling: flush on shutdown: %w", err)
	}
	return nil
}

// ConsumeTraces holds the batch's spans by trace. Spans of traces already
// decided follow the decision at once: kept ones go to next with this call, so
// its error reaches the client. Spans held are acknowledged now.
func (p *Processor) ConsumeTraces(ctx context.Context, td ptrace.Traces) (consumer.Result, error) {
	groups := splitByTrace(td)
	var sizer ptrace.ProtoMarshaler
	for _, g := range groups {
		g.bytes = int64(sizer.TracesSize(g.td)) // outside the lock
	}
	now := p.clock.Now()
	var fwd []ptrace.Traces
	p.mu.Lock()
	for _, g := range groups {
		switch {
		case p.kept.has(g.id):
			p.late[1].Add(float64(g.spans))
			fwd = append(fwd, g.td)
			continue
		case p.dropped.has(g.id):
			p.late[0].Add(float64(g.spans))
			continue
		}
		t, ok := p.held[g.id]
		if !ok {
			t = &trace{id: g.id}
			t.elem = p.order.PushBack(t)
			p.held[g.id] = t
		} else {
			p.order.MoveToBack(t.elem)
		}
		t.batches = append(t.batches, g.td)
		t.spans += g.spans
		t.bytes += g.bytes
		t.last = now
		p.spans += g.spans
		p.bytes += g.bytes
	}
	over := len(p.held) - p.cfg.NumTraces
	if over > 0 {
		fwd = append(fwd, p.decideWhile(now, func(*trace) bool { over--; return over >= 0 }, true)...)
	}
	if p.bytes > p.cfg.MaxBytes {
		fwd = append(fwd, p.decideWhile(now, func(*trace) bool {
			if p.bytes <= p.cfg.MaxBytes {
				return false
			}
			p.earlyBytes.Inc()
			return true
		}, false)...)
	}
	p.setHeld()
	p.mu.Unlock()
	return p.forward(ctx, fwd)
}

// decideExpired decides the traces whose wait is over and forwards the kept
// ones. A failure of next cannot reach a client any more (the spans were
// acknowledged), so it is logged and counted.
func (p *Processor) decideExpired(ctx context.Context) {
	now := p.clock.Now()
	p.mu.Lock()
	fwd := p.decideWhile(now, func(t *trace) bool { return now.Sub(t.last) >= p.cfg.DecisionWait }, false)
	p.setHeld()
	p.mu.Unlock()
	if _, err := p.forward(ctx, fwd); err != nil {
		n := 0
		for _, td := range fwd {
			n += td.SpanCount()
		}
		p.forwardFailed.Add(float64(n))
		p.logger.ErrorContext(ctx, "tail sampling could not forward kept traces; spans lost", "spans", n, "err", err)
	}
}

// setHeld updates the held gauges. Called with p.mu held.
func (p *Processor) setHeld() {
	p.heldTraces.Set(float64(len(p.held)))
	p.heldSpans.Set(float64(p.spans))
	p.heldBytes.Set(float64(p.bytes))
}

// decideWhile decides held traces from the oldest while cond holds and
// returns the kept traces' batches. Called with p.mu held.
func (p *Processor) decideWhile(now time.Time, cond func(*trace) bool, early bool) []ptrace.Traces {
	var fwd []ptrace.Traces
	for e := p.order.Front(); e != nil; e = p.order.Front() {
		t := e.Value.(*trace)
		if !cond(t) {
			break
		}
		p.order.Remove(e)
		delete(p.held, t.id)
		p.spans -= t.spans
		p.bytes -= t.bytes
		if early {
			p.early.Inc()
		}
		if p.decide(now, t) {
			p.kept.add(t.id)
			p.traces[1].Inc()
			fwd = append(fwd, t.batches...)
		} else {
			p.dropped.add(t.id)
			p.traces[0].Inc()
		}
	}
	return fwd
}

// decide runs every policy (so each one's counters tell what it would have
// done) and combines them: any drop vetoes, otherwise any sampled keeps. With
// no policies everything is kept.
func (p *Processor) decide(now time.Time, t *trace) bool {
	if len(p.policies) == 0 {
		return true
	}
	sampled, dropped := false, false
	for _, pol := range p.policies {
		d := pol.ev.evaluate(now, t)
		pol.decisions[d].Inc()
		sampled = sampled || d == Sampled
		dropped = dropped || d == Dropped
	}
	return sampled && !dropped
}

// forward merges batches into one and passes it to next.
func (p *Processor) forward(ctx context.Context, batches []ptrace.Traces) (consumer.Result, error) {
	if len(batches) == 0 {
		return consumer.Result{}, nil
	}
	out := batches[0]
	for _, b := range batches[1:] {
		b.ResourceSpans().MoveAndAppendTo(out.ResourceSpans())
	}
	res, err := p.next.ConsumeTraces(ctx, out)
	if err != nil {
		return res, fmt.Errorf("tail_sampling: %w", err)
	}
	return res, nil
}

// group is the part of a batch that belongs to one trace.
type group struct {
	id    pcommon.TraceID
	td    ptrace.Traces
	spans int
	bytes int64 // OTLP protobuf size of td
	// Where this group's spans go: the resource and scope of the source
	// batch last copied, so spans that share them are not copied again.
	rs, ss   int
	dstSpans ptrace.SpanSlice
	dstRes   ptrace.ResourceSpans
}

// splitByTrace cuts td into one batch per trace, moving spans and copying
// resources and scopes once per trace. A batch of one trace is returned as
// it is.
func splitByTrace(td ptrace.Traces) []*group {
	first, single, n := pcommon.TraceID{}, true, 0
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len() && single; i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len() && single; j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				id := spans.At(k).TraceID()
				if n == 0 {
					first = id
				} else if id != first {
					single = false
					break
				}
				n++
			}
		}
	}
	if n == 0 {
		return nil
	}
	if single {
		return []*group{{id: first, td: td, spans: n}}
	}

	byID := map[pcommon.TraceID]*group{}
	var out []*group
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				g := byID[s.TraceID()]
				if g == nil {
					g = &group{id: s.TraceID(), td: ptrace.NewTraces(), rs: -1, ss: -1}
					byID[g.id] = g
					out = append(out, g)
				}
				if g.rs != i {
					g.dstRes = g.td.ResourceSpans().AppendEmpty()
					rs.Resource().CopyTo(g.dstRes.Resource())
					g.dstRes.SetSchemaUrl(rs.SchemaUrl())
					g.rs, g.ss = i, -1
				}
				if g.ss != j {
					dss := g.dstRes.ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(dss.Scope())
					dss.SetSchemaUrl(ss.SchemaUrl())
					g.dstSpans = dss.Spans()
					g.ss = j
				}
				s.MoveTo(g.dstSpans.AppendEmpty())
				g.spans++
			}
		}
	}
	return out
}

// idCache remembers the last size trace IDs added, forgetting the oldest.
type idCache struct {
	ring []pcommon.TraceID
	next int
	full bool
	pos  map[pcommon.TraceID]int
}

func newIDCache(size int) *idCache {
	return &idCache{ring: make([]pcommon.TraceID, size), pos: make(map[pcommon.TraceID]int, size)}
}

func (c *idCache) has(id pcommon.TraceID) bool {
	_, ok := c.pos[id]
	return ok
}

func (c *idCache) add(id pcommon.TraceID) {
	if c.has(id) {
		return
	}
	if c.full {
		old := c.ring[c.next]
		if c.pos[old] == c.next {
			delete(c.pos, old)
		}
	}
	c.ring[c.next] = id
	c.pos[id] = c.next
	c.next++
	if c.next == len(c.ring) {
		c.next, c.full = 0, true
	}
}
