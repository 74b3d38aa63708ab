package limits

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
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
	// AttrTruncatedNames counts cut span and event names (on the span) or a
	// cut scope name and version (on the scope).
	AttrTruncatedNames = "clew.truncated_names_count"
	// AttrEndBeforeStart marks a span that ended before it started (clock
	// adjustments produce them): it is kept with its end set to its start,
	// duration 0, as Jaeger and Tempo keep them; the value is by how many
	// nanoseconds the end preceded the start.
	AttrEndBeforeStart = "clew.end_before_start_ns"
)

// MaxFutureSkew is how far ahead of this machine's clock a span may start
// or end. Further out is a broken clock or value, and such a span would
// pin its block against retention for as long as it claims to last, so it
// is rejected (partial success, reason future_timestamp).
const MaxFutureSkew = time.Hour

// Config is the `limits` section.
type Config struct {
	MaxAttributes           int    `yaml:"max_attributes"`
	MaxAttributeValueLength int    `yaml:"max_attribute_value_length"` // bytes
	MaxValueEntries         int    `yaml:"max_value_entries"`          // entries of one array or map value, at any depth
	MaxNameLength           int    `yaml:"max_name_length"`            // bytes of span, event and scope names, scope versions, service.name
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
		MaxValueEntries:         128,
		MaxNameLength:           1024,
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
		{"max_value_entries", c.MaxValueEntries},
		{"max_name_length", c.MaxNameLength},
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
	reasonFutureTime
	numReasons
)

var reasonText = [numReasons]struct{ label, text string }{
	{"zero_trace_id", "an all-zero trace ID"},
	{"zero_span_id", "an all-zero span ID"},
	{"zero_start_time", "no start time"},
	{"future_timestamp", "a start or end time more than 1h in the future"},
}

// Limit names, used as metric labels.
const (
	limitAttributes = iota
	limitValueLength
	limitEvents
	limitLinks
	limitSpansPerTrace
	limitValueEntries
	limitNameLength
	numLimits
)

var limitLabel = [numLimits]string{"attributes", "attribute_value_length", "events", "links", "spans_per_trace", "value_entries", "name_length"}

// Processor is the validation and limits stage.
type Processor struct {
	cfg    Config
	next   consumer.Traces
	logger *slog.Logger

	invalid [numReasons]prometheus.Counter
	limited [numLimits]prometheus.Counter // spans that hit the limit
	dropped [numLimits]prometheus.Counter // spans dropped because of the limit

	repairedUTF8 prometheus.Counter // strings whose invalid UTF-8 was replaced

	limitedResources [numLimits]prometheus.Counter // resources and scopes cut by a limit

	counts *spanCounts
	now    func() time.Time
	// endBeforeStart counts spans kept with duration 0.
	endBeforeStart prometheus.Counter
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
	p := &Processor{cfg: cfg, next: next, logger: logger, counts: newSpanCounts(cfg.TraceCacheSize), now: time.Now}
	p.endBeforeStart = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "clew_pipeline_end_before_start_spans_total",
		Help: "Spans that ended before they started, kept with duration 0 and marked " + AttrEndBeforeStart + ".",
	})
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
	limitedResources := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "clew_pipeline_limited_resources_total",
		Help: "Resources and instrumentation scopes over a size limit, by limit; they are always truncated.",
	}, []string{"limit"})
	for i := range p.limitedResources {
		p.limitedResources[i] = limitedResources.WithLabelValues(limitLabel[i])
	}
	for i := range p.limited {
		p.limited[i] = limited.WithLabelValues(limitLabel[i], "truncated")
		p.dropped[i] = limited.WithLabelValues(limitLabel[i], "dropped")
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{invalid, limited, limitedResources, p.repairedUTF8, p.endBeforeStart} {
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
	var droppedByLimit, endBeforeStart int64
	repaired := 0
	latest := pcommon.NewTimestampFromTime(p.now().Add(MaxFutureSkew))
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		repaired += RepairResource(rs.Resource()) + repairSchemaURLs(rs)
		p.limitResource(rs.Resource())
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			repaired += RepairScope(ss.Scope())
			p.limitScope(ss.Scope())
			ss.Spans().RemoveIf(func(s ptrace.Span) bool {
				if r := invalidReason(s, latest); r >= 0 {
					invalid[r]++
					return true
				}
				repaired += repairSpan(s)
				if start, end := s.StartTimestamp(), s.EndTimestamp(); end < start {
					s.Attributes().PutInt(AttrEndBeforeStart, int64(start-end))
					s.SetEndTimestamp(start)
					endBeforeStart++
				}
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
	if endBeforeStart > 0 {
		p.endBeforeStart.Add(float64(endBeforeStart))
		res = res.Merge(consumer.Result{Message: fmt.Sprintf(
			"%d spans ended before they started: kept with duration 0, marked %s", endBeforeStart, AttrEndBeforeStart)})
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

func invalidReason(s ptrace.Span, latest pcommon.Timestamp) int {
	switch {
	case s.TraceID().IsEmpty():
		return reasonZeroTraceID
	case s.SpanID().IsEmpty():
		return reasonZeroSpanID
	case s.StartTimestamp() == 0:
		return reasonZeroStart
	case s.StartTimestamp() > latest || s.EndTimestamp() > latest:
		return reasonFutureTime
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
	var values valueCheck
	values.maps(c, attrs)
	for _, e := range events.All() {
		values.maps(c, e.Attributes())
	}
	for _, l := range links.All() {
		values.maps(c, l.Attributes())
	}
	nameOver := len(s.Name()) > c.MaxNameLength
	for _, e := range events.All() {
		nameOver = nameOver || len(e.Name()) > c.MaxNameLength
	}
	over := [numLimits]bool{
		limitAttributes:   attrs.Len() > c.MaxAttributes,
		limitEvents:       events.Len() > c.MaxEvents,
		limitLinks:        links.Len() > c.MaxLinks,
		limitValueLength:  values.long,
		limitValueEntries: values.many,
		limitNameLength:   nameOver,
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
	if over[limitValueLength] || over[limitValueEntries] {
		truncated += truncateValues(attrs, c)
	}
	var truncatedNames int64
	if over[limitNameLength] {
		if name := s.Name(); len(name) > c.MaxNameLength {
			s.SetName(truncateUTF8(name, c.MaxNameLength))
			truncatedNames++
		}
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
	if over[limitValueLength] || over[limitValueEntries] {
		for i := 0; i < events.Len(); i++ {
			truncated += truncateValues(events.At(i).Attributes(), c)
		}
		for i := 0; i < links.Len(); i++ {
			truncated += truncateValues(links.At(i).Attributes(), c)
		}
	}
	if over[limitNameLength] {
		for _, e := range events.All() {
			if name := e.Name(); len(name) > c.MaxNameLength {
				e.SetName(truncateUTF8(name, c.MaxNameLength))
				truncatedNames++
			}
		}
	}
	mark(attrs, AttrDroppedAttributes, droppedAttrs)
	mark(attrs, AttrTruncatedValues, truncated)
	mark(attrs, AttrDroppedEvents, droppedEvents)
	mark(attrs, AttrDroppedLinks, droppedLinks)
	mark(attrs, AttrTruncatedNames, truncatedNames)
	return true
}

// limitResource applies the attribute limits to a resource, and the name
// length to its service.name. A resource is always truncated, whatever the
// action: dropping every span of a service for its resource would be out of
// all proportion. The cuts are marked on the resource.
func (p *Processor) limitResource(r pcommon.Resource) {
	attrs := r.Attributes()
	var truncated int64
	if v, ok := attrs.Get("service.name"); ok && v.Type() == pcommon.ValueTypeStr && len(v.Str()) > p.cfg.MaxNameLength {
		v.SetStr(truncateUTF8(v.Str(), p.cfg.MaxNameLength))
		p.limitedResources[limitNameLength].Inc()
		truncated++
	}
	dropped, cut := p.limitAttributes(attrs, "service.name")
	truncated += cut
	r.SetDroppedAttributesCount(r.DroppedAttributesCount() + uint32(dropped))
	mark(attrs, AttrDroppedAttributes, dropped)
	mark(attrs, AttrTruncatedValues, truncated)
}

// limitScope applies the attribute limits and the name length to an
// instrumentation scope; like a resource, it is always truncated.
func (p *Processor) limitScope(sc pcommon.InstrumentationScope) {
	attrs := sc.Attributes()
	dropped, truncated := p.limitAttributes(attrs, "")
	sc.SetDroppedAttributesCount(sc.DroppedAttributesCount() + uint32(dropped))
	var names int64
	if n := sc.Name(); len(n) > p.cfg.MaxNameLength {
		sc.SetName(truncateUTF8(n, p.cfg.MaxNameLength))
		names++
	}
	if v := sc.Version(); len(v) > p.cfg.MaxNameLength {
		sc.SetVersion(truncateUTF8(v, p.cfg.MaxNameLength))
		names++
	}
	if names > 0 {
		p.limitedResources[limitNameLength].Inc()
	}
	mark(attrs, AttrDroppedAttributes, dropped)
	mark(attrs, AttrTruncatedValues, truncated)
	mark(attrs, AttrTruncatedNames, names)
}

// limitAttributes keeps the first MaxAttributes of a resource's or scope's
// attributes (and always the attribute named keep, if any) and cuts long or
// large values; it counts what it did.
func (p *Processor) limitAttributes(attrs pcommon.Map, keep string) (dropped, truncated int64) {
	c := p.cfg
	if attrs.Len() > c.MaxAttributes {
		others := c.MaxAttributes // how many attributes besides keep stay
		if _, ok := attrs.Get(keep); keep != "" && ok {
			others--
		}
		i := 0
		attrs.RemoveIf(func(k string, _ pcommon.Value) bool {
			if keep != "" && k == keep {
				return false
			}
			i++
			if i > others {
				dropped++
				return true
			}
			return false
		})
		p.limitedResources[limitAttributes].Inc()
	}
	var values valueCheck
	values.maps(c, attrs)
	if values.long {
		p.limitedResources[limitValueLength].Inc()
	}
	if values.many {
		p.limitedResources[limitValueEntries].Inc()
	}
	if values.long || values.many {
		truncated = truncateValues(attrs, c)
	}
	return dropped, truncated
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

// valueCheck finds values over the length or entry limits.
type valueCheck struct {
	long bool // a string or bytes value over MaxAttributeValueLength
	many bool // an array or map over MaxValueEntries
}

func (vc *valueCheck) maps(c Config, m pcommon.Map) {
	for _, v := range m.All() {
		vc.value(c, v)
		if vc.long && vc.many {
			return
		}
	}
}

// value checks v and what it contains. Receivers bound the nesting depth
// (otlpwire.MaxValueDepth), so the recursion is bounded.
func (vc *valueCheck) value(c Config, v pcommon.Value) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		vc.long = vc.long || len(v.Str()) > c.MaxAttributeValueLength
	case pcommon.ValueTypeBytes:
		vc.long = vc.long || v.Bytes().Len() > c.MaxAttributeValueLength
	case pcommon.ValueTypeSlice:
		sl := v.Slice()
		vc.many = vc.many || sl.Len() > c.MaxValueEntries
		for _, e := range sl.All() {
			vc.value(c, e)
		}
	case pcommon.ValueTypeMap:
		vc.many = vc.many || v.Map().Len() > c.MaxValueEntries
		vc.maps(c, v.Map())
	}
}

// truncateValues cuts string and byte values (also inside arrays and maps) to
// MaxAttributeValueLength bytes and arrays and maps to their first
// MaxValueEntries entries, and returns how many values it cut.
func truncateValues(m pcommon.Map, c Config) int64 {
	var n int64
	for _, v := range m.All() {
		n += truncateValue(v, c)
	}
	return n
}

func truncateValue(v pcommon.Value, c Config) int64 {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		if s := v.Str(); len(s) > c.MaxAttributeValueLength {
			v.SetStr(truncateUTF8(s, c.MaxAttributeValueLength))
			return 1
		}
	case pcommon.ValueTypeBytes:
		if b := v.Bytes(); b.Len() > c.MaxAttributeValueLength {
			b.FromRaw(b.AsRaw()[:c.MaxAttributeValueLength])
			return 1
		}
	case pcommon.ValueTypeSlice:
		var n int64
		sl := v.Slice()
		if sl.Len() > c.MaxValueEntries {
			i := 0
			sl.RemoveIf(func(pcommon.Value) bool { i++; return i > c.MaxValueEntries })
			n++
		}
		for _, e := range sl.All() {
			n += truncateValue(e, c)
		}
		return n
	case pcommon.ValueTypeMap:
		var n int64
		if m := v.Map(); m.Len() > c.MaxValueEntries {
			keepFirst(m, c.MaxValueEntries)
			n++
		}
		return n + truncateValues(v.Map(), c)
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
