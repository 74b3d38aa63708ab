package logstore

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/store/wal"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is an injected time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// spec describes one log record for makeLogs.
type spec struct {
	at    time.Duration // after t0
	trace byte          // trace ID {trace, 0, ..., 0}; 0 for none
	span  byte
	svc   string
	sev   int
	body  string
	attrs map[string]any
	res   map[string]any // extra resource attributes
}

func traceID(b byte) model.TraceID {
	return model.TraceID{b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
}
func spanID(b byte) model.SpanID { return model.SpanID{b, 0, 0, 0, 0, 0, 0, 1} }

// makeLogs builds a batch by hand, one resource per record so resource
// attributes can differ.
func makeLogs(t testing.TB, specs ...spec) plog.Logs {
	t.Helper()
	ld := plog.NewLogs()
	for _, s := range specs {
		rl := ld.ResourceLogs().AppendEmpty()
		if s.svc != "" {
			rl.Resource().Attributes().PutStr("service.name", s.svc)
		}
		if err := rl.Resource().Attributes().FromRaw(merge(rl.Resource().Attributes().AsRaw(), s.res)); err != nil {
			t.Fatal(err)
		}
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("test/scope")
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(s.at)))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(t0.Add(s.at + time.Millisecond)))
		if s.trace != 0 {
			lr.SetTraceID(pcommon.TraceID(traceID(s.trace)))
		}
		if s.span != 0 {
			lr.SetSpanID(pcommon.SpanID(spanID(s.span)))
		}
		lr.SetSeverityNumber(plog.SeverityNumber(s.sev))
		lr.SetSeverityText(plog.SeverityNumber(s.sev).String())
		lr.Body().SetStr(s.body)
		if err := lr.Attributes().FromRaw(s.attrs); err != nil {
			t.Fatal(err)
		}
	}
	return ld
}

func merge(a, b map[string]any) map[string]any {
	for k, v := range b {
		a[k] = v
	}
	return a
}

func openTest(t testing.TB, dir string, clk *clock, mod func(*Options)) *Store {
	t.Helper()
	opts := Options{Dir: dir, WALSync: wal.SyncNever, DisableRunLoop: true, Now: clk.Now}
	if mod != nil {
		mod(&opts)
	}
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func consume(t testing.TB, s *Store, specs ...spec) {
	t.Helper()
	if _, err := s.ConsumeLogs(context.Background(), makeLogs(t, specs...)); err != nil {
		t.Fatal(err)
	}
}

func bodies(recs []Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Body
	}
	return out
}

func ptr[T any](v T) *T { return &v }
