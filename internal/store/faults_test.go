package store

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/segment"
	"github.com/clewtrace/clew/internal/store/block"
	"github.com/clewtrace/clew/internal/store/wal"
	"github.com/clewtrace/clew/internal/store/wal/faultfs"
)

// walRecordOffsets returns where each record of a WAL segment file starts.
func walRecordOffsets(t *testing.T, path string) []int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for off := int64(8); off+8 <= int64(len(data)); {
		offs = append(offs, off)
		off += 8 + int64(binary.LittleEndian.Uint32(data[off:]))
	}
	return offs
}

// Issue 16, item 2: a flipped byte in the oldest WAL segment used to delete
// every later segment. Now only the damaged batch is lost; its bytes are in
// quarantine/wal.
func TestDamagedWALRecordLosesOnlyItsBatch(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{now: t0}
	// Two crash cycles leave two WAL segments: traces 1-3 and 4-6.
	for seg := range 2 {
		s := openStore(t, dir, clk)
		for tr := 1 + 3*seg; tr <= 3+3*seg; tr++ {
			mustConsume(t, s, batch(tr, spanSpec{service: "svc", name: "op", idx: 1, parent: -1, durMs: 1}))
		}
		crash(t, s)
	}
	seg1 := filepath.Join(dir, "wal", "00000001.wal")
	offs := walRecordOffsets(t, seg1)
	if len(offs) != 3 {
		t.Fatalf("segment 1 holds %d records, want 3", len(offs))
	}
	data, err := os.ReadFile(seg1)
	if err != nil {
		t.Fatal(err)
	}
	data[offs[1]+8+20] ^= 0x04 // inside trace 2's batch
	if err := os.WriteFile(seg1, data, 0o644); err != nil {
		t.Fatal(err)
	}

	s := openStore(t, dir, clk)
	defer s.Close(context.Background())
	for tr := 1; tr <= 6; tr++ {
		want := 1
		if tr == 2 {
			want = 0
		}
		if n := traceLen(t, s, tr); n != want {
			t.Errorf("trace %d: %d spans, want %d", tr, n, want)
		}
	}
	q, err := os.ReadDir(filepath.Join(dir, "quarantine", "wal"))
	if err != nil || len(q) != 1 {
		t.Fatalf("quarantine holds %v (err %v), want the one damaged record", q, err)
	}
	fi, err := q[0].Info()
	if err != nil {
		t.Fatal(err)
	}
	if want := offs[2] - offs[1]; fi.Size() != want {
		t.Errorf("quarantined %d bytes, want the damaged record's %d", fi.Size(), want)
	}
}

// metricValue reads one metric of a registry.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// Issue 16, item 1: after a full disk Clew needed a restart. Now writes are
// refused while the disk is full, the store says it is not ready and
// counts the failures, and it takes writes again once space returns —
// without traffic and without a restart — and closes cleanly.
func TestFullDiskRecoversWithoutRestart(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{now: t0}
	ffs := faultfs.New(wal.OS)
	reg := prometheus.NewRegistry()
	s := openStore(t, dir, clk, func(o *Options) {
		o.WALFS, o.WALSync, o.WALRetryEvery, o.Registerer = ffs, wal.SyncAlways, time.Millisecond, reg
	})
	span := func(tr int) ptrace.Traces {
		return batch(tr, spanSpec{service: "svc", name: "op", idx: 1, parent: -1, durMs: 1})
	}
	mustConsume(t, s, span(1))
	if err := s.Ready(); err != nil {
		t.Fatalf("Ready() = %v on a healthy disk", err)
	}
	if free := metricValue(t, reg, "clew_store_disk_free_bytes"); free <= 0 {
		t.Errorf("clew_store_disk_free_bytes = %v", free)
	}

	ffs.SetFull(true)
	for tr := 2; tr <= 4; tr++ {
		if _, err := s.ConsumeTraces(context.Background(), span(tr)); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("consume on a full disk: %v, want ENOSPC", err)
		}
	}
	if err := s.Ready(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Ready() = %v on a full disk", err)
	}
	if n := metricValue(t, reg, "clew_store_wal_write_failures_total"); n < 1 {
		t.Errorf("clew_store_wal_write_failures_total = %v, want ≥ 1", n)
	}
	if v := metricValue(t, reg, "clew_store_wal_writable"); v != 0 {
		t.Errorf("clew_store_wal_writable = %v on a full disk", v)
	}

	ffs.SetFull(false)
	waitFor(t, "the store to be ready again", func() bool { return s.Ready() == nil })
	if v := metricValue(t, reg, "clew_store_wal_writable"); v != 1 {
		t.Errorf("clew_store_wal_writable = %v after recovery", v)
	}
	mustConsume(t, s, span(5))
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close after recovery: %v", err)
	}

	s2 := openStore(t, dir, clk)
	defer s2.Close(context.Background())
	for tr, want := range map[int]int{1: 1, 2: 0, 3: 0, 4: 0, 5: 1} {
		if n := traceLen(t, s2, tr); n != want {
			t.Errorf("trace %d: %d spans after restart, want %d", tr, n, want)
		}
	}
}

// waitFor polls cond; the deadline only catches a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// onlyBlockDir returns the directory of the store's single block.
func onlyBlockDir(t *testing.T, dir string) string {
	t.Helper()
	ids, err := block.ListMetas(context.Background(), mustLocal(t, dir))
	if err != nil || len(ids) != 1 {
		t.Fatalf("blocks: %v (err %v), want one", ids, err)
	}
	return filepath.Join(dir, "blocks", ids[0].ID)
}

func mustLocal(t *testing.T, dir string) *objstore.Local {
	t.Helper()
	l, err := objstore.NewLocal(filepath.Join(dir, "blocks"))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Issue 16, item 4: a complete block whose meta.json is missing used to be
// deleted at start-up with its spans. Now it is rebuilt from its data and
// index — spans, and the dependencies derived from them.
func TestBlockWithoutMetaIsRebuilt(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{now: t0}
	s := openStore(t, dir, clk)
	mustConsume(t, s, batch(1, spanSpec{service: "gateway", name: "GET /api", idx: 1, parent: -1, durMs: 9},
		spanSpec{service: "orders", name: "GET /orders", idx: 2, parent: 1, durMs: 5, failed: true}))
	mustConsume(t, s, batch(2, spanSpec{service: "gateway", name: "GET /x", idx: 1, parent: -1, durMs: 3}))
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	old := onlyBlockDir(t, dir)
	if err := os.Remove(filepath.Join(old, "meta.json")); err != nil {
		t.Fatal(err)
	}

	s2 := openStore(t, dir, clk)
	defer s2.Close(context.Background())
	if n1, n2 := traceLen(t, s2, 1), traceLen(t, s2, 2); n1 != 2 || n2 != 1 {
		t.Fatalf("after rebuild: trace 1 has %d spans, trace 2 %d; want 2 and 1", n1, n2)
	}
	deps, err := s2.Dependencies(context.Background(), t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(deps) != 1 || deps[0] != (block.Edge{Parent: "gateway", Child: "orders", Calls: 1, Errors: 1}) {
		t.Errorf("dependencies after rebuild: %+v", deps)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the block without meta is still there (stat: %v)", err)
	}
	if now := onlyBlockDir(t, dir); now == old {
		t.Error("rebuilt block kept the old ID")
	}
}

// A compaction input whose delete was cut short after its meta.json went
// (segment.Delete removes it first) is named by the merged block, so it is
// deleted at open rather than rebuilt: its spans are not served twice.
// Without the merged block's word it would be rebuilt (the test above).
func TestCompactedInputWithoutMetaIsDeletedNotRebuilt(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir, &clock{now: t0}, func(o *Options) { o.CompactBlocks = 2 })
	cutBlock(t, s, 1, 0)
	cutBlock(t, s, 2, 1)
	snap := s.snapshot() // holds the inputs, as a slow query would
	if err := s.Maintain(ctx, false); err != nil {
		t.Fatal(err)
	}
	input := snap.blocks[0].Meta().ID
	crash(t, s)
	if err := os.Remove(filepath.Join(dir, "blocks", input, "meta.json")); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, dir, &clock{now: t0})
	defer s2.Close(ctx)
	if m := blockMetas(s2); len(m) != 1 || m[0].CompactionLevel != 1 {
		t.Fatalf("blocks after reopen: %+v, want the merged block only", m)
	}
	if blockExists(t, s2, input) {
		t.Errorf("compacted input %s without meta.json still on disk", input)
	}
	if n1, n2 := traceLen(t, s2, 1), traceLen(t, s2, 2); n1 != 2 || n2 != 2 {
		t.Errorf("traces after reopen: %d and %d spans, want 2 and 2", n1, n2)
	}
}

// A block without meta.json whose data cannot be read is not deleted but
// moved to quarantine/ in the bucket; one without a data file holds no
// spans and its leftovers go.
func TestUnreadableBlockWithoutMetaIsQuarantined(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{now: t0}
	ctx := context.Background()
	s := openStore(t, dir, clk)
	mustConsume(t, s, batch(1, spanSpec{service: "a", name: "x", idx: 1, parent: -1, durMs: 1}))
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	bucket := mustLocal(t, dir)
	torn, leftover := segment.NewID(t0), segment.NewID(t0.Add(time.Millisecond))
	if err := bucket.Put(ctx, torn+"/data.parquet", strings.NewReader("not parquet")); err != nil {
		t.Fatal(err)
	}
	if err := bucket.Put(ctx, leftover+"/index", strings.NewReader("index only")); err != nil {
		t.Fatal(err)
	}
	// And a temporary file a crashed Put left in a block directory of its own.
	orphan := filepath.Join(dir, "blocks", segment.NewID(t0.Add(2*time.Millisecond)))
	if err := os.MkdirAll(orphan, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(orphan, ".tmp-42"), []byte("torn"), 0o644); err != nil {
		t.Fatal(err)
	}

	s2 := openStore(t, dir, clk)
	defer s2.Close(ctx)
	if traceLen(t, s2, 1) != 1 || len(s2.snapshot().blocks) != 1 {
		t.Fatal("the complete block was not kept")
	}
	q, err := os.ReadFile(filepath.Join(dir, "blocks", "quarantine", torn, "data.parquet"))
	if err != nil || string(q) != "not parquet" {
		t.Fatalf("quarantined data = %q, %v", q, err)
	}
	for _, gone := range []string{torn, leftover, filepath.Base(orphan)} {
		if _, err := os.Stat(filepath.Join(dir, "blocks", gone)); !os.IsNotExist(err) {
			t.Errorf("%s still in blocks/ (stat: %v)", gone, err)
		}
	}
	listing, err := segment.List(ctx, bucket)
	left := listing.Incomplete
	if err != nil || len(left) != 0 {
		t.Fatalf("incomplete blocks after open: %v (err %v)", left, err)
	}
}

// Issue 16, item 7: a span ending 158 years from now kept its block, and
// every old span in it, forever. Retention now ends a block's time range no
// later than an hour after the block was written.
func TestFarFutureSpanDoesNotPinRetention(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{now: t0}
	s := openStore(t, dir, clk, func(o *Options) { o.Retention = 7 * 24 * time.Hour })
	defer s.Close(context.Background())
	td := batch(1, spanSpec{service: "svc", name: "old", idx: 1, parent: -1, durMs: 1})
	mustConsume(t, s, td)
	future := batch(2, spanSpec{service: "svc", name: "broken clock", idx: 1, parent: -1, durMs: 1})
	sp := future.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.AddDate(158, 0, 0)))
	mustConsume(t, s, future)
	written := time.Now()
	if err := s.Maintain(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if n := len(s.snapshot().blocks); n != 1 {
		t.Fatalf("%d blocks, want 1", n)
	}
	// Just inside retention, counted from the block's creation: kept.
	clk.now = written.Add(7 * 24 * time.Hour)
	if err := s.Maintain(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if n := len(s.snapshot().blocks); n != 1 {
		t.Fatalf("block expired early: %d blocks", n)
	}
	// Retention plus the hour of skew after it was written: gone.
	clk.now = written.Add(7*24*time.Hour + time.Hour + time.Minute)
	if err := s.Maintain(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if n := len(s.snapshot().blocks); n != 0 {
		t.Fatalf("block with a far-future span still kept: %d blocks", n)
	}
}

// Issue 16, item 9: dependencies counted every edge of any head or block
// that merely overlapped the window. Now only edges whose child span
// starts inside it count; answers computed by hand.
func TestDependenciesCountOnlyTheWindow(t *testing.T) {
	s := openStore(t, t.TempDir(), &clock{now: t0})
	defer s.Close(context.Background())
	const minute = 60_000 // ms
	// Trace 1 at t0: gateway → orders (+10 ms) → db (+20 ms).
	mustConsume(t, s, batch(1, spanSpec{service: "gateway", name: "GET /", idx: 1, parent: -1, durMs: 50},
		spanSpec{service: "orders", name: "list", idx: 2, parent: 1, startMs: 10, durMs: 30},
		spanSpec{service: "db", name: "SELECT", idx: 3, parent: 2, startMs: 20, durMs: 5}))
	// Trace 2 at t0+10 min: gateway → orders, failed.
	mustConsume(t, s, batch(2, spanSpec{service: "gateway", name: "GET /", idx: 1, parent: -1, startMs: 10 * minute, durMs: 50},
		spanSpec{service: "orders", name: "list", idx: 2, parent: 1, startMs: 10*minute + 5, durMs: 30, failed: true}))
	if err := s.Maintain(context.Background(), true); err != nil { // traces 1 and 2 in a block
		t.Fatal(err)
	}
	// Trace 3 at t0+20 minute, in the head: gateway → payments.
	mustConsume(t, s, batch(3, spanSpec{service: "gateway", name: "POST /pay", idx: 1, parent: -1, startMs: 20 * minute, durMs: 50},
		spanSpec{service: "payments", name: "charge", idx: 2, parent: 1, startMs: 20*minute + 1, durMs: 30}))

	e := func(p, c string, calls, errs uint64) block.Edge {
		return block.Edge{Parent: p, Child: c, Calls: calls, Errors: errs}
	}
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	for _, tc := range []struct {
		name     string
		from, to time.Time
		want     []block.Edge
	}{
		{"everything", ms(-60 * minute), ms(60 * minute),
			[]block.Edge{e("gateway", "orders", 2, 1), e("gateway", "payments", 1, 0), e("orders", "db", 1, 0)}},
		{"block wholly inside", ms(-minute), ms(11 * minute),
			[]block.Edge{e("gateway", "orders", 2, 1), e("orders", "db", 1, 0)}},
		{"middle of the block only", ms(5 * minute), ms(15 * minute),
			[]block.Edge{e("gateway", "orders", 1, 1)}},
		{"child inside, parent before the window", ms(15), ms(25 * minute),
			[]block.Edge{e("gateway", "orders", 1, 1), e("gateway", "payments", 1, 0), e("orders", "db", 1, 0)}},
		{"window ends before the traffic", ms(-120 * minute), ms(-60 * minute), []block.Edge{}},
		{"head only", ms(19 * minute), ms(21 * minute), []block.Edge{e("gateway", "payments", 1, 0)}},
	} {
		got, err := s.Dependencies(context.Background(), tc.from, tc.to)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
