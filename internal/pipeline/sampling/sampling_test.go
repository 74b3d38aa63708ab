package sampling

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"gopkg.in/yaml.v3"

	"github.com/clewtrace/clew/internal/consumer"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

type sink struct {
	mu  sync.Mutex
	ids map[pcommon.TraceID]int // spans received per trace
	err error
}

func (s *sink) ConsumeTraces(_ context.Context, td ptrace.Traces) (consumer.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = map[pcommon.TraceID]int{}
	}
	eachSpan(td, func(sp ptrace.Span) { s.ids[sp.TraceID()]++ })
	return consumer.Result{}, s.err
}

func eachSpan(td ptrace.Traces, f func(ptrace.Span)) {
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		sss := td.ResourceSpans().At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			for k := 0; k < sss.At(j).Spans().Len(); k++ {
				f(sss.At(j).Spans().At(k))
			}
		}
	}
}

func traceID(i uint64) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], i*0x9E3779B97F4A7C15)
	binary.BigEndian.PutUint64(id[8:], i)
	return id
}

// span describes one span of a hand-built trace.
type span struct {
	trace    uint64
	durMs    int64
	status   ptrace.StatusCode
	attrs    map[string]any
	resAttrs map[string]any
}

func build(spans ...span) ptrace.Traces {
	td := ptrace.NewTraces()
	for i, sp := range spans {
		rs := td.ResourceSpans().AppendEmpty()
		_ = rs.Resource().Attributes().FromRaw(sp.resAttrs)
		s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetTraceID(traceID(sp.trace))
		s.SetSpanID(pcommon.SpanID{7: byte(i + 1)})
		s.SetStartTimestamp(1_000_000)
		s.SetEndTimestamp(pcommon.Timestamp(1_000_000 + sp.durMs*int64(time.Millisecond)))
		s.Status().SetCode(sp.status)
		_ = s.Attributes().FromRaw(sp.attrs)
	}
	return td
}

func parsePolicies(t *testing.T, y string) []PolicyConfig {
	t.Helper()
	var ps []PolicyConfig
	if err := yaml.Unmarshal([]byte(y), &ps); err != nil {
		t.Fatal(err)
	}
	return ps
}

func newTest(t *testing.T, policies []PolicyConfig, mutate ...func(*Config)) (*Processor, *sink, *fakeClock) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Enabled = true
	cfg.Policies = policies
	for _, m := range mutate {
		m(&cfg)
	}
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	next := &sink{}
	p, err := New(cfg, next, prometheus.NewRegistry(), nil, clock)
	if err != nil {
		t.Fatal(err)
	}
	return p, next, clock
}

func TestPolicies(t *testing.T) {
	tests := []struct {
		name     string
		policies string
		trace    []span
		keep     bool
	}{
		{"always", `[{name: a, type: always_sample}]`, []span{{}}, true},
		{"probabilistic 100", `[{name: p, type: probabilistic, probabilistic: {sampling_percentage: 100}}]`, []span{{}}, true},
		{"probabilistic 0", `[{name: p, type: probabilistic, probabilistic: {sampling_percentage: 0}}]`, []span{{}}, false},
		{"latency over", `[{name: l, type: latency, latency: {threshold_ms: 1000}}]`, []span{{durMs: 10}, {durMs: 1500}}, true},
		{"latency under", `[{name: l, type: latency, latency: {threshold_ms: 1000}}]`, []span{{durMs: 999}}, false},
		{"latency above upper", `[{name: l, type: latency, latency: {threshold_ms: 100, upper_threshold_ms: 200}}]`, []span{{durMs: 300}}, false},
		{"latency in band", `[{name: l, type: latency, latency: {threshold_ms: 100, upper_threshold_ms: 200}}]`, []span{{durMs: 150}}, true},
		{"status error", `[{name: s, type: status_code, status_code: {status_codes: [ERROR]}}]`, []span{{}, {status: ptrace.StatusCodeError}}, true},
		{"status no error", `[{name: s, type: status_code, status_code: {status_codes: [ERROR]}}]`, []span{{status: ptrace.StatusCodeOk}}, false},
		{"string exact", `[{name: s, type: string_attribute, string_attribute: {key: enduser.id, values: [u-1, u-2]}}]`, []span{{attrs: map[string]any{"enduser.id": "u-2"}}}, true},
		{"string on resource", `[{name: s, type: string_attribute, string_attribute: {key: service.name, values: [pay]}}]`, []span{{resAttrs: map[string]any{"service.name": "pay"}}}, true},
		{"string miss", `[{name: s, type: string_attribute, string_attribute: {key: enduser.id, values: [u-1]}}]`, []span{{attrs: map[string]any{"enduser.id": "u-10"}}}, false},
		{"string regex", `[{name: s, type: string_attribute, string_attribute: {key: http.route, values: ["^/admin/"], enabled_regex_matching: true}}]`, []span{{attrs: map[string]any{"http.route": "/admin/users"}}}, true},
		{"string invert", `[{name: s, type: string_attribute, string_attribute: {key: http.route, values: [/health], invert_match: true}}]`, []span{{attrs: map[string]any{"http.route": "/health"}}}, false},
		{"numeric in range", `[{name: n, type: numeric_attribute, numeric_attribute: {key: http.response.status_code, min_value: 500, max_value: 599}}]`, []span{{attrs: map[string]any{"http.response.status_code": 503}}}, true},
		{"numeric out of range", `[{name: n, type: numeric_attribute, numeric_attribute: {key: http.response.status_code, min_value: 500, max_value: 599}}]`, []span{{attrs: map[string]any{"http.response.status_code": 404}}}, false},
		{"numeric open upper", `[{name: n, type: numeric_attribute, numeric_attribute: {key: retries, min_value: 3}}]`, []span{{attrs: map[string]any{"retries": 9}}}, true},
		{"boolean", `[{name: b, type: boolean_attribute, boolean_attribute: {key: user.flagged, value: true}}]`, []span{{attrs: map[string]any{"user.flagged": true}}}, true},
		{"boolean false", `[{name: b, type: boolean_attribute, boolean_attribute: {key: user.flagged, value: true}}]`, []span{{attrs: map[string]any{"user.flagged": false}}}, false},
		{"span count", `[{name: c, type: span_count, span_count: {min_spans: 2, max_spans: 3}}]`, []span{{}, {}}, true},
		{"span count over", `[{name: c, type: span_count, span_count: {min_spans: 2, max_spans: 3}}]`, []span{{}, {}, {}, {}}, false},
		{"and both", `[{name: x, type: and, and: {and_sub_policy: [{name: e, type: status_code, status_code: {status_codes: [ERROR]}}, {name: l, type: latency, latency: {threshold_ms: 100}}]}}]`,
			[]span{{durMs: 200, status: ptrace.StatusCodeError}}, true},
		{"and one", `[{name: x, type: and, and: {and_sub_policy: [{name: e, type: status_code, status_code: {status_codes: [ERROR]}}, {name: l, type: latency, latency: {threshold_ms: 100}}]}}]`,
			[]span{{durMs: 50, status: ptrace.StatusCodeError}}, false},
		{"drop vetoes", `[{name: all, type: always_sample}, {name: d, type: drop, drop: {drop_sub_policy: [{name: h, type: string_attribute, string_attribute: {key: http.route, values: [/health]}}]}}]`,
			[]span{{attrs: map[string]any{"http.route": "/health"}}}, false},
		{"drop not matching", `[{name: all, type: always_sample}, {name: d, type: drop, drop: {drop_sub_policy: [{name: h, type: string_attribute, string_attribute: {key: http.route, values: [/health]}}]}}]`,
			[]span{{attrs: map[string]any{"http.route": "/api"}}}, true},
		{"any of several", `[{name: e, type: status_code, status_code: {status_codes: [ERROR]}}, {name: l, type: latency, latency: {threshold_ms: 1000}}]`,
			[]span{{durMs: 2000}}, true},
		{"none of several", `[{name: e, type: status_code, status_code: {status_codes: [ERROR]}}, {name: l, type: latency, latency: {threshold_ms: 1000}}]`,
			[]span{{durMs: 20}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, next, clock := newTest(t, parsePolicies(t, tt.policies))
			for i := range tt.trace {
				tt.trace[i].trace = 7
			}
			if _, err := p.ConsumeTraces(context.Background(), build(tt.trace...)); err != nil {
				t.Fatal(err)
			}
			p.decideExpired(context.Background())
			if len(next.ids) != 0 {
				t.Fatal("decided before decision_wait")
			}
			clock.t = clock.t.Add(p.cfg.DecisionWait)
			p.decideExpired(context.Background())
			if got := next.ids[traceID(7)]; (got == len(tt.trace)) != tt.keep || (got != 0 && got != len(tt.trace)) {
				t.Errorf("forwarded %d of %d spans, want keep=%v", got, len(tt.trace), tt.keep)
			}
		})
	}
}

// TestRecipe is the docs/pipeline.md example: every error, every trace over
// 1 s, every trace of a flagged user, 5% of the rest.
func TestRecipe(t *testing.T) {
	policies := parsePolicies(t, `
- name: errors
  type: status_code
  status_code: {status_codes: [ERROR]}
- name: slow
  type: latency
  latency: {threshold_ms: 1000}
- name: flagged-users
  type: string_attribute
  string_attribute: {key: enduser.id, values: [u-1337, u-4242]}
- name: baseline
  type: probabilistic
  probabilistic: {sampling_percentage: 5}
`)
	p, next, clock := newTest(t, policies)
	const plain = 10_000
	for i := uint64(1); i <= plain; i++ {
		p.ConsumeTraces(context.Background(), build(span{trace: i, durMs: 20}))
	}
	p.ConsumeTraces(context.Background(), build(span{trace: plain + 1, status: ptrace.StatusCodeError}))
	p.ConsumeTraces(context.Background(), build(span{trace: plain + 2, durMs: 1200}))
	p.ConsumeTraces(context.Background(), build(span{trace: plain + 3, attrs: map[string]any{"enduser.id": "u-4242"}}))
	clock.t = clock.t.Add(p.cfg.DecisionWait)
	p.decideExpired(context.Background())
	for i := uint64(plain + 1); i <= plain+3; i++ {
		if next.ids[traceID(i)] != 1 {
			t.Errorf("trace %d must be kept", i)
		}
	}
	kept := len(next.ids) - 3
	if kept < 400 || kept > 600 {
		t.Errorf("kept %d of %d plain traces, want about 5%%", kept, plain)
	}
}

func TestDecisionWaitFromLastSpan(t *testing.T) {
	p, next, clock := newTest(t, parsePolicies(t, `[{name: a, type: always_sample}]`))
	ctx := context.Background()
	p.ConsumeTraces(ctx, build(span{trace: 1}))
	clock.t = clock.t.Add(p.cfg.DecisionWait - time.Second)
	p.ConsumeTraces(ctx, build(span{trace: 1})) // resets the wait
	clock.t = clock.t.Add(2 * time.Second)
	p.decideExpired(ctx)
	if len(next.ids) != 0 {
		t.Fatal("decided less than decision_wait after the last span")
	}
	clock.t = clock.t.Add(p.cfg.DecisionWait)
	p.decideExpired(ctx)
	if next.ids[traceID(1)] != 2 {
		t.Errorf("forwarded %d spans, want both", next.ids[traceID(1)])
	}
}

func TestLateSpans(t *testing.T) {
	p, next, clock := newTest(t, parsePolicies(t, `[{name: e, type: status_code, status_code: {status_codes: [ERROR]}}]`))
	ctx := context.Background()
	p.ConsumeTraces(ctx, build(span{trace: 1, status: ptrace.StatusCodeError}, span{trace: 2}))
	clock.t = clock.t.Add(p.cfg.DecisionWait)
	p.decideExpired(ctx)
	// Late spans in one batch: trace 1 was kept, trace 2 dropped; neither
	// error-free late span changes that.
	if _, err := p.ConsumeTraces(ctx, build(span{trace: 1}, span{trace: 2, status: ptrace.StatusCodeError})); err != nil {
		t.Fatal(err)
	}
	if next.ids[traceID(1)] != 2 {
		t.Errorf("trace 1 (kept): %d spans forwarded, want the late one too", next.ids[traceID(1)])
	}
	if next.ids[traceID(2)] != 0 {
		t.Errorf("trace 2 (dropped): a late span was forwarded")
	}
	if len(p.held) != 0 {
		t.Errorf("late spans were held: %d traces", len(p.held))
	}
}

func TestLateKeptSpanErrorReachesClient(t *testing.T) {
	p, next, clock := newTest(t, parsePolicies(t, `[{name: a, type: always_sample}]`))
	ctx := context.Background()
	p.ConsumeTraces(ctx, build(span{trace: 1}))
	clock.t = clock.t.Add(p.cfg.DecisionWait)
	p.decideExpired(ctx)
	next.err = consumer.ErrOverloaded
	_, err := p.ConsumeTraces(ctx, build(span{trace: 1}))
	if !errors.Is(err, consumer.ErrOverloaded) {
		t.Errorf("err = %v, want ErrOverloaded passed to the client", err)
	}
}

func TestOverflowDecidesOldest(t *testing.T) {
	p, next, _ := newTest(t, parsePolicies(t, `[{name: a, type: always_sample}]`), func(c *Config) { c.NumTraces = 2 })
	ctx := context.Background()
	for i := uint64(1); i <= 3; i++ {
		p.ConsumeTraces(ctx, build(span{trace: i}))
	}
	if len(p.held) != 2 || next.ids[traceID(1)] != 1 || len(next.ids) != 1 {
		t.Errorf("held %d, forwarded %v: want trace 1 decided early, 2 and 3 held", len(p.held), next.ids)
	}
	if got := counter(p.early); got != 1 {
		t.Errorf("early decisions = %v, want 1", got)
	}
}

func TestDecisionCacheBounded(t *testing.T) {
	p, next, clock := newTest(t, parsePolicies(t, `[{name: a, type: always_sample}]`),
		func(c *Config) { c.DecisionCache.SampledCacheSize = 2 })
	ctx := context.Background()
	for i := uint64(1); i <= 3; i++ {
		p.ConsumeTraces(ctx, build(span{trace: i}))
	}
	clock.t = clock.t.Add(p.cfg.DecisionWait)
	p.decideExpired(ctx)
	// Trace 1 fell out of the cache: its late span is held as a new trace.
	p.ConsumeTraces(ctx, build(span{trace: 1}))
	p.ConsumeTraces(ctx, build(span{trace: 3}))
	if len(p.held) != 1 || p.held[traceID(1)] == nil {
		t.Errorf("held = %d traces, want only the forgotten trace 1", len(p.held))
	}
	if next.ids[traceID(3)] != 2 {
		t.Errorf("trace 3 still cached: late span must be forwarded at once")
	}
}

func TestRateLimitingAndComposite(t *testing.T) {
	p, next, clock := newTest(t, parsePolicies(t, `[{name: r, type: rate_limiting, rate_limiting: {spans_per_second: 3}}]`))
	ctx := context.Background()
	for i := uint64(1); i <= 3; i++ {
		p.ConsumeTraces(ctx, build(span{trace: i}, span{trace: i})) // 2 spans each
	}
	clock.t = clock.t.Add(p.cfg.DecisionWait)
	p.decideExpired(ctx)
	if len(next.ids) != 1 {
		t.Errorf("rate_limiting kept %d traces of 2 spans under 3 spans/s, want 1", len(next.ids))
	}

	p, next, clock = newTest(t, parsePolicies(t, `
- name: c
  type: composite
  composite:
    max_total_spans_per_second: 4
    policy_order: [errors, rest]
    composite_sub_policy:
      - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
      - {name: rest, type: always_sample}
    rate_allocation:
      - {policy: errors, percent: 50}
      - {policy: rest, percent: 50}
`))
	// Three error traces and three plain ones, one span each: each
	// sub-policy may keep 2 spans per second.
	for i := uint64(1); i <= 6; i++ {
		st := ptrace.StatusCodeUnset
		if i <= 3 {
			st = ptrace.StatusCodeError
		}
		p.ConsumeTraces(ctx, build(span{trace: i, status: st}))
	}
	clock.t = clock.t.Add(p.cfg.DecisionWait)
	p.decideExpired(ctx)
	// Errors 1 and 2 via "errors"; error 3 falls through to "rest" and uses
	// one of its 2; then plain 4 takes the last; 5 and 6 are over.
	want := map[uint64]bool{1: true, 2: true, 3: true, 4: true}
	for i := uint64(1); i <= 6; i++ {
		if (next.ids[traceID(i)] > 0) != want[i] {
			t.Errorf("trace %d kept=%v, want %v", i, next.ids[traceID(i)] > 0, want[i])
		}
	}
	// A new second refills the budgets.
	clock.t = clock.t.Add(time.Second)
	p.ConsumeTraces(ctx, build(span{trace: 7}))
	clock.t = clock.t.Add(p.cfg.DecisionWait)
	p.decideExpired(ctx)
	if next.ids[traceID(7)] != 1 {
		t.Error("composite budget not refilled in a new second")
	}
}

func TestSplitMixedBatch(t *testing.T) {
	p, next, clock := newTest(t, parsePolicies(t, `[{name: e, type: status_code, status_code: {status_codes: [ERROR]}}]`))
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("lib")
	for i, tr := range []uint64{1, 2, 1, 2} {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(traceID(tr))
		s.SetSpanID(pcommon.SpanID{7: byte(i + 1)})
		if tr == 1 {
			s.Status().SetCode(ptrace.StatusCodeError)
		}
	}
	p.ConsumeTraces(context.Background(), td)
	if len(p.held) != 2 || p.held[traceID(1)].spans != 2 {
		t.Fatalf("held %d traces", len(p.held))
	}
	got := p.held[traceID(1)].batches[0]
	if v, _ := got.ResourceSpans().At(0).Resource().Attributes().Get("service.name"); v.Str() != "svc" ||
		got.ResourceSpans().At(0).ScopeSpans().At(0).Scope().Name() != "lib" || got.ResourceSpans().Len() != 1 {
		t.Errorf("resource and scope not carried once into the split batch")
	}
	clock.t = clock.t.Add(p.cfg.DecisionWait)
	p.decideExpired(context.Background())
	if next.ids[traceID(1)] != 2 || next.ids[traceID(2)] != 0 {
		t.Errorf("forwarded %v", next.ids)
	}
}

func TestShutdownFlushesAndStopsTicker(t *testing.T) {
	p, next, _ := newTest(t, parsePolicies(t, `[{name: a, type: always_sample}]`))
	p.Start()
	p.ConsumeTraces(context.Background(), build(span{trace: 1}))
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	next.mu.Lock()
	defer next.mu.Unlock()
	if next.ids[traceID(1)] != 1 || len(p.held) != 0 {
		t.Errorf("shutdown did not flush: forwarded %v, held %d", next.ids, len(p.held))
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Errorf("second shutdown: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name, policies, want string
	}{
		{"ok", `[{name: a, type: always_sample}]`, ""},
		{"no name", `[{type: always_sample}]`, "name is required"},
		{"duplicate", `[{name: a, type: always_sample}, {name: a, type: always_sample}]`, "duplicate"},
		{"unknown type", `[{name: a, type: sometimes}]`, "unknown type"},
		{"bad percentage", `[{name: a, type: probabilistic, probabilistic: {sampling_percentage: 120}}]`, "sampling_percentage"},
		{"bad status", `[{name: a, type: status_code, status_code: {status_codes: [FAIL]}}]`, "FAIL"},
		{"bad regex", `[{name: a, type: string_attribute, string_attribute: {key: k, values: ["("], enabled_regex_matching: true}}]`, "values[0]"},
		{"empty and", `[{name: a, type: and}]`, "at least one"},
		{"composite unknown order", `[{name: c, type: composite, composite: {max_total_spans_per_second: 1, policy_order: [x], composite_sub_policy: [{name: y, type: always_sample}]}}]`, "unknown policy"},
		{"composite over 100", `[{name: c, type: composite, composite: {max_total_spans_per_second: 1, composite_sub_policy: [{name: y, type: always_sample}], rate_allocation: [{policy: y, percent: 150}]}}]`, "over 100"},
		{"numeric no bounds", `[{name: a, type: numeric_attribute, numeric_attribute: {key: k}}]`, "min_value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Enabled = true
			cfg.Policies = parsePolicies(t, tt.policies)
			err := cfg.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want error mentioning %q", err, tt.want)
			}
		})
	}
}

func counter(c prometheus.Counter) float64 {
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	_ = (<-ch).Write(&m)
	return m.GetCounter().GetValue()
}

// Issue 16, item 11: held spans are bounded by bytes as well as by traces.
// Over max_bytes the traces closest to their decision are decided early,
// until the rest fit; each is counted.
func TestByteBoundDecidesOldest(t *testing.T) {
	one := int64((&ptrace.ProtoMarshaler{}).TracesSize(build(span{trace: 1, attrs: map[string]any{"pad": strings.Repeat("x", 1000)}})))
	// Room for two such traces, not three.
	p, next, _ := newTest(t, parsePolicies(t, `[{name: a, type: always_sample}]`), func(c *Config) { c.MaxBytes = 2*one + one/2 })
	ctx := context.Background()
	for i := uint64(1); i <= 4; i++ {
		if _, err := p.ConsumeTraces(ctx, build(span{trace: i, attrs: map[string]any{"pad": strings.Repeat("x", 1000)}})); err != nil {
			t.Fatal(err)
		}
	}
	if len(p.held) != 2 || p.held[traceID(3)] == nil || p.held[traceID(4)] == nil {
		t.Errorf("held %d traces, want traces 3 and 4", len(p.held))
	}
	if next.ids[traceID(1)] != 1 || next.ids[traceID(2)] != 1 || len(next.ids) != 2 {
		t.Errorf("forwarded %v, want traces 1 and 2 decided early (and kept)", next.ids)
	}
	if got := counter(p.earlyBytes); got != 2 {
		t.Errorf("byte-limit decisions = %v, want 2", got)
	}
	if got := counter(p.early); got != 0 {
		t.Errorf("num_traces decisions = %v, want 0", got)
	}
	if p.bytes != 2*one {
		t.Errorf("bytes held = %d, want %d", p.bytes, 2*one)
	}
	// A trace larger than max_bytes on its own is decided at once.
	big := build(span{trace: 9, attrs: map[string]any{"pad": strings.Repeat("y", int(3*one))}})
	if _, err := p.ConsumeTraces(ctx, big); err != nil {
		t.Fatal(err)
	}
	if p.held[traceID(9)] != nil || next.ids[traceID(9)] != 1 || p.bytes != 0 || len(p.held) != 0 {
		t.Errorf("oversized trace: held %v, forwarded %d, bytes held %d", p.held[traceID(9)] != nil, next.ids[traceID(9)], p.bytes)
	}
}
