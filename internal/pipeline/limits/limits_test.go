package limits

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/consumer"
)

// sink records what reaches the next stage.
type sink struct {
	batches []ptrace.Traces
	err     error
}

func (s *sink) ConsumeTraces(_ context.Context, td ptrace.Traces) (consumer.Result, error) {
	s.batches = append(s.batches, td)
	return consumer.Result{}, s.err
}

func (s *sink) spans() []ptrace.Span {
	var out []ptrace.Span
	for _, td := range s.batches {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			rs := td.ResourceSpans().At(i)
			for j := 0; j < rs.ScopeSpans().Len(); j++ {
				ss := rs.ScopeSpans().At(j)
				for k := 0; k < ss.Spans().Len(); k++ {
					out = append(out, ss.Spans().At(k))
				}
			}
		}
	}
	return out
}

func tid(b byte) pcommon.TraceID { return pcommon.TraceID{15: b} }

// validSpan fills s with a span that passes validation.
func validSpan(s ptrace.Span, trace byte, name string) {
	s.SetTraceID(tid(trace))
	s.SetSpanID(pcommon.SpanID{7: 1})
	s.SetName(name)
	s.SetStartTimestamp(100)
	s.SetEndTimestamp(200)
}

func batch(fill ...func(ptrace.Span)) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for _, f := range fill {
		f(ss.Spans().AppendEmpty())
	}
	return td
}

func newTest(t *testing.T, cfg Config) (*Processor, *sink, *prometheus.Registry) {
	t.Helper()
	next := &sink{}
	reg := prometheus.NewRegistry()
	p, err := New(cfg, next, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p, next, reg
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(ptrace.Span)
		reason  string
		message string
	}{
		{"zero trace ID", func(s ptrace.Span) { s.SetTraceID(pcommon.TraceID{}) }, "zero_trace_id", "1 invalid spans rejected: 1 with an all-zero trace ID"},
		{"zero span ID", func(s ptrace.Span) { s.SetSpanID(pcommon.SpanID{}) }, "zero_span_id", "1 with an all-zero span ID"},
		{"no start time", func(s ptrace.Span) { s.SetStartTimestamp(0) }, "zero_start_time", "1 with no start time"},
		{"start far in the future", func(s ptrace.Span) {
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Now().Add(3 * time.Hour)))
			s.SetEndTimestamp(s.StartTimestamp() + 1)
		}, "future_timestamp", "1 with a start or end time more than 1h in the future"},
		{"end 158 years in the future", func(s ptrace.Span) {
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(time.Now().AddDate(158, 0, 0)))
		}, "future_timestamp", "1 with a start or end time more than 1h in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, next, reg := newTest(t, DefaultConfig())
			td := batch(
				func(s ptrace.Span) { validSpan(s, 1, "good") },
				func(s ptrace.Span) { validSpan(s, 1, "bad"); tt.mutate(s) },
			)
			res, err := p.ConsumeTraces(context.Background(), td)
			if err != nil {
				t.Fatal(err)
			}
			if res.Rejected != 1 || !strings.Contains(res.Message, tt.message) {
				t.Errorf("result = %+v, want 1 rejected with %q", res, tt.message)
			}
			got := next.spans()
			if len(got) != 1 || got[0].Name() != "good" {
				t.Errorf("passed on %d spans, want only the good one", len(got))
			}
			if n := counterValue(t, reg, "clew_pipeline_invalid_spans_total", "reason", tt.reason); n != 1 {
				t.Errorf("invalid counter %s = %v, want 1", tt.reason, n)
			}
		})
	}
}

func TestAllInvalidNotPassedOn(t *testing.T) {
	p, next, _ := newTest(t, DefaultConfig())
	res, err := p.ConsumeTraces(context.Background(), batch(
		func(s ptrace.Span) { validSpan(s, 0, "a") },
		func(s ptrace.Span) { validSpan(s, 1, "b"); s.SetStartTimestamp(0) },
	))
	if err != nil {
		t.Fatal(err)
	}
	if res.Rejected != 2 || res.Message != "2 invalid spans rejected: 1 with an all-zero trace ID, 1 with no start time" {
		t.Errorf("result = %+v", res)
	}
	if len(next.batches) != 0 {
		t.Errorf("an empty batch was passed on")
	}
}

func addAttrs(m pcommon.Map, n int) {
	for i := range n {
		m.PutStr(fmt.Sprintf("k%03d", i), "v")
	}
}

func TestSpanLimits(t *testing.T) {
	small := Config{MaxAttributes: 3, MaxAttributeValueLength: 5, MaxEvents: 2, MaxLinks: 1,
		MaxValueEntries: 2, MaxNameLength: 8, MaxSpansPerTrace: 100, TraceCacheSize: 10, Action: Truncate}
	tests := []struct {
		name      string
		fill      func(ptrace.Span)
		limit     string
		check     func(t *testing.T, s ptrace.Span)
		wantAttrs map[string]int64 // clew.* markers expected
	}{
		{
			name:  "attributes",
			fill:  func(s ptrace.Span) { addAttrs(s.Attributes(), 5); s.SetDroppedAttributesCount(1) },
			limit: "attributes",
			check: func(t *testing.T, s ptrace.Span) {
				if _, ok := s.Attributes().Get("k002"); !ok {
					t.Error("the first attributes must be kept")
				}
				if _, ok := s.Attributes().Get("k003"); ok {
					t.Error("attribute k003 is over the limit and must be gone")
				}
				if s.DroppedAttributesCount() != 3 {
					t.Errorf("DroppedAttributesCount = %d, want 1+2", s.DroppedAttributesCount())
				}
			},
			wantAttrs: map[string]int64{AttrDroppedAttributes: 2},
		},
		{
			name: "value length, also in events, links and arrays",
			fill: func(s ptrace.Span) {
				s.Attributes().PutStr("s", "héllo world") // é is 2 bytes: cut before it would split
				s.Attributes().PutEmptyBytes("b").FromRaw([]byte("0123456789"))
				s.Attributes().PutEmptySlice("arr").AppendEmpty().SetStr("abcdefgh")
				s.Events().AppendEmpty().Attributes().PutStr("e", "abcdefgh")
				s.Links().AppendEmpty().Attributes().PutStr("l", "abcdefgh")
			},
			limit: "attribute_value_length",
			check: func(t *testing.T, s ptrace.Span) {
				if v, _ := s.Attributes().Get("s"); v.Str() != "héll" {
					t.Errorf("s = %q, want %q", v.Str(), "héll")
				}
				if v, _ := s.Attributes().Get("b"); string(v.Bytes().AsRaw()) != "01234" {
					t.Errorf("b = %q", v.Bytes().AsRaw())
				}
				if v, _ := s.Attributes().Get("arr"); v.Slice().At(0).Str() != "abcde" {
					t.Errorf("arr[0] = %q", v.Slice().At(0).Str())
				}
				if v, _ := s.Events().At(0).Attributes().Get("e"); v.Str() != "abcde" {
					t.Errorf("event value = %q", v.Str())
				}
				if v, _ := s.Links().At(0).Attributes().Get("l"); v.Str() != "abcde" {
					t.Errorf("link value = %q", v.Str())
				}
			},
			wantAttrs: map[string]int64{AttrTruncatedValues: 5},
		},
		{
			name: "value entries, at any depth and in events and links",
			fill: func(s ptrace.Span) {
				arr := s.Attributes().PutEmptySlice("arr")
				for _, v := range []string{"a", "b", "c"} {
					arr.AppendEmpty().SetStr(v)
				}
				m := arr.At(0)
				m.SetEmptyMap()
				for _, k := range []string{"x", "y", "z"} {
					m.Map().PutInt(k, 1)
				}
				s.Events().AppendEmpty().Attributes().PutEmptyMap("em").FromRaw(map[string]any{"1": 1, "2": 2, "3": 3})
				s.Links().AppendEmpty().Attributes().PutEmptySlice("ls").FromRaw([]any{1, 2, 3, 4})
			},
			limit: "value_entries",
			check: func(t *testing.T, s ptrace.Span) {
				v, _ := s.Attributes().Get("arr")
				if v.Slice().Len() != 2 || v.Slice().At(0).Map().Len() != 2 {
					t.Errorf("arr = %v, want 2 entries, the first a map of 2", v.AsRaw())
				}
				if v, _ := s.Events().At(0).Attributes().Get("em"); v.Map().Len() != 2 {
					t.Errorf("event map = %v", v.AsRaw())
				}
				if v, _ := s.Links().At(0).Attributes().Get("ls"); v.Slice().Len() != 2 {
					t.Errorf("link array = %v", v.AsRaw())
				}
			},
			wantAttrs: map[string]int64{AttrTruncatedValues: 4},
		},
		{
			name: "name length, span and event names",
			fill: func(s ptrace.Span) {
				s.SetName("GET /a/very/long/route")
				s.Events().AppendEmpty().SetName("exceptionally long")
				s.Events().AppendEmpty().SetName("short")
			},
			limit: "name_length",
			check: func(t *testing.T, s ptrace.Span) {
				if s.Name() != "GET /a/v" || s.Events().At(0).Name() != "exceptio" || s.Events().At(1).Name() != "short" {
					t.Errorf("names %q, %q, %q", s.Name(), s.Events().At(0).Name(), s.Events().At(1).Name())
				}
			},
			wantAttrs: map[string]int64{AttrTruncatedNames: 2},
		},
		{
			name: "events",
			fill: func(s ptrace.Span) {
				for _, n := range []string{"e1", "e2", "e3", "e4"} {
					s.Events().AppendEmpty().SetName(n)
				}
			},
			limit: "events",
			check: func(t *testing.T, s ptrace.Span) {
				if s.Events().Len() != 2 || s.Events().At(1).Name() != "e2" || s.DroppedEventsCount() != 2 {
					t.Errorf("events = %d (last %q), dropped = %d", s.Events().Len(), s.Events().At(s.Events().Len()-1).Name(), s.DroppedEventsCount())
				}
			},
			wantAttrs: map[string]int64{AttrDroppedEvents: 2},
		},
		{
			name: "links",
			fill: func(s ptrace.Span) {
				s.Links().AppendEmpty()
				s.Links().AppendEmpty()
			},
			limit: "links",
			check: func(t *testing.T, s ptrace.Span) {
				if s.Links().Len() != 1 || s.DroppedLinksCount() != 1 {
					t.Errorf("links = %d, dropped = %d", s.Links().Len(), s.DroppedLinksCount())
				}
			},
			wantAttrs: map[string]int64{AttrDroppedLinks: 1},
		},
	}
	for _, tt := range tests {
		for _, action := range []Action{Truncate, Drop} {
			t.Run(tt.name+"/"+string(action), func(t *testing.T) {
				cfg := small
				cfg.Action = action
				p, next, reg := newTest(t, cfg)
				res, err := p.ConsumeTraces(context.Background(), batch(
					func(s ptrace.Span) { validSpan(s, 1, "big"); tt.fill(s) },
					func(s ptrace.Span) { validSpan(s, 1, "small") },
				))
				if err != nil {
					t.Fatal(err)
				}
				if res.Rejected != 0 {
					t.Errorf("limits must not reject (the client would not resend anyway): %+v", res)
				}
				label := map[Action]string{Truncate: "truncated", Drop: "dropped"}[action]
				if n := counterValue(t, reg, "clew_pipeline_limited_spans_total", "limit", tt.limit, "action", label); n != 1 {
					t.Errorf("counter %s/%s = %v, want 1", tt.limit, label, n)
				}
				spans := next.spans()
				if action == Drop {
					if len(spans) != 1 || spans[0].Name() != "small" {
						t.Fatalf("drop: %d spans passed on, want only the small one", len(spans))
					}
					if !strings.Contains(res.Message, "1 spans dropped") {
						t.Errorf("no warning for the dropped span: %q", res.Message)
					}
					return
				}
				if len(spans) != 2 {
					t.Fatalf("truncate: %d spans passed on, want 2", len(spans))
				}
				tt.check(t, spans[0])
				for k, want := range tt.wantAttrs {
					if v, ok := spans[0].Attributes().Get(k); !ok || v.Int() != want {
						t.Errorf("marker %s = %v (present %v), want %d", k, v.AsRaw(), ok, want)
					}
				}
				if spans[1].Attributes().Len() != 0 {
					t.Errorf("a span within limits was marked: %v", spans[1].Attributes().AsRaw())
				}
			})
		}
	}
}

func TestSpansPerTrace(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxSpansPerTrace = 3
	cfg.TraceCacheSize = 2
	p, next, reg := newTest(t, cfg)
	ctx := context.Background()
	send := func(trace byte, n int) {
		t.Helper()
		fills := make([]func(ptrace.Span), n)
		for i := range fills {
			fills[i] = func(s ptrace.Span) { validSpan(s, trace, "s") }
		}
		if _, err := p.ConsumeTraces(ctx, batch(fills...)); err != nil {
			t.Fatal(err)
		}
	}
	countTrace := func(trace byte) int {
		n := 0
		for _, s := range next.spans() {
			if s.TraceID() == tid(trace) {
				n++
			}
		}
		return n
	}
	send(1, 2)
	send(1, 2) // over: one of these is dropped, across batches
	if got := countTrace(1); got != 3 {
		t.Errorf("trace 1: %d spans passed on, want 3", got)
	}
	if n := counterValue(t, reg, "clew_pipeline_limited_spans_total", "limit", "spans_per_trace", "action", "dropped"); n != 1 {
		t.Errorf("spans_per_trace dropped = %v, want 1", n)
	}
	// Traces 2 and 3 push trace 1 out of the bounded counter, which then
	// starts again from zero: the documented price of the bound.
	send(2, 1)
	send(3, 1)
	if got := p.counts.len(); got != 2 {
		t.Errorf("counter holds %d traces, want the bound 2", got)
	}
	send(1, 1)
	if got := countTrace(1); got != 4 {
		t.Errorf("trace 1 after eviction: %d spans, want 4", got)
	}
}

func TestNextErrorAndResultPassed(t *testing.T) {
	boom := errors.New("store full")
	next := consumer.TracesFunc(func(context.Context, ptrace.Traces) (consumer.Result, error) {
		return consumer.Result{Rejected: 2, Message: "later"}, boom
	})
	p, err := New(DefaultConfig(), next, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.ConsumeTraces(context.Background(), batch(
		func(s ptrace.Span) { validSpan(s, 1, "ok") },
		func(s ptrace.Span) { validSpan(s, 0, "bad") },
	))
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want wrapping %v", err, boom)
	}
	if res.Rejected != 3 || !strings.HasSuffix(res.Message, "; later") {
		t.Errorf("result = %+v, want own and next's rejections merged", res)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"default", func(*Config) {}, ""},
		{"zero attributes", func(c *Config) { c.MaxAttributes = 0 }, "max_attributes"},
		{"negative length", func(c *Config) { c.MaxAttributeValueLength = -1 }, "max_attribute_value_length"},
		{"zero cache", func(c *Config) { c.TraceCacheSize = 0 }, "trace_cache_size"},
		{"bad action", func(c *Config) { c.Action = "cut" }, "action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestTruncateUTF8(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"},   // é is 2 bytes
		{"a€", 3, "a"},   // € is 3 bytes
		{"a€b", 4, "a€"}, // fits exactly
		{"😀😀", 5, "😀"},   // 4-byte runes
	}
	for _, tt := range tests {
		if got := truncateUTF8(tt.in, tt.max); got != tt.want {
			t.Errorf("truncateUTF8(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

// counterValue reads one labelled counter from a registry.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if got[labels[i]] != labels[i+1] {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no %s%v", name, labels)
	return 0
}

// TestResourceAndScopeLimits: resources and scopes get the attribute limits
// too (count, value length, entries), service.name and the scope name and
// version the name length; they are always truncated, never dropped, and the
// cuts are marked on the resource or scope.
func TestResourceAndScopeLimits(t *testing.T) {
	for _, action := range []Action{Truncate, Drop} {
		cfg := Config{MaxAttributes: 3, MaxAttributeValueLength: 10, MaxEvents: 2, MaxLinks: 1,
			MaxValueEntries: 2, MaxNameLength: 8, MaxSpansPerTrace: 100, TraceCacheSize: 10, Action: action}
		p, next, reg := newTest(t, cfg)
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		ra := rs.Resource().Attributes()
		ra.PutStr("long", "0123456789abc")
		ra.PutEmptySlice("many").FromRaw([]any{1, 2, 3})
		ra.PutStr("fourth", "x")
		ra.PutStr("fifth", "x")
		ra.PutStr("service.name", "a-very-long-service-name") // last, and kept
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("io.opentelemetry.contrib")
		ss.Scope().SetVersion("1.2.3")
		ss.Scope().Attributes().PutStr("s", "0123456789abc")
		validSpan(ss.Spans().AppendEmpty(), 1, "op")
		if _, err := p.ConsumeTraces(context.Background(), td); err != nil {
			t.Fatal(err)
		}
		if len(next.spans()) != 1 {
			t.Fatalf("%s: %d spans passed on, want the span whatever its resource", action, len(next.spans()))
		}
		out := next.batches[0].ResourceSpans().At(0)
		got := out.Resource().Attributes().AsRaw()
		want := map[string]any{"service.name": "a-very-l", "long": "0123456789", "many": []any{int64(1), int64(2)},
			AttrDroppedAttributes: int64(2), AttrTruncatedValues: int64(3)}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: resource %v, want %v", action, got, want)
		}
		if out.Resource().DroppedAttributesCount() != 2 {
			t.Errorf("dropped_attributes_count = %d", out.Resource().DroppedAttributesCount())
		}
		sc := out.ScopeSpans().At(0).Scope()
		scAttrs := sc.Attributes().AsRaw()
		if sc.Name() != "io.opent" || sc.Version() != "1.2.3" || scAttrs["s"] != "0123456789" ||
			scAttrs[AttrTruncatedNames] != int64(1) || scAttrs[AttrTruncatedValues] != int64(1) {
			t.Errorf("scope %q %q %v", sc.Name(), sc.Version(), scAttrs)
		}
		for _, l := range []string{"attributes", "attribute_value_length", "value_entries", "name_length"} {
			if n := counterValue(t, reg, "clew_pipeline_limited_resources_total", "limit", l); n == 0 {
				t.Errorf("%s: resource limit %s not counted", action, l)
			}
		}
	}
}

// Issue 16, items 7 and 8: the accepted time range ends MaxFutureSkew
// ahead of the clock, exactly; a span that ends before it starts is kept
// with duration 0 and marked, not rejected.
func TestTimestampBounds(t *testing.T) {
	p, next, reg := newTest(t, DefaultConfig())
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return now }
	edge := pcommon.NewTimestampFromTime(now.Add(MaxFutureSkew))
	res, err := p.ConsumeTraces(context.Background(), batch(
		func(s ptrace.Span) {
			validSpan(s, 1, "at the edge")
			s.SetStartTimestamp(edge - 5)
			s.SetEndTimestamp(edge)
		},
		func(s ptrace.Span) {
			validSpan(s, 1, "past the edge")
			s.SetStartTimestamp(edge - 5)
			s.SetEndTimestamp(edge + 1)
		},
		func(s ptrace.Span) { validSpan(s, 1, "backwards"); s.SetStartTimestamp(1000); s.SetEndTimestamp(400) },
	))
	if err != nil {
		t.Fatal(err)
	}
	if res.Rejected != 1 || !strings.Contains(res.Message, "1 with a start or end time more than 1h in the future") ||
		!strings.Contains(res.Message, "1 spans ended before they started: kept with duration 0") {
		t.Errorf("result = %+v", res)
	}
	got := next.spans()
	if len(got) != 2 || got[0].Name() != "at the edge" || got[1].Name() != "backwards" {
		t.Fatalf("passed on %d spans, want the one at the edge and the backwards one", len(got))
	}
	back := got[1]
	if back.StartTimestamp() != 1000 || back.EndTimestamp() != 1000 {
		t.Errorf("backwards span: start %d end %d, want both 1000", back.StartTimestamp(), back.EndTimestamp())
	}
	if v, ok := back.Attributes().Get(AttrEndBeforeStart); !ok || v.Int() != 600 {
		t.Errorf("%s = %v (present %v), want 600", AttrEndBeforeStart, v.AsRaw(), ok)
	}
	if _, ok := got[0].Attributes().Get(AttrEndBeforeStart); ok {
		t.Error("a normal span was marked")
	}
	if n := counterValue(t, reg, "clew_pipeline_invalid_spans_total", "reason", "future_timestamp"); n != 1 {
		t.Errorf("future_timestamp counter = %v, want 1", n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "clew_pipeline_end_before_start_spans_total" {
			found = mf.GetMetric()[0].GetCounter().GetValue() == 1
		}
	}
	if !found {
		t.Error("clew_pipeline_end_before_start_spans_total is not 1")
	}
}
