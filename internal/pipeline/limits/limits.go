package limits

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/consumer"
)

// Action says what happens to a span that is over a per-span limit.
type Action string

const (
	// Truncate cuts what is over the limit and keeps the span.
	Truncate Action = "truncate"
	// Drop discards the whole span.
	Drop Action = "drop"
)

// Attribute keys with which a cut span is marked. They are added on top of the
// limits, so a span at the attribute limit still carries them.
const (
	AttrDroppedAttributes = "clew.dropped_attributes_count"
	AttrTruncatedValues   = "clew.truncated_attribute_values_count"
	AttrDroppedEvents     = "clew.dropped_events_count"
	AttrDroppedLinks      = "clew.dropped_links_count"
)

// Config is the `limits` section.
type Config struct {
	MaxAttributes           int    `yaml:"max_attributes"`
	MaxAttributeValueLength int    `yaml:"max_attribute_value_length"` // bytes
	MaxEvents               int    `yaml:"max_events"`
	MaxLinks                int    `yaml:"max_links"`
	MaxSpansPerTrace        int    `yaml:"max_spans_per_trace"`
	TraceCacheSize          int    `yaml:"trace_cache_size"` // traces whose span count is tracked
	Action                  Action `yaml:"action"`
}

// DefaultConfig returns the limits Clew applies when the section is absent.
func DefaultConfig() Config {
	return Config{
		MaxAttributes:           128,
		MaxAttributeValueLength: 16 << 10,
		MaxEvents:               128,
		MaxLinks:                128,
		MaxSpansPerTrace:        10_000,
		TraceCacheSize:          100_000,
		Action:                  Truncate,
	}
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{
		{"max_attributes", c.MaxAttributes},
		{"max_attribute_value_length", c.MaxAttributeValueLength},
		{"max_events", c.MaxEvents},
		{"max_links", c.MaxLinks},
		{"max_spans_per_trace", c.MaxSpansPerTrace},
		{"trace_cache_size", c.TraceCacheSize},
	} {
		if f.v <= 0 {
			return fmt.Errorf("%s must be positive, got %d", f.name, f.v)
		}
	}
	if c.Action != Truncate && c.Action != Drop {
		return fmt.Errorf("action must be %q or %q, got %q", Truncate, Drop, c.Action)
	}
	return nil
}

// Reasons a span is invalid, used as message parts and metric labels.
const (
	reasonZeroTraceID = iota
	reasonZeroSpanID
	reasonZeroStart
	reasonEndBeforeStart
	numReasons
)

var reasonText = [numReasons]struct{ label, text string }{
	{"zero_trace_id", "an all-zero trace ID"},
	{"zero_span_id", "an all-zero span ID"},
	{"zero_start_time", "no start time"},
	{"end_before_start", "an end time before the start time"},
}

// Limit names, used as metric labels.
const (
	limitAttributes = iota
	limitValueLength
	limitEvents
	limitLinks
	limitSpansPerTrace
	numLimits
)

var limitLabel = [numLimits]string{"attributes", "attribute_value_length", "events", "links", "spans_per_trace"}

// Processor is the validation and limits stage.
type Processor struct {
	cfg    Config
	next   consumer.Traces
	logger *slog.Logger

	invalid [numReasons]prometheus.Counter
	limited [numLimits]prometheus.Counter // spans that hit the limit
	dropped [numLimits]prometheus.Counter // spans dropped because of the limit

	repairedUTF8 prometheus.Counter // strings whose invalid UTF-8 was replaced

	counts *spanCounts
}

var _ consumer.Traces = (*Processor)(nil)

// New returns the stage in front of next. Its counters are registered with reg
// (nil: not registered).
func New(cfg Config, next consumer.Traces, reg prometheus.Registerer, logger *slog.Logger) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("limits: %w", err)
	}
	if next == nil {
		return nil, errors.New("limits: next consumer is nil")
	}
	p := &Processor{cfg: cfg, next: next, logger: logger, counts: newSpanCounts(cfg.TraceCacheSize)}
	invalid := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "clew_pipeline_invalid_spans_total",
		Help: "Spans rejected as invalid, by reason.",
	}, []string{"reason"})
	limited := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "clew_pipeline_limited_spans_total",
		Help: "Spans over a size limit, by limit and by what was done (truncated or dropped).",
	}, []string{"limit", "action"})
	p.repairedUTF8 = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "clew_pipeline_repaired_utf8_strings_total",
		Help: "Names, keys and string values whose bytes that were not UTF-8 were replaced with U+FFFD.",
	})
	for i := range p.invalid {
		p.invalid[i] = invalid.WithLabelValues(reasonText[i].label)
	}
	for i := range p.limited {
		p.limited[i] = limited.WithLabelValues(limitLabel[i], "truncated")
		p.dropped[i] = limited.WithLabelValues(limitLabel[i], "dropped")
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{invalid, limited, p.repairedUTF8} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("limits: register metrics: %w", err)
			}
		}
	}
	return p, nil
}

// ConsumeTraces removes invalid spans (counted in the Result), applies the
// limits and passes the rest on.
func (p *Processor) ConsumeTraces(ctx context.Context, td ptrace.Traces) (consumer.Result, error) {
	var invalid [numReasons]int64
	var droppedByLimit int64
	repaired := 0
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		repaired += RepairResource(rs.Resource()) + repairSchemaURLs(rs)
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			repaired += RepairScope(ss.Scope())
			ss.Spans().RemoveIf(func(s ptrace.Span) bool {
				if r := invalidReason(s); r >= 0 {
					invalid[r]++
					return true
				}
				repaired += repairSpan(s)
				// Per-span limits first, so a span dropped for its size does
				// not use up its trace's span budget.
				if !p.applySpanLimits(s) {
					droppedByLimit++
					return true
				}
				if !p.counts.admit(s.TraceID(), p.cfg.MaxSpansPerTrace) {
					p.dropped[limitSpansPerTrace].Inc()
					droppedByLimit++
					return true
				}
				return false
			})
			return ss.Spans().Len() == 0
		})
		return rs.ScopeSpans().Len() == 0
	})

	if repaired > 0 {
		p.repairedUTF8.Add(float64(repaired))
	}
	res := invalidResult(invalid)
	for r, n := range invalid {
		if n > 0 {
			p.invalid[r].Add(float64(n))
		}
	}
	if droppedByLimit > 0 {
		// Dropped by policy, not rejected: the client must not resend them, and
		// by the acknowledgement rule they count as accepted. A warning tells
		// the client what happened.
		res = res.Merge(consumer.Result{Message: fmt.Sprintf("%d spans dropped for exceeding size limits", droppedByLimit)})
	}
	if td.ResourceSpans().Len() == 0 {
		return res, nil
	}
	nres, err := p.next.ConsumeTraces(ctx, td)
	res = res.Merge(nres)
	if err != nil {
		return res, fmt.Errorf("limits: %w", err)
	}
	return res, nil
}

func invalidReason(s ptrace.Span) int {
	switch {
	case s.TraceID().IsEmpty():
		return reasonZeroTraceID
	case s.SpanID().IsEmpty():
		return reasonZeroSpanID
	case s.StartTimestamp() == 0:
		return reasonZeroStart
	case s.EndTimestamp() < s.StartTimestamp():
		return reasonEndBeforeStart
	}
	return -1
}

// invalidResult builds the partial-success answer, e.g. "3 spans rejected: 2
// with an all-zero trace ID, 1 with no start time".
func invalidResult(invalid [numReasons]int64) consumer.Result {
	var total int64
	var parts []string
	for r, n := range invalid {
		if n > 0 {
			total += n
			parts = append(parts, fmt.Sprintf("%d with %s", n, reasonText[r].text))
		}
	}
	if total == 0 {
		return consumer.Result{}
	}
	return consumer.Result{
		Rejected: total,
		Message:  fmt.Sprintf("%d invalid spans rejected: %s", total, strings.Join(parts, ", ")),
	}
}

// applySpanLimits enforces the per-span limits. It reports false when the span
// must be dropped (Action Drop and a limit was hit).
func (p *Processor) applySpanLimits(s ptrace.Span) bool {
	c := p.cfg
	attrs, events, links := s.Attributes(), s.Events(), s.Links()
	over := [numLimits]bool{
		limitAttributes: attrs.Len() > c.MaxAttributes,
		limitEvents:     events.Len() > c.MaxEvents,
		limitLinks:      links.Len() > c.MaxLinks,
		limitValueLength: overLength(attrs, c.MaxAttributeValueLength) ||
			eventsOverLength(events, c.MaxAttributeValueLength) ||
			linksOverLength(links, c.MaxAttributeValueLength),
	}
	hit := false
	for l, o := range over {
		hit = hit || o
		if o && c.Action == Drop {
			p.dropped[l].Inc()
		}
	}
	if !hit {
		return true
	}
	if c.Action == Drop {
		return false
	}
	for l, o := range over {
		if o {
			p.limited[l].Inc()
		}
	}

	var droppedAttrs, truncated int64
	if over[limitAttributes] {
		droppedAttrs = keepFirst(attrs, c.MaxAttributes)
		s.SetDroppedAttributesCount(s.DroppedAttributesCount() + uint32(droppedAttrs))
	}
	if over[limitValueLength] {
		truncated += truncateValues(attrs, c.MaxAttributeValueLength)
	}
	var droppedEvents, droppedLinks int64
	if over[limitEvents] {
		droppedEvents = int64(events.Len() - c.MaxEvents)
		i := 0
		events.RemoveIf(func(ptrace.SpanEvent) bool { i++; return i > c.MaxEvents })
		s.SetDroppedEventsCount(s.DroppedEventsCount() + uint32(droppedEvents))
	}
	if over[limitLinks] {
		droppedLinks = int64(links.Len() - c.MaxLinks)
		i := 0
		links.RemoveIf(func(ptrace.SpanLink) bool { i++; return i > c.MaxLinks })
		s.SetDroppedLinksCount(s.DroppedLinksCount() + uint32(droppedLinks))
	}
	if over[limitValueLength] {
		for i := 0; i < events.Len(); i++ {
			truncated += truncateValues(events.At(i).Attributes(), c.MaxAttributeValueLength)
		}
		for i := 0; i < links.Len(); i++ {
			truncated += truncateValues(links.At(i).Attributes(), c.MaxAttributeValueLength)
		}
	}
	mark(attrs, AttrDroppedAttributes, droppedAttrs)
	mark(attrs, AttrTruncatedValues, truncated)
	mark(attrs, AttrDroppedEvents, droppedEvents)
	mark(attrs, AttrDroppedLinks, droppedLinks)
	return true
}

// mark adds n to the span's marker attribute, so a span that went through the
// pipeline twice (a re-export) keeps an honest total.
func mark(attrs pcommon.Map, key string, n int64) {
	if n == 0 {
		return
	}
	if v, ok := attrs.Get(key); ok && v.Type() == pcommon.ValueTypeInt {
		n += v.Int()
	}
	attrs.PutInt(key, n)
}

// keepFirst removes all attributes after the first n and returns how many it removed.
func keepFirst(m pcommon.Map, n int) int64 {
	i, removed := 0, int64(0)
	m.RemoveIf(func(string, pcommon.Value) bool {
		i++
		if i > n {
			removed++
			return true
		}
		return false
	})
	return removed
}

func eventsOverLength(es ptrace.SpanEventSlice, max int) bool {
	for i := 0; i < es.Len(); i++ {
		if overLength(es.At(i).Attributes(), max) {
			return true
		}
	}
	return false
}

func linksOverLength(ls ptrace.SpanLinkSlice, max int) bool {
	for i := 0; i < ls.Len(); i++ {
		if overLength(ls.At(i).Attributes(), max) {
			return true
		}
	}
	return false
}

func overLength(m pcommon.Map, max int) bool {
	over := false
	m.Range(func(_ string, v pcommon.Value) bool {
		over = valueOverLength(v, max)
		return !over
	})
	return over
}

func valueOverLength(v pcommon.Value, max int) bool {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return len(v.Str()) > max
	case pcommon.ValueTypeBytes:
		return v.Bytes().Len() > max
	case pcommon.ValueTypeSlice:
		sl := v.Slice()
		for i := 0; i < sl.Len(); i++ {
			if valueOverLength(sl.At(i), max) {
				return true
			}
		}
	case pcommon.ValueTypeMap:
		return overLength(v.Map(), max)
	}
	return false
}

// truncateValues cuts string and byte values (also inside arrays and maps) to
// max bytes and returns how many it cut.
func truncateValues(m pcommon.Map, max int) int64 {
	var n int64
	m.Range(func(_ string, v pcommon.Value) bool {
		n += truncateValue(v, max)
		return true
	})
	return n
}

func truncateValue(v pcommon.Value, max int) int64 {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		if s := v.Str(); len(s) > max {
			v.SetStr(truncateUTF8(s, max))
			return 1
		}
	case pcommon.ValueTypeBytes:
		if b := v.Bytes(); b.Len() > max {
			b.FromRaw(b.AsRaw()[:max])
			return 1
		}
	case pcommon.ValueTypeSlice:
		var n int64
		sl := v.Slice()
		for i := 0; i < sl.Len(); i++ {
			n += truncateValue(sl.At(i), max)
		}
		return n
	case pcommon.ValueTypeMap:
		return truncateValues(v.Map(), max)
	}
	return 0
}

// truncateUTF8 cuts s to at most max bytes without splitting a character, so
// the stored value stays valid UTF-8 (protobuf requires it of strings).
func truncateUTF8(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && cut > max-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
