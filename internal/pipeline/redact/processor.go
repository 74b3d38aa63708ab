package redact

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/consumer"
)

// AttrRedactedCount is added to each span (and resource) the stage changed,
// holding how many values it masked or removed, so users can tell a masked
// value from one the application sent as "***".
const AttrRedactedCount = "clew.redacted_count"

// Processor is the redaction stage.
type Processor struct {
	r      *Redactor
	next   consumer.Traces
	logger *slog.Logger

	values prometheus.Counter
	spans  prometheus.Counter
}

var _ consumer.Traces = (*Processor)(nil)

// New returns the stage in front of next; it does not check cfg.Enabled (the
// caller leaves the stage out instead). Counters are registered with reg (nil:
// not registered).
func New(cfg Config, next consumer.Traces, reg prometheus.Registerer, logger *slog.Logger) (*Processor, error) {
	r, err := NewRedactor(cfg)
	if err != nil {
		return nil, err
	}
	if next == nil {
		return nil, errors.New("redaction: next consumer is nil")
	}
	p := &Processor{
		r: r, next: next, logger: logger,
		values: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clew_pipeline_redacted_values_total",
			Help: "Attribute values, span names and status messages masked, hashed or removed by redaction.",
		}),
		spans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clew_pipeline_redacted_spans_total",
			Help: "Spans with at least one redacted value (their own or their resource's).",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{p.values, p.spans} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("redaction: register metrics: %w", err)
			}
		}
	}
	return p, nil
}

// Redactor returns the stage's rules, for the logs path.
func (p *Processor) Redactor() *Redactor { return p.r }

// ConsumeTraces redacts td in place and passes it on.
func (p *Processor) ConsumeTraces(ctx context.Context, td ptrace.Traces) (consumer.Result, error) {
	var values, spans int
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		rn := p.r.RedactMap(rs.Resource().Attributes())
		if rn > 0 {
			addCount(rs.Resource().Attributes(), rn)
			values += rn
		}
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j).Spans()
			for k := 0; k < ss.Len(); k++ {
				n := p.redactSpan(ss.At(k))
				values += n
				if n > 0 || rn > 0 {
					spans++
				}
			}
		}
	}
	if values > 0 {
		p.values.Add(float64(values))
		p.spans.Add(float64(spans))
	}
	res, err := p.next.ConsumeTraces(ctx, td)
	if err != nil {
		return res, fmt.Errorf("redaction: %w", err)
	}
	return res, nil
}

// redactSpan redacts one span and returns how many values it changed.
func (p *Processor) redactSpan(s ptrace.Span) int {
	n := p.r.RedactMap(s.Attributes())
	// URLs with tokens end up in span names ("GET /reset?token=…") and
	// exception text in status messages: both are free text.
	if name, changed := p.r.RedactString(s.Name()); changed {
		s.SetName(name)
		n++
	}
	if msg, changed := p.r.RedactString(s.Status().Message()); changed {
		s.Status().SetMessage(msg)
		n++
	}
	evs := s.Events()
	for i := 0; i < evs.Len(); i++ {
		n += p.r.RedactMap(evs.At(i).Attributes())
	}
	links := s.Links()
	for i := 0; i < links.Len(); i++ {
		n += p.r.RedactMap(links.At(i).Attributes())
	}
	if n > 0 {
		addCount(s.Attributes(), n)
	}
	return n
}

// addCount adds n to AttrRedactedCount, so a batch redacted twice (a
// re-export through another Clew) keeps an honest total.
func addCount(m pcommon.Map, n int) {
	total := int64(n)
	if v, ok := m.Get(AttrRedactedCount); ok && v.Type() == pcommon.ValueTypeInt {
		total += v.Int()
	}
	m.PutInt(AttrRedactedCount, total)
}
