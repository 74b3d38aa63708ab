package spanmetrics

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/minutes"
	"github.com/clewtrace/clew/internal/objstore"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// sp describes one span for batch().
type sp struct {
	service, name string
	kind          ptrace.SpanKind
	err           bool
	dur           time.Duration
	trace         byte // trace ID's last byte
	id, parent    byte // span IDs' last byte; parent 0 = root
	attrs         map[string]string
	linkTrace     byte
	linkSpan      byte
}

func traceID(b byte) pcommon.TraceID { return pcommon.TraceID{15: b, 0: 1} }
func spanID(b byte) pcommon.SpanID   { return pcommon.SpanID{7: b, 0: 1} }

func batch(spans ...sp) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, s := range spans {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", s.service)
		span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		span.SetName(s.name)
		span.SetKind(s.kind)
		span.SetTraceID(traceID(s.trace))
		span.SetSpanID(spanID(s.id))
		if s.parent != 0 {
			span.SetParentSpanID(spanID(s.parent))
		}
		span.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		span.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(s.dur)))
		if s.err {
			span.Status().SetCode(ptrace.StatusCodeError)
		}
		for k, v := range s.attrs {
			span.Attributes().PutStr(k, v)
		}
		if s.linkSpan != 0 {
			l := span.Links().AppendEmpty()
			l.SetTraceID(traceID(s.linkTrace))
			l.SetSpanID(spanID(s.linkSpan))
		}
	}
	return td
}

// dropAll is a next stage that drops everything, like a sampler keeping 0%.
var dropAll = consumer.TracesFunc(func(context.Context, ptrace.Traces) (consumer.Result, error) {
	return consumer.Result{}, nil
})

func newTestStore(t *testing.T, clock *fakeClock, mod func(*Config)) (*Store, objstore.Bucket) {
	t.Helper()
	b, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Storage: minutes.Storage{Bucket: b}, Clock: clock}
	if mod != nil {
		mod(&cfg)
	}
	s, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, b
}

func consume(t *testing.T, tap *Tap, td ptrace.Traces) {
	t.Helper()
	if _, err := tap.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
}

func newTestStoreB(b *testing.B, clock *fakeClock) (*Store, objstore.Bucket) {
	b.Helper()
	bk, err := objstore.NewLocal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	s, err := Open(context.Background(), Config{Storage: minutes.Storage{Bucket: bk}, Clock: clock}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return s, bk
}
