package logstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/query/partial"
	"github.com/clewtrace/clew/internal/segment"
)

// gate is a compactor gate a test switches.
type gate struct {
	mu   sync.Mutex
	held bool
}

func (g *gate) Held(context.Context) bool { g.mu.Lock(); defer g.mu.Unlock(); return g.held }

func mustMaintain(t *testing.T, s *Store, force bool) {
	t.Helper()
	if err := s.Maintain(context.Background(), force); err != nil {
		t.Fatal(err)
	}
}

func search(t *testing.T, s *Store, q LogQuery) []string {
	t.Helper()
	got, err := s.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	b := bodies(got)
	slices.Sort(b)
	return b
}

func listing(t *testing.T, b objstore.Bucket) segment.Listing {
	t.Helper()
	l, err := segment.List(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func metaOf(t *testing.T, b objstore.Bucket, id string) blockMeta {
	t.Helper()
	m, err := readMeta(context.Background(), b, id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Small blocks of one 15-minute window are merged into one level-1 block
// once the window is over; the merged block holds every record, names its
// inputs, and the inputs are deleted from the bucket. Blocks of another
// window are left alone.
func TestCompaction(t *testing.T) {
	clk := &clock{t: t0}
	bucket := objstore.NewMemory()
	s := openTest(t, t.TempDir(), clk, func(o *Options) { o.Bucket = bucket; o.CompactBlocks = 5 })
	for i := range 3 {
		consume(t, s, spec{at: time.Duration(i) * time.Minute, trace: 1, svc: "a", body: "w1-" + string(rune('a'+i))})
		mustMaintain(t, s, true)
		clk.Advance(time.Minute)
	}
	consume(t, s, spec{at: 20 * time.Minute, trace: 1, svc: "a", body: "w2"}) // the next window
	clk.Advance(17 * time.Minute)
	mustMaintain(t, s, true)
	if l := listing(t, bucket); len(l.Complete) != 4 {
		t.Fatalf("%d blocks before the first window is over, want 4 (below the merge count of 5)", len(l.Complete))
	}
	clk.Advance(15*time.Minute + 5*time.Minute) // window [0,15m) plus BlockMaxAge is past
	mustMaintain(t, s, false)
	l := listing(t, bucket)
	if len(l.Complete) != 2 || len(l.Incomplete) != 0 {
		t.Fatalf("after compaction: %+v, want 2 complete blocks (merged + other window)", l)
	}
	var merged blockMeta
	for _, id := range l.Complete {
		if m := metaOf(t, bucket, id); m.CompactionLevel == 1 {
			merged = m
		}
	}
	if merged.RecordCount != 3 || len(merged.Compacted) != 3 || !slices.IsSorted(merged.Compacted) {
		t.Fatalf("merged block meta %+v: want 3 records from 3 sorted inputs", merged)
	}
	want := []string{"w1-a", "w1-b", "w1-c", "w2"}
	if got := search(t, s, LogQuery{}); !slices.Equal(got, want) {
		t.Fatalf("search after compaction: %q, want %q", got, want)
	}
	if got := search(t, s, LogQuery{TraceID: ptr(traceID(1))}); !slices.Equal(got, want) {
		t.Fatalf("trace search after compaction: %q, want %q", got, want)
	}
	// A restart reads the same (no leftovers to double-count).
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s2 := openTest(t, t.TempDir(), clk, func(o *Options) { o.Bucket = bucket })
	if got := search(t, s2, LogQuery{}); !slices.Equal(got, want) {
		t.Fatalf("after reopening on the bucket: %q, want %q", got, want)
	}
}

// A query that holds a snapshot keeps reading blocks that compaction
// replaced; their objects are deleted only once it lets go.
func TestSnapshotHoldsBlocksDuringCompaction(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	bucket := objstore.NewMemory()
	s := openTest(t, t.TempDir(), clk, func(o *Options) { o.Bucket = bucket; o.CompactBlocks = 2 })
	consume(t, s, spec{at: 0, trace: 1, body: "one"})
	mustMaintain(t, s, true)
	snap := s.core.Snapshot(ctx)
	if len(snap.Blocks) != 1 {
		t.Fatalf("snapshot holds %d blocks, want 1", len(snap.Blocks))
	}
	held := snap.Blocks[0]
	consume(t, s, spec{at: time.Minute, trace: 1, body: "two"})
	mustMaintain(t, s, true) // writes a second block of the window: the two merge
	if metas := s.core.BlockMetas(); len(metas) != 1 || metas[0].Level != 1 {
		t.Fatalf("block list %+v: want the one merged block", metas)
	}
	if _, err := bucket.Get(ctx, held.Meta().ID+"/"+dataName); err != nil {
		t.Fatalf("a block a snapshot holds was deleted: %v", err)
	}
	var got []string
	if err := held.Block.search(ctx, newMatcher(LogQuery{}), func(r *Record) { got = append(got, r.Body) }); err != nil {
		t.Fatalf("reading a replaced block through a snapshot: %v", err)
	}
	if !slices.Equal(got, []string{"one"}) {
		t.Fatalf("replaced block gave %q, want [one]", got)
	}
	snap.Release()
	mustMaintain(t, s, false) // collects the garbage
	if _, err := bucket.Get(ctx, held.Meta().ID+"/"+dataName); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("replaced block still in the bucket after the snapshot let go: %v", err)
	}
	if got := search(t, s, LogQuery{}); !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("search: %q", got)
	}
}

// Two nodes on one bucket (the "logs/" prefix of a bucket that also holds
// other objects): each sees the other's log blocks after a poll; only the
// gate holder compacts, and the other node follows; the compacted inputs
// are deleted DeleteDelay later; retention deletes from the bucket.
func TestSharedBucketTwoNodes(t *testing.T) { testSharedTwoNodes(t, objstore.NewMemory()) }

func testSharedTwoNodes(t *testing.T, root objstore.Bucket) {
	ctx := context.Background()
	clk := &clock{t: t0}
	if err := root.Put(ctx, "0123456789ABCDEFGHJKMNPQRS/meta.json", strings.NewReader("{}")); err != nil { // a span block's meta
		t.Fatal(err)
	}
	bucket, err := objstore.WithPrefix(root, "logs")
	if err != nil {
		t.Fatal(err)
	}
	ga, gb := &gate{held: true}, &gate{}
	shared := func(g *gate) func(*Options) {
		return func(o *Options) {
			o.Bucket, o.Shared, o.Compactor, o.CompactBlocks, o.DeleteDelay = bucket, true, g, 2, time.Minute
			o.Retention = 24 * time.Hour
		}
	}
	a := openTest(t, t.TempDir(), clk, shared(ga))
	b := openTest(t, t.TempDir(), clk, shared(gb))

	consume(t, a, spec{at: 0, trace: 1, svc: "front", body: "from a"})
	consume(t, b, spec{at: time.Second, trace: 1, svc: "back", body: "from b"})
	mustMaintain(t, a, true)
	mustMaintain(t, b, true)
	for _, n := range []*Store{a, b} {
		if err := n.PollBucket(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"from a", "from b"}
	for name, n := range map[string]*Store{"a": a, "b": b} {
		if got := search(t, n, LogQuery{TraceID: ptr(traceID(1))}); !slices.Equal(got, want) {
			t.Fatalf("node %s sees %q, want %q", name, got, want)
		}
	}

	// Node b does not hold the gate: it never merges.
	clk.Advance(time.Hour)
	mustMaintain(t, b, false)
	if n := len(listing(t, bucket).Complete); n != 2 {
		t.Fatalf("%d blocks after the non-compactor's pass, want 2", n)
	}
	mustMaintain(t, a, false) // the compactor merges both nodes' blocks
	if err := b.PollBucket(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(b.core.BlockMetas()); n != 1 || b.core.BlockMetas()[0].Level != 1 {
		t.Fatalf("node b lists %+v after the merge, want the one merged block", b.core.BlockMetas())
	}
	if got := search(t, b, LogQuery{}); !slices.Equal(got, want) {
		t.Fatalf("node b after the merge: %q, want %q", got, want)
	}
	if n := len(listing(t, bucket).Complete); n != 3 {
		t.Fatalf("%d blocks right after the merge, want 3 (inputs stay DeleteDelay)", n)
	}
	if err := a.PollBucket(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	if err := a.PollBucket(ctx); err != nil { // the compactor deletes what every node had time to drop
		t.Fatal(err)
	}
	if n := len(listing(t, bucket).Complete); n != 1 {
		t.Fatalf("%d blocks after DeleteDelay, want 1", n)
	}

	// Retention: past the horizon every node drops the block, and the
	// compactor deletes it DeleteDelay after.
	clk.Advance(24 * time.Hour)
	for _, n := range []*Store{a, b} {
		if err := n.PollBucket(ctx); err != nil {
			t.Fatal(err)
		}
		if got := search(t, n, LogQuery{}); len(got) != 0 {
			t.Fatalf("expired records still served: %q", got)
		}
	}
	clk.Advance(2 * time.Minute)
	if err := a.PollBucket(ctx); err != nil {
		t.Fatal(err)
	}
	if l := listing(t, bucket); len(l.Complete)+len(l.Incomplete) != 0 {
		t.Fatalf("blocks left in the bucket after retention: %+v", l)
	}
	if _, err := root.Get(ctx, "0123456789ABCDEFGHJKMNPQRS/meta.json"); err != nil {
		t.Fatalf("the log store touched an object outside its prefix: %v", err)
	}
}

// failingBucket fails every Put while failing is set, as a bucket that is
// down does.
type failingBucket struct {
	objstore.Bucket
	failing atomic.Bool
}

func (f *failingBucket) Put(ctx context.Context, name string, r io.Reader) error {
	if f.failing.Load() && strings.HasSuffix(name, "/"+bloomName) {
		return errors.New("503 Slow Down (injected)")
	}
	return f.Bucket.Put(ctx, name, r)
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// While the bucket refuses writes, logs are acknowledged and searchable,
// the backlog shows in /metrics, retries back off, and no half-written
// block is left; when the bucket is back the block goes up and the WAL is
// truncated.
func TestUploadRetryWithBacklog(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	bucket := &failingBucket{Bucket: objstore.NewMemory()}
	reg := prometheus.NewRegistry()
	s := openTest(t, t.TempDir(), clk, func(o *Options) { o.Bucket = bucket; o.Registerer = reg })
	consume(t, s, spec{at: 0, trace: 1, body: "kept"})
	bucket.failing.Store(true)
	if err := s.Maintain(ctx, true); err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("Maintain against a failing bucket: %v", err)
	}
	if l := listing(t, bucket); len(l.Complete)+len(l.Incomplete) != 0 {
		t.Fatalf("a failed block write left %+v", l)
	}
	if n := gaugeValue(t, reg, "clew_logstore_upload_backlog_blocks"); n != 1 {
		t.Fatalf("backlog %v blocks, want 1", n)
	}
	if n := gaugeValue(t, reg, "clew_logstore_upload_backlog_records"); n != 1 {
		t.Fatalf("backlog %v records, want 1", n)
	}
	consume(t, s, spec{at: time.Second, trace: 1, body: "still acknowledged"})
	if got := search(t, s, LogQuery{}); !slices.Equal(got, []string{"kept", "still acknowledged"}) {
		t.Fatalf("search while the bucket is down: %q", got)
	}
	bucket.failing.Store(false)
	if err := s.Maintain(ctx, false); err != nil { // within the backoff: nothing tried
		t.Fatal(err)
	}
	if n := gaugeValue(t, reg, "clew_logstore_upload_backlog_blocks"); n != 1 {
		t.Fatalf("backlog %v blocks during the backoff, want 1", n)
	}
	clk.Advance(2 * time.Second)
	mustMaintain(t, s, false)
	if n := gaugeValue(t, reg, "clew_logstore_upload_backlog_blocks"); n != 0 {
		t.Fatalf("backlog %v blocks after the bucket came back, want 0", n)
	}
	if n := gaugeValue(t, reg, "clew_logstore_block_write_failures_total"); n != 1 {
		t.Fatalf("write failures %v, want 1", n)
	}
	if l := listing(t, bucket); len(l.Complete) != 1 {
		t.Fatalf("blocks after the retry: %+v, want 1", l)
	}
	if got := search(t, s, LogQuery{}); !slices.Equal(got, []string{"kept", "still acknowledged"}) {
		t.Fatalf("search after the retry: %q", got)
	}
}

// A block whose data does not decode fails no query: the answer comes
// from the rest, marked partial; verification moves the block to
// quarantine and rebuilds its intact row groups.
func TestDamagedBlockIsolated(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	bucket := objstore.NewMemory()
	reg := prometheus.NewRegistry()
	s := openTest(t, t.TempDir(), clk, func(o *Options) { o.Bucket = bucket; o.Registerer = reg; o.CompactBlocks = 100 })
	consume(t, s, spec{at: 0, trace: 1, body: "good"})
	mustMaintain(t, s, true)
	consume(t, s, spec{at: time.Second, trace: 1, body: "bad"})
	mustMaintain(t, s, true)
	metas := s.core.BlockMetas()
	if len(metas) != 2 {
		t.Fatalf("%d blocks, want 2", len(metas))
	}
	bad := metas[1].ID
	// Flip a byte in the middle of each column chunk, keep the footer and
	// page index: the block opens, its reads fail.
	raw, err := objstore.ReadAll(ctx, bucket, bad+"/"+dataName)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(raw), int64(len(raw)), parquet.SkipPageIndex(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range f.Metadata().RowGroups[0].Columns {
		m := c.MetaData
		start := m.DataPageOffset
		if m.DictionaryPageOffset > 0 && m.DictionaryPageOffset < start {
			start = m.DictionaryPageOffset
		}
		raw[start+m.TotalCompressedSize/2] ^= 0x5a
	}
	if err := bucket.Put(ctx, bad+"/"+dataName, bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	// Reopen so the block's reader sees the garbled object.
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	reg = prometheus.NewRegistry()
	s = openTest(t, t.TempDir(), clk, func(o *Options) { o.Bucket = bucket; o.Registerer = reg; o.CompactBlocks = 100 })
	qctx, report := partial.With(ctx)
	got, err := s.Search(qctx, LogQuery{})
	if err != nil {
		t.Fatalf("a damaged block failed the query: %v", err)
	}
	if b := bodies(got); !slices.Equal(b, []string{"good"}) {
		t.Fatalf("search with a damaged block: %q, want [good]", b)
	}
	if !report.Partial() || !strings.Contains(strings.Join(report.Reasons(), " "), bad) {
		t.Fatalf("answer not marked partial naming %s: %q", bad, report.Reasons())
	}
	if n := gaugeValue(t, reg, "clew_logstore_block_read_errors_total"); n != 1 {
		t.Fatalf("read errors %v, want 1", n)
	}
	mustMaintain(t, s, false) // verifies, quarantines
	if n := gaugeValue(t, reg, "clew_logstore_blocks_quarantined_total"); n != 1 {
		t.Fatalf("quarantined %v, want 1", n)
	}
	if n := gaugeValue(t, reg, "clew_logstore_damaged_records_total"); n != 1 {
		t.Fatalf("lost %v records, want 1", n)
	}
	if _, err := bucket.Get(ctx, "quarantine/"+bad+"/"+metaName); err != nil {
		t.Fatalf("damaged block not in quarantine/: %v", err)
	}
	if l := listing(t, bucket); len(l.Complete) != 1 {
		t.Fatalf("blocks after quarantine: %+v, want the good one", l)
	}
	qctx, report = partial.With(ctx)
	if got, err := s.Search(qctx, LogQuery{}); err != nil || len(got) != 1 || report.Partial() {
		t.Fatalf("search after quarantine: %v, %v, partial %v", bodies(got), err, report.Partial())
	}
}

// A block write cut short by a crash (data, no meta.json) is deleted at
// open: its records are still in the WAL, and replaying them is what
// brings them back (exactly once). A block whose meta.json is damaged is
// rebuilt from its data.
func TestIncompleteBlocksAtOpen(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	bucket := objstore.NewMemory()
	dir := t.TempDir()
	s := openTest(t, dir, clk, func(o *Options) { o.Bucket = bucket })
	consume(t, s, spec{at: 0, trace: 1, body: "damaged meta"})
	mustMaintain(t, s, true)
	damaged := s.core.BlockMetas()[0].ID
	consume(t, s, spec{at: time.Second, trace: 1, body: "in the wal"})
	// A write cut short: the data object of a block of the WAL's records.
	h := newHead(clk.Now())
	recs, err := decodeRecord(append([]byte{recordLogs}, mustMarshal(t, makeLogs(t, spec{at: time.Second, trace: 1, body: "in the wal"}))...))
	if err != nil {
		t.Fatal(err)
	}
	h.Add(recs)
	m, err := writeBlock(ctx, bucket, h.records(), clk.Now(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bucket.Delete(ctx, m.ID+"/"+metaName); err != nil {
		t.Fatal(err)
	}
	if err := bucket.Put(ctx, damaged+"/"+metaName, strings.NewReader("{not json")); err != nil {
		t.Fatal(err)
	}
	_ = s.core.WAL().Close() // crash

	s2 := openTest(t, dir, clk, func(o *Options) { o.Bucket = bucket })
	if got := search(t, s2, LogQuery{}); !slices.Equal(got, []string{"damaged meta", "in the wal"}) {
		t.Fatalf("after reopening: %q, want each record once", got)
	}
	if _, err := bucket.Get(ctx, "quarantine/"+damaged+"/"+metaName); err != nil {
		t.Fatalf("damaged meta.json not copied to quarantine/: %v", err)
	}
	l := listing(t, bucket)
	if len(l.Incomplete) != 0 || len(l.Complete) != 1 || l.Complete[0] == damaged {
		t.Fatalf("bucket after open: %+v, want one rebuilt block", l)
	}
}

// With ReplayInBackground, Open returns at once; while the WAL replays,
// searches answer from what is replayed, marked partial, and writes are
// refused as overloaded (retryable); afterwards everything is there.
func TestReplayInBackground(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	dir := t.TempDir()
	s := openTest(t, dir, clk, nil)
	for i := range 20 {
		consume(t, s, spec{at: time.Duration(i) * time.Second, trace: 1, body: "r"})
	}
	_ = s.core.WAL().Close() // crash
	proceed := make(chan struct{})
	var once sync.Once
	entered := make(chan struct{})
	s2 := openTest(t, dir, clk, func(o *Options) {
		o.ReplayInBackground = true
		o.replayGate = func() { once.Do(func() { close(entered) }); <-proceed }
	})
	<-entered // one record replayed, the replay waits
	qctx, report := partial.With(ctx)
	if _, err := s2.Search(qctx, LogQuery{}); err != nil {
		t.Fatal(err)
	}
	if !report.Partial() {
		t.Error("a search during the replay is not marked partial")
	}
	if _, err := s2.ConsumeLogs(ctx, makeLogs(t, spec{body: "x"})); !errors.Is(err, consumer.ErrOverloaded) {
		t.Errorf("a write during the replay: %v, want ErrOverloaded", err)
	}
	if s2.Ready() == nil {
		t.Error("ready during the replay")
	}
	close(proceed)
	if err := s2.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s2.Ready(); err != nil {
		t.Fatalf("not ready after the replay: %v", err)
	}
	if got := search(t, s2, LogQuery{}); len(got) != 20 {
		t.Fatalf("%d records after the replay, want 20", len(got))
	}
}

func mustMarshal(t *testing.T, ld plog.Logs) []byte {
	t.Helper()
	b, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
