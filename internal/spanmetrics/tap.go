package spanmetrics

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/model"
)

// Tap counts every span of a batch into a Store and passes the batch on to
// next unchanged. Place it before tail sampling so that rates are true.
type Tap struct {
	store *Store
	next  consumer.Traces
	pool  sync.Pool // *[]spanObs
}

var _ consumer.Traces = (*Tap)(nil)

// NewTap returns a Tap that records into s and forwards to next.
func NewTap(s *Store, next consumer.Traces) *Tap {
	return &Tap{store: s, next: next}
}

// ConsumeTraces extracts what the metrics need (the batch belongs to next
// once it is handed on), forwards the batch, then records the spans — unless
// next answered ErrOverloaded, in which case the client retries and the
// spans will be counted then.
func (t *Tap) ConsumeTraces(ctx context.Context, td ptrace.Traces) (consumer.Result, error) {
	bp, _ := t.pool.Get().(*[]spanObs)
	if bp == nil {
		bp = new([]spanObs)
	}
	obs := appendObs((*bp)[:0], td)
	res, err := t.next.ConsumeTraces(ctx, td)
	if err == nil || !errors.Is(err, consumer.ErrOverloaded) {
		t.store.record(obs)
	}
	clear(obs) // drop string references before pooling
	*bp = obs[:0]
	t.pool.Put(bp)
	return res, err
}

// spanObs is what the metrics keep of one span.
type spanObs struct {
	service  string
	name     string
	kind     model.SpanKind
	status   model.StatusCode
	failed   bool
	dur      time.Duration
	traceID  model.TraceID
	spanID   model.SpanID
	parentID model.SpanID
	root     bool // no parent: the action a client-only service is measured by
	connType string
	dbSystem string    // CLIENT spans: database system, for a virtual node
	peer     string    // CLIENT/PRODUCER spans: peer.service or server.address
	links    []pairKey // CONSUMER spans: linked producer spans
}

func appendObs(dst []spanObs, td ptrace.Traces) []spanObs {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		service := model.UnknownService
		if v, ok := rs.Resource().Attributes().Get("service.name"); ok && v.Str() != "" {
			service = v.Str()
		}
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				dst = append(dst, observe(spans.At(k), service))
			}
		}
	}
	return dst
}

func observe(s ptrace.Span, service string) spanObs {
	o := spanObs{
		service:  service,
		name:     s.Name(),
		kind:     model.SpanKind(s.Kind()),
		status:   model.StatusCode(s.Status().Code()),
		traceID:  model.TraceID(s.TraceID()),
		spanID:   model.SpanID(s.SpanID()),
		parentID: model.SpanID(s.ParentSpanID()),
		root:     s.ParentSpanID().IsEmpty(),
	}
	if end, start := s.EndTimestamp(), s.StartTimestamp(); end > start {
		o.dur = time.Duration(end - start)
	}
	attrs := s.Attributes()
	o.failed = o.status == model.StatusError
	if !o.failed {
		if v, ok := attrs.Get("error"); ok {
			o.failed = (v.Type() == pcommon.ValueTypeBool && v.Bool()) || (v.Type() == pcommon.ValueTypeStr && v.Str() == "true")
		}
	}
	o.connType = connectionType(o.kind, attrs)
	if o.kind == model.KindClient {
		o.dbSystem = firstStr(attrs, "db.system.name", "db.system")
	}
	if o.kind == model.KindClient || o.kind == model.KindProducer {
		o.peer = firstStr(attrs, "peer.service", "server.address", "net.peer.name")
	}
	if o.kind == model.KindConsumer {
		links := s.Links()
		for i := 0; i < links.Len(); i++ {
			l := links.At(i)
			o.links = append(o.links, makePairKey(model.TraceID(l.TraceID()), model.SpanID(l.SpanID())))
		}
	}
	return o
}

// connectionType classifies a call from its span's attributes.
func connectionType(kind model.SpanKind, attrs pcommon.Map) string {
	switch {
	case kind == model.KindProducer || kind == model.KindConsumer || has(attrs, "messaging.system"):
		return "messaging"
	case has(attrs, "db.system.name") || has(attrs, "db.system"):
		return "database"
	case has(attrs, "rpc.system"):
		return "rpc"
	case has(attrs, "http.request.method") || has(attrs, "http.method") || has(attrs, "url.full") || has(attrs, "http.url"):
		return "http"
	}
	return ""
}

func has(attrs pcommon.Map, key string) bool {
	_, ok := attrs.Get(key)
	return ok
}

func firstStr(attrs pcommon.Map, keys ...string) string {
	for _, k := range keys {
		if v, ok := attrs.Get(k); ok {
			if s := v.AsString(); s != "" {
				return s
			}
		}
	}
	return ""
}
