package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/otlpwire/otlptest"
	"github.com/clewtrace/clew/internal/query/predicate"
	"github.com/clewtrace/clew/internal/segment"
	"github.com/clewtrace/clew/internal/store/block"
	"github.com/clewtrace/clew/internal/store/wal"
)

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func openStore(t *testing.T, dir string, clk *clock, mutate ...func(*Options)) *Store {
	t.Helper()
	opts := Options{Dir: dir, WALSync: wal.SyncNever, Now: clk.Now, DisableRunLoop: true}
	for _, m := range mutate {
		m(&opts)
	}
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func traceID(i int) model.TraceID {
	var id model.TraceID
	copy(id[:], fmt.Sprintf("trace-%010d", i))
	return id
}

func spanID(trace, i int) model.SpanID {
	var id model.SpanID
	copy(id[:], fmt.Sprintf("%03d-%04d", trace%1000, i))
	return id
}

type spanSpec struct {
	service, name  string
	idx, parent    int // parent -1: root
	startMs, durMs int
	attrs          map[string]string
	failed         bool
}

// batch builds one OTLP batch with the given spans of trace tr.
func batch(tr int, specs ...spanSpec) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, sp := range specs {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", sp.service)
		rs.Resource().Attributes().PutStr("host.name", "box-1")
		s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID(traceID(tr)))
		s.SetSpanID(pcommon.SpanID(spanID(tr, sp.idx)))
		if sp.parent >= 0 {
			s.SetParentSpanID(pcommon.SpanID(spanID(tr, sp.parent)))
		}
		s.SetName(sp.name)
		s.SetKind(ptrace.SpanKindServer)
		start := t0.Add(time.Duration(sp.startMs) * time.Millisecond)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(sp.durMs) * time.Millisecond)))
		for k, v := range sp.attrs {
			s.Attributes().PutStr(k, v)
		}
		if sp.failed {
			s.Status().SetCode(ptrace.StatusCodeError)
		}
	}
	return td
}

// crash stops a store as a killed process would: no flush, no final block;
// the kernel releases the directory lock.
func crash(t *testing.T, s *Store) {
	t.Helper()
	s.core.Abandon()
	if err := s.wal.Close(); err != nil {
		t.Fatal(err)
	}
	s.lock.Close()
}

func mustConsume(t *testing.T, s *Store, td ptrace.Traces) {
	t.Helper()
	if _, err := s.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatalf("consume: %v", err)
	}
}

func anyKind(p predicate.Predicate) predicate.Predicate { p.Kind = -1; return p }

func findIDs(t *testing.T, s *Store, p predicate.Predicate) []model.TraceID {
	t.Helper()
	ids, err := s.FindTraceIDs(context.Background(), predicate.MustCompile(anyKind(p)), 100)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func traceLen(t *testing.T, s *Store, tr int) int {
	t.Helper()
	spans, err := s.Trace(context.Background(), traceID(tr))
	if err != nil {
		t.Fatal(err)
	}
	return len(spans)
}

// A trace arriving in several batches is whole from the head, from a block,
// after a restart that replays the WAL, and after one that reads blocks.
func TestTraceAcrossBatchesHeadBlocksAndRestart(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{now: t0}
	s := openStore(t, dir, clk)
	mustConsume(t, s, batch(1, spanSpec{service: "front", name: "GET /", idx: 1, parent: -1, durMs: 100}))
	mustConsume(t, s, batch(1, spanSpec{service: "back", name: "load", idx: 2, parent: 1, startMs: 10, durMs: 50}))
	if n := traceLen(t, s, 1); n != 2 {
		t.Fatalf("from head: %d spans, want 2", n)
	}
	if err := s.Maintain(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if got := len(blockMetas(s)); got != 1 {
		t.Fatalf("%d blocks after a forced cut, want 1", got)
	}
	// A late span of the same trace lands in the new head.
	mustConsume(t, s, batch(1, spanSpec{service: "db", name: "SELECT", idx: 3, parent: 2, startMs: 20, durMs: 5}))
	if n := traceLen(t, s, 1); n != 3 {
		t.Fatalf("from block + head: %d spans, want 3", n)
	}
	crash(t, s) // the head is only in the WAL
	s2 := openStore(t, dir, clk)
	if n := traceLen(t, s2, 1); n != 3 {
		t.Fatalf("after replay: %d spans, want 3", n)
	}
	if err := s2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s3 := openStore(t, dir, clk)
	defer s3.Close(context.Background())
	if n := traceLen(t, s3, 1); n != 3 {
		t.Fatalf("after clean restart: %d spans, want 3", n)
	}
	if s3.wal.Size() > 1<<10 {
		t.Errorf("WAL holds %d bytes after a clean close; its data should be in blocks", s3.wal.Size())
	}
}

func TestDuplicateBatchIsStoredOnce(t *testing.T) {
	s := openStore(t, t.TempDir(), &clock{now: t0})
	defer s.Close(context.Background())
	b := func() ptrace.Traces { return batch(7, spanSpec{service: "a", name: "x", idx: 1, parent: -1, durMs: 1}) }
	mustConsume(t, s, b())
	if err := s.Maintain(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	mustConsume(t, s, b()) // a client retry after a lost acknowledgement
	if n := traceLen(t, s, 7); n != 1 {
		t.Fatalf("%d spans, want 1 after de-duplication", n)
	}
}

func TestSearchHeadAndBlocks(t *testing.T) {
	s := openStore(t, t.TempDir(), &clock{now: t0})
	defer s.Close(context.Background())
	for tr := 0; tr < 30; tr++ {
		mustConsume(t, s, batch(tr,
			spanSpec{service: "web", name: "GET /cart", idx: 1, parent: -1, startMs: tr * 1000, durMs: 10 + tr, attrs: map[string]string{"user": fmt.Sprint("u", tr%3)}},
			spanSpec{service: "cart", name: "load", idx: 2, parent: 1, startMs: tr*1000 + 1, durMs: 5, failed: tr%10 == 0},
		))
		if tr%10 == 9 {
			if err := s.Maintain(context.Background(), true); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := len(blockMetas(s)); got != 3 {
		t.Fatalf("%d blocks, want 3", got)
	}
	cases := []struct {
		name string
		p    predicate.Predicate
		want int
	}{
		{"service", predicate.Predicate{Service: "cart"}, 30},
		{"operation", predicate.Predicate{Service: "web", Operation: "GET /cart"}, 30},
		{"unknown service", predicate.Predicate{Service: "nope"}, 0},
		{"span attribute", predicate.Predicate{Service: "web", Attributes: map[string]string{"user": "u1"}}, 10},
		{"resource attribute", predicate.Predicate{Attributes: map[string]string{"host.name": "box-1"}}, 30},
		{"error", predicate.Predicate{Attributes: map[string]string{"error": "true"}}, 3},
		{"min duration", predicate.Predicate{Service: "web", MinDuration: int64(30 * time.Millisecond)}, 10},
		{"max duration", predicate.Predicate{Service: "web", MaxDuration: int64(12 * time.Millisecond)}, 3},
		{"time window", predicate.Predicate{StartMin: t0.Add(5 * time.Second).UnixNano(), StartMax: t0.Add(9500 * time.Millisecond).UnixNano()}, 5},
		{"same span", predicate.Predicate{Service: "cart", Attributes: map[string]string{"user": "u1"}}, 0},
	}
	for _, c := range cases {
		if got := findIDs(t, s, c.p); len(got) != c.want {
			t.Errorf("%s: %d traces, want %d", c.name, len(got), c.want)
		}
	}
	// Most recent first, and the limit keeps the newest.
	ids, err := s.FindTraceIDs(context.Background(), predicate.MustCompile(anyKind(predicate.Predicate{Service: "web"})), 5)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if id != traceID(29-i) {
			t.Fatalf("result %d is %s, want trace %d (newest first)", i, id, 29-i)
		}
	}
}

func TestServicesOperationsAndDependencies(t *testing.T) {
	s := openStore(t, t.TempDir(), &clock{now: t0})
	defer s.Close(context.Background())
	// The child arrives before its parent, and in another batch.
	mustConsume(t, s, batch(1, spanSpec{service: "orders", name: "GET /orders", idx: 2, parent: 1, durMs: 5, failed: true}))
	mustConsume(t, s, batch(1, spanSpec{service: "gateway", name: "GET /api", idx: 1, parent: -1, durMs: 9}))
	if err := s.Maintain(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	mustConsume(t, s, batch(2, spanSpec{service: "gateway", name: "GET /api", idx: 1, parent: -1, durMs: 9},
		spanSpec{service: "orders", name: "GET /orders", idx: 2, parent: 1, durMs: 5}))
	ops, err := s.Operations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 || len(ops["gateway"]) != 1 || ops["orders"][0].Name != "GET /orders" {
		t.Errorf("operations %v", ops)
	}
	deps, err := s.Dependencies(context.Background(), t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(deps) != 1 || deps[0] != (block.Edge{Parent: "gateway", Child: "orders", Calls: 2, Errors: 1}) {
		t.Errorf("dependencies %+v", deps)
	}
	deps, _ = s.Dependencies(context.Background(), t0.Add(2*time.Hour), t0.Add(3*time.Hour))
	if len(deps) != 0 {
		t.Errorf("dependencies outside the window: %+v", deps)
	}
}

func TestRetentionAndCompaction(t *testing.T) {
	clk := &clock{now: t0}
	s := openStore(t, t.TempDir(), clk, func(o *Options) { o.Retention = 24 * time.Hour; o.CompactBlocks = 3 })
	defer s.Close(context.Background())
	for tr := 0; tr < 3; tr++ {
		mustConsume(t, s, batch(tr, spanSpec{service: "a", name: "x", idx: 1, parent: -1, durMs: 1}))
		if err := s.Maintain(context.Background(), true); err != nil {
			t.Fatal(err)
		}
	}
	blocks := blockMetas(s)
	if len(blocks) != 1 || blocks[0].CompactionLevel != 1 || blocks[0].SpanCount != 3 {
		t.Fatalf("after 3 cuts with CompactBlocks=3: %d blocks, want one level-1 block of 3 spans", len(blocks))
	}
	for tr := 0; tr < 3; tr++ {
		if traceLen(t, s, tr) != 1 {
			t.Errorf("trace %d lost in compaction", tr)
		}
	}
	clk.Add(25 * time.Hour)
	if err := s.Maintain(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if n := len(blockMetas(s)); n != 0 {
		t.Fatalf("%d blocks left after retention", n)
	}
	if traceLen(t, s, 0) != 0 {
		t.Error("expired trace still readable")
	}
}

func TestCutByAgeAndSize(t *testing.T) {
	clk := &clock{now: t0}
	s := openStore(t, t.TempDir(), clk, func(o *Options) { o.BlockMaxSpans = 3; o.BlockMaxAge = time.Minute })
	defer s.Close(context.Background())
	mustConsume(t, s, batch(1, spanSpec{service: "a", name: "x", idx: 1, parent: -1, durMs: 1}))
	if err := s.Maintain(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if n := len(blockMetas(s)); n != 0 {
		t.Fatalf("cut too early: %d blocks", n)
	}
	clk.Add(2 * time.Minute)
	if err := s.Maintain(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if n := len(blockMetas(s)); n != 1 {
		t.Fatalf("not cut by age: %d blocks", n)
	}
	mustConsume(t, s, batch(2, spanSpec{service: "a", name: "x", idx: 1, parent: -1, durMs: 1},
		spanSpec{service: "a", name: "y", idx: 2, parent: 1, durMs: 1}, spanSpec{service: "a", name: "z", idx: 3, parent: 1, durMs: 1}))
	if err := s.Maintain(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if n := len(blockMetas(s)); n != 2 {
		t.Fatalf("not cut by size: %d blocks", n)
	}
}

func TestOverloadedWhenHeadsOutgrowMemoryBudget(t *testing.T) {
	s := openStore(t, t.TempDir(), &clock{now: t0}, func(o *Options) { o.MaxHeadBytes = 1 })
	defer s.Close(context.Background())
	mustConsume(t, s, batch(1, spanSpec{service: "a", name: "x", idx: 1, parent: -1, durMs: 1}))
	_, err := s.ConsumeTraces(context.Background(), batch(2, spanSpec{service: "a", name: "x", idx: 1, parent: -1, durMs: 1}))
	if !errors.Is(err, consumer.ErrOverloaded) {
		t.Fatalf("err = %v, want ErrOverloaded", err)
	}
	if err := s.Maintain(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	mustConsume(t, s, batch(3, spanSpec{service: "a", name: "x", idx: 1, parent: -1, durMs: 1}))
}

func TestConcurrentWritesAndCuts(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, &clock{now: t0}, func(o *Options) { o.WALSync = wal.SyncAlways })
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				tr := w*1000 + i
				if _, err := s.ConsumeTraces(context.Background(), batch(tr, spanSpec{service: "a", name: "x", idx: 1, parent: -1, durMs: 1})); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	for i := 0; i < 5; i++ {
		if err := s.Maintain(context.Background(), true); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	crash(t, s) // whatever is not in a block must be in the WAL
	s2 := openStore(t, dir, &clock{now: t0})
	defer s2.Close(context.Background())
	for w := 0; w < 4; w++ {
		for i := 0; i < 50; i++ {
			if traceLen(t, s2, w*1000+i) != 1 {
				t.Fatalf("trace %d lost", w*1000+i)
			}
		}
	}
}

func TestSecondOpenOfDataDirFails(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, &clock{now: t0})
	if _, err := Open(context.Background(), Options{Dir: dir, DisableRunLoop: true}); err == nil {
		t.Fatal("a second store opened the same data directory")
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, dir, &clock{now: t0}) // the lock is released on close
	s2.Close(context.Background())
}

// Blocks cut by size under load are not merged: only small blocks are.
func TestFullBlocksAreNotCompacted(t *testing.T) {
	s := openStore(t, t.TempDir(), &clock{now: t0}, func(o *Options) { o.BlockMaxSpans = 2; o.CompactBlocks = 2 })
	defer s.Close(context.Background())
	for tr := 0; tr < 3; tr++ {
		mustConsume(t, s, batch(tr, spanSpec{service: "a", name: "x", idx: 1, parent: -1, durMs: 1},
			spanSpec{service: "a", name: "y", idx: 2, parent: 1, durMs: 1}))
		if err := s.Maintain(context.Background(), false); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(blockMetas(s)); n != 3 {
		t.Fatalf("%d blocks, want the 3 full blocks left as they are", n)
	}
}

// A block a crash left without meta.json is deleted at open; complete blocks stay.
func TestOpenDeletesIncompleteBlocks(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, &clock{now: t0})
	mustConsume(t, s, batch(1, spanSpec{service: "a", name: "x", idx: 1, parent: -1, durMs: 1}))
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	half := segment.NewID(t0)
	if err := s.bucket.Put(context.Background(), half+"/data.parquet", strings.NewReader("torn")); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, dir, &clock{now: t0})
	defer s2.Close(context.Background())
	listing, err := segment.List(context.Background(), s2.bucket)
	left := listing.Incomplete
	if err != nil || len(left) != 0 {
		t.Fatalf("incomplete blocks after open: %v (err %v)", left, err)
	}
	if len(blockMetas(s2)) != 1 || traceLen(t, s2, 1) != 1 {
		t.Fatal("the complete block was not kept")
	}
}

// TestReplaySkipsDeeplyNestedRecord: a WAL record whose attribute value nests
// a million levels (receivers refuse those now, but a WAL written before they
// did can hold one) is skipped at replay instead of ending the process with a
// stack overflow while it is converted; the records around it are kept.
func TestReplaySkipsDeeplyNestedRecord(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{now: t0}
	s := openStore(t, dir, clk)
	mustConsume(t, s, batch(1, spanSpec{service: "a", name: "before", idx: 1, parent: -1, durMs: 1}))
	deep := append([]byte{recordTraces}, otlptest.TracesProto(1_000_000, otlptest.KVList)...)
	if _, err := s.wal.Append(context.Background(), deep); err != nil {
		t.Fatal(err)
	}
	mustConsume(t, s, batch(2, spanSpec{service: "a", name: "after", idx: 1, parent: -1, durMs: 1}))
	crash(t, s)

	s2 := openStore(t, dir, clk)
	defer s2.Close(context.Background())
	if traceLen(t, s2, 1) != 1 || traceLen(t, s2, 2) != 1 {
		t.Errorf("records around the deep one were not replayed")
	}
	if spans, err := s2.Trace(context.Background(), model.TraceID(otlptest.TraceID)); err != nil || len(spans) != 0 {
		t.Errorf("deep record replayed: %d spans, %v", len(spans), err)
	}
}

// blockMetas lists the store's blocks without holding them.
func blockMetas(s *Store) []block.Meta {
	snap := s.snapshot()
	defer snap.release()
	out := make([]block.Meta, len(snap.blocks))
	for i, b := range snap.blocks {
		out[i] = b.Meta()
	}
	return out
}
