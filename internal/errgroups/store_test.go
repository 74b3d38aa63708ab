package errgroups

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/minutes"
	"github.com/clewtrace/clew/internal/objstore"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 11, 21, 10, 0, 5, 0, time.UTC)

// errSpan describes one span for spans().
type errSpan struct {
	service, name string
	kind          ptrace.SpanKind
	excType, msg  string // exception event when excType != ""
	statusErr     bool
	trace, span   byte
	user, session string
	release       string
}

func tid(b byte) pcommon.TraceID { return pcommon.TraceID{0: 1, 15: b} }
func sid(b byte) pcommon.SpanID  { return pcommon.SpanID{0: 1, 7: b} }

func spans(ss ...errSpan) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, s := range ss {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", s.service)
		if s.release != "" {
			rs.Resource().Attributes().PutStr("service.version", s.release)
		}
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetName(s.name)
		sp.SetKind(s.kind)
		sp.SetTraceID(tid(s.trace))
		sp.SetSpanID(sid(s.span))
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Millisecond)))
		if s.user != "" {
			sp.Attributes().PutStr("enduser.id", s.user)
		}
		if s.session != "" {
			sp.Attributes().PutStr("session.id", s.session)
		}
		if s.excType != "" {
			ev := sp.Events().AppendEmpty()
			ev.SetName("exception")
			ev.Attributes().PutStr("exception.type", s.excType)
			ev.Attributes().PutStr("exception.message", s.msg)
		}
		if s.statusErr {
			sp.Status().SetCode(ptrace.StatusCodeError)
			sp.Status().SetMessage(s.msg)
		}
	}
	return td
}

func errLog(service, body string, trace, span byte) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", service)
	r := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	r.SetSeverityNumber(plog.SeverityNumberError)
	r.Body().SetStr(body)
	r.SetTraceID(tid(trace))
	if span != 0 {
		r.SetSpanID(sid(span))
	}
	r.SetTimestamp(pcommon.NewTimestampFromTime(t0))
	return ld
}

type nopTraces struct{}

func (nopTraces) ConsumeTraces(context.Context, ptrace.Traces) (consumer.Result, error) {
	return consumer.Result{}, nil
}

type nopLogs struct{}

func (nopLogs) ConsumeLogs(context.Context, plog.Logs) (consumer.Result, error) {
	return consumer.Result{}, nil
}

func openStore(t *testing.T, dir string, clk minutes.Clock, retention time.Duration) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{Storage: minutes.Storage{Dir: dir, Retention: retention}, Clock: clk}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func feed(t *testing.T, s *Store, td ptrace.Traces) {
	t.Helper()
	if _, err := NewTap(s, nopTraces{}).ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
}

func byType(gs []Group) map[string]Group {
	m := map[string]Group{}
	for _, g := range gs {
		m[g.Info.Type+" "+g.Info.Service+" "+g.Info.Operation] = g
	}
	return m
}

func TestGroupingAndCounts(t *testing.T) {
	clk := &fakeClock{t: t0}
	s := openStore(t, t.TempDir(), clk, 0)
	feed(t, s, spans(
		errSpan{service: "orders", name: "POST /orders", kind: ptrace.SpanKindServer, excType: "PaymentError", msg: "payment 17 declined", trace: 1, span: 1, user: "alice", release: "1.2.0"},
		errSpan{service: "orders", name: "POST /orders", kind: ptrace.SpanKindServer, excType: "PaymentError", msg: "payment 99 declined", trace: 2, span: 2, user: "bob", release: "1.2.0"},
		errSpan{service: "orders", name: "POST /orders", kind: ptrace.SpanKindServer, excType: "PaymentError", msg: "payment 5 declined", trace: 3, span: 3, user: "alice", session: "s1", release: "1.3.0"},
		errSpan{service: "orders", name: "POST /orders", kind: ptrace.SpanKindServer, excType: "TimeoutError", msg: "payment 5 declined", trace: 4, span: 4},
		// A failed client span without an exception: the callee carries it.
		errSpan{service: "gateway", name: "POST", kind: ptrace.SpanKindClient, statusErr: true, msg: "502", trace: 4, span: 5},
		// A failed server span without an exception is an occurrence.
		errSpan{service: "gateway", name: "POST /api/orders", kind: ptrace.SpanKindServer, statusErr: true, msg: "HTTP 502", trace: 4, span: 6},
		// Not failing at all.
		errSpan{service: "gateway", name: "GET /", kind: ptrace.SpanKindServer, trace: 5, span: 7},
	))
	gs := byType(s.Groups(Query{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)}))
	if len(gs) != 3 {
		t.Fatalf("groups %v, want 3", gs)
	}
	pay := gs["PaymentError orders POST /orders"]
	if pay.Count != 3 || len(pay.Users) != 2 || len(pay.Sessions) != 1 || pay.Releases["1.2.0"] != 2 || pay.Releases["1.3.0"] != 1 {
		t.Errorf("payment group %+v", pay)
	}
	if pay.Info.Pattern != "payment <n> declined" || !pay.New {
		t.Errorf("payment group pattern %q new %v", pay.Info.Pattern, pay.New)
	}
	users := map[string]bool{}
	for _, e := range pay.Examples {
		users[e.User] = true
	}
	if !users["alice"] || !users["bob"] || len(pay.Examples) != 3 {
		t.Errorf("examples %+v: want all three, both users", pay.Examples)
	}
	if gs["TimeoutError orders POST /orders"].Count != 1 || gs[" gateway POST /api/orders"].Count != 1 {
		t.Errorf("groups %+v", gs)
	}
	if got := s.Groups(Query{From: t0.Add(-time.Hour), To: t0.Add(time.Hour), Text: "timeout"}); len(got) != 1 {
		t.Errorf("text filter found %d groups", len(got))
	}
	if got := s.Groups(Query{From: t0.Add(-time.Hour), To: t0.Add(time.Hour), Service: "gateway"}); len(got) != 1 {
		t.Errorf("service filter found %d groups", len(got))
	}
	if got := s.Groups(Query{From: t0.Add(time.Hour), To: t0.Add(2 * time.Hour)}); len(got) != 0 {
		t.Errorf("a window without errors found %d groups", len(got))
	}
}

func TestErrorLogsJoinTheirSpansGroup(t *testing.T) {
	clk := &fakeClock{t: t0}
	s := openStore(t, t.TempDir(), clk, 0)
	logs := NewLogTap(s, nopLogs{})
	ctx := context.Background()
	// The log arrives before its span (the span ends after the log line).
	if _, err := logs.ConsumeLogs(ctx, errLog("orders", "request failed: payment 17 declined", 1, 1)); err != nil {
		t.Fatal(err)
	}
	feed(t, s, spans(errSpan{service: "orders", name: "POST /orders", kind: ptrace.SpanKindServer, excType: "PaymentError", msg: "payment 17 declined", trace: 1, span: 1}))
	// And after it.
	feed(t, s, spans(errSpan{service: "orders", name: "POST /orders", kind: ptrace.SpanKindServer, excType: "PaymentError", msg: "payment 18 declined", trace: 2, span: 2}))
	if _, err := logs.ConsumeLogs(ctx, errLog("orders", "request failed: payment 18 declined", 2, 2)); err != nil {
		t.Fatal(err)
	}
	// A log whose span is no occurrence becomes its own group once the
	// wait is over.
	if _, err := logs.ConsumeLogs(ctx, errLog("worker", "mail to carol@example.com bounced", 3, 9)); err != nil {
		t.Fatal(err)
	}
	clk.Add(20 * time.Second)
	if err := s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	gs := byType(s.Groups(Query{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)}))
	if len(gs) != 2 {
		t.Fatalf("groups %+v, want the payment group and the worker's log group", gs)
	}
	if g := gs["PaymentError orders POST /orders"]; g.Count != 2 || g.Logs != 2 {
		t.Errorf("payment group count %d logs %d, want 2 and 2", g.Count, g.Logs)
	}
	if g := gs["log worker "]; g.Count != 1 || g.Info.Pattern != "mail to <email> bounced" {
		t.Errorf("worker log group %+v", g)
	}
}

// The user is usually on the entry span only, which ends (and arrives)
// after the failing span below it; the session travels on every span.
func TestUsersFromTraceAndSession(t *testing.T) {
	clk := &fakeClock{t: t0}
	s := openStore(t, t.TempDir(), clk, 0)
	// Trace 1: the failure first (session only), then the gateway span with
	// the user and the session.
	feed(t, s, spans(errSpan{service: "shipping", name: "POST /ship", kind: ptrace.SpanKindServer, excType: "Timeout", msg: "x", trace: 1, span: 2, session: "s-alice"}))
	feed(t, s, spans(errSpan{service: "gateway", name: "POST /orders", kind: ptrace.SpanKindServer, trace: 1, span: 1, user: "alice", session: "s-alice"}))
	// Trace 2: same session; the user is known from it at once.
	feed(t, s, spans(errSpan{service: "shipping", name: "POST /ship", kind: ptrace.SpanKindServer, excType: "Timeout", msg: "x", trace: 2, span: 3, session: "s-alice"}))
	// Trace 3: no session; the user arrives later on another span of the trace.
	feed(t, s, spans(errSpan{service: "shipping", name: "POST /ship", kind: ptrace.SpanKindServer, excType: "Timeout", msg: "x", trace: 3, span: 4}))
	clk.Add(2 * time.Second)
	feed(t, s, spans(errSpan{service: "gateway", name: "POST /orders", kind: ptrace.SpanKindServer, trace: 3, span: 5, user: "bob"}))
	gs := s.Groups(Query{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)})
	if len(gs) != 1 || gs[0].Count != 3 || strings.Join(gs[0].Users, ",") != "alice,bob" || strings.Join(gs[0].Sessions, ",") != "s-alice" {
		t.Fatalf("groups %+v, want one of 3 occurrences by alice and bob in session s-alice", gs)
	}
	users := map[string]string{}
	for _, e := range gs[0].Examples {
		users[e.TraceID[30:]] = e.User
	}
	if users["01"] != "alice" || users["02"] != "alice" || users["03"] != "bob" {
		t.Errorf("example users by trace %v", users)
	}
	// The late user is persisted too.
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, s.cfg.Dir, clk, 0)
	if g := s2.Groups(Query{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)}); len(g) != 1 || len(g[0].Users) != 2 {
		t.Errorf("after restart %+v", g)
	}
}

func TestPersistsAcrossRestartAndFollowsRetention(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{t: t0}
	ctx := context.Background()
	s := openStore(t, dir, clk, 2*time.Hour)
	feed(t, s, spans(errSpan{service: "orders", name: "POST /orders", kind: ptrace.SpanKindServer, excType: "PaymentError", msg: "payment 1 declined", trace: 1, span: 1, user: "alice"}))
	clk.Add(time.Minute) // a closed minute, written by Tick
	feed(t, s, spans(errSpan{service: "orders", name: "POST /orders", kind: ptrace.SpanKindServer, excType: "PaymentError", msg: "payment 2 declined", trace: 2, span: 2, user: "bob"}))
	if err := s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Add(10 * time.Second)
	feed(t, s, spans(errSpan{service: "orders", name: "POST /orders", kind: ptrace.SpanKindServer, excType: "PaymentError", msg: "payment 3 declined", trace: 3, span: 3, user: "bob"}))
	if err := s.Close(ctx); err != nil { // writes the open minute
		t.Fatal(err)
	}
	q := Query{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)}
	before := s.Groups(q)

	s2 := openStore(t, dir, clk, 2*time.Hour)
	after := s2.Groups(q)
	if len(before) != 1 || len(after) != 1 || after[0].Count != 3 || before[0].Count != 3 || len(after[0].Users) != 2 || after[0].ID != before[0].ID {
		t.Fatalf("before restart %+v\nafter %+v", before, after)
	}
	// Restarted within the minute Close wrote: new occurrences go to the
	// new process's own object of that minute, and the counts add up.
	feed(t, s2, spans(errSpan{service: "orders", name: "POST /orders", kind: ptrace.SpanKindServer, excType: "PaymentError", msg: "payment 4 declined", trace: 4, span: 4, user: "carol"}))
	if err := s2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s3 := openStore(t, dir, clk, 2*time.Hour)
	if g := s3.Groups(q); len(g) != 1 || g[0].Count != 4 || len(g[0].Users) != 3 {
		t.Fatalf("after second restart %+v", g)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.cleg"))
	if len(files) != 3 { // 10:00 and 10:01 from s, 10:01 from s2
		t.Errorf("minute objects %v, want 3", files)
	}

	// Three hours later everything is past retention.
	clk.Add(3 * time.Hour)
	if err := s3.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if g := s3.Groups(Query{From: t0.Add(-24 * time.Hour), To: t0.Add(24 * time.Hour)}); len(g) != 0 {
		t.Errorf("groups past retention: %+v", g)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.cleg")); len(files) != 0 {
		t.Errorf("minute objects past retention: %v", files)
	}
	_ = s3.Close(ctx)
}

func TestCorruptMinuteIsSkipped(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{t: t0}
	s := openStore(t, dir, clk, 0)
	feed(t, s, spans(errSpan{service: "a", name: "op", kind: ptrace.SpanKindServer, excType: "E", msg: "m", trace: 1, span: 1}))
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.cleg"))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	data, _ := os.ReadFile(files[0])
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(files[0], data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := decodeMinute(data); err == nil {
		t.Fatal("a flipped byte decoded")
	}
	s2 := openStore(t, dir, clk, 0)
	if g := s2.Groups(Query{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)}); len(g) != 0 {
		t.Errorf("corrupt minute gave groups %+v", g)
	}
}

func TestOverflowBoundsGroups(t *testing.T) {
	clk := &fakeClock{t: t0}
	s, err := Open(context.Background(), Config{Storage: minutes.Storage{Dir: t.TempDir()}, Clock: clk, MaxGroups: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		feed(t, s, spans(errSpan{service: "a", name: string(rune('a' + i)), kind: ptrace.SpanKindServer, excType: "E", msg: "m", trace: byte(i + 1), span: byte(i + 1)}))
	}
	gs := s.Groups(Query{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)})
	var total uint64
	var overflow uint64
	for _, g := range gs {
		total += g.Count
		if g.ID == OverflowGroup {
			overflow = g.Count
		}
	}
	if len(gs) != 4 || total != 10 || overflow != 7 {
		t.Errorf("%d groups, %d occurrences, %d in overflow; want 4, 10, 7", len(gs), total, overflow)
	}
}

type dropAll struct{}

func (dropAll) ConsumeTraces(context.Context, ptrace.Traces) (consumer.Result, error) {
	return consumer.Result{}, nil
}

// BenchmarkTap: batches of 100 spans, every one carrying a session (as in
// the demo shop, where it travels as baggage), one in ten with the user
// and five in a hundred failing with an exception.
func BenchmarkTap(b *testing.B) {
	clk := &fakeClock{t: t0}
	s, err := Open(context.Background(), Config{Storage: minutes.Storage{Dir: b.TempDir()}, Clock: clk}, nil)
	if err != nil {
		b.Fatal(err)
	}
	tap := NewTap(s, dropAll{})
	const n = 100
	var ss []errSpan
	for i := range n {
		e := errSpan{service: "svc" + string(rune('a'+i%5)), name: "op" + string(rune('a'+i%20)), kind: ptrace.SpanKindServer,
			trace: byte(i / 10), span: byte(i + 1), session: "sess-" + string(rune('a'+i%7))}
		if i%10 == 0 {
			e.user = "user-" + string(rune('a'+i%7))
		}
		if i%20 == 3 {
			e.excType, e.msg = "PaymentDeclined", "card declined for order "+string(rune('0'+i%10))+"1234"
		}
		ss = append(ss, e)
	}
	td := spans(ss...)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := tap.ConsumeTraces(context.Background(), td); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "spans/s")
}

// Two nodes on one bucket: A's groups count B's occurrences (and users,
// first and last seen) once B has written its minutes and A has synced.
func TestNodesSharingABucketMergeGroups(t *testing.T) {
	ctx := context.Background()
	b := objstore.NewMemory()
	clk := &fakeClock{t: t0}
	open := func(writer string) *Store {
		s, err := Open(ctx, Config{Storage: minutes.Storage{Bucket: b, Writer: writer}, Clock: clk}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, c := open("node-a"), open("node-b")
	payment := func(trace byte, user string) ptrace.Traces {
		return spans(errSpan{service: "orders", name: "POST /orders", kind: ptrace.SpanKindServer, excType: "PaymentError",
			msg: fmt.Sprintf("payment %d declined", trace), trace: trace, span: trace, user: user})
	}
	first := clk.Now()
	feed(t, a, payment(1, "alice"))
	clk.Add(20 * time.Second)
	feed(t, c, payment(2, "bob"))
	clk.Add(time.Minute)
	feed(t, c, payment(3, "bob"))
	last := clk.Now()
	clk.Add(time.Minute) // both of B's minutes are closed
	if err := c.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	q := Query{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)}
	g := a.Groups(q)
	if len(g) != 1 || g[0].Count != 3 || len(g[0].Users) != 2 || !g[0].First.Equal(first) || !g[0].Last.Equal(last) {
		t.Fatalf("node A's groups %+v; want 3 occurrences of alice and bob, first %v, last %v", g, first, last)
	}
	if h := g[0].Hourly; len(h) != 3 || h[1].Count != 3 { // 09:00, 10:00, 11:00
		t.Errorf("hourly %+v", h)
	}
	// A Tick with nothing new adds nothing twice.
	clk.Add(10 * time.Second)
	if err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if g := a.Groups(q); len(g) != 1 || g[0].Count != 3 {
		t.Errorf("after a second sync %+v", g)
	}
}
