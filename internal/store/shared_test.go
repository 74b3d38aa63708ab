package store

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/query/predicate"
	"github.com/clewtrace/clew/internal/segment"
)

// gate is a compactor gate a test switches.
type gate struct {
	mu   sync.Mutex
	held bool
}

func (g *gate) Held(context.Context) bool { g.mu.Lock(); defer g.mu.Unlock(); return g.held }
func (g *gate) set(v bool)                { g.mu.Lock(); g.held = v; g.mu.Unlock() }

// openShared opens a node on a shared bucket.
func openShared(t *testing.T, bucket objstore.Bucket, clk *clock, g Gate, mutate ...func(*Options)) *Store {
	t.Helper()
	return openStore(t, t.TempDir(), clk, append([]func(*Options){func(o *Options) {
		o.Bucket, o.Shared, o.Compactor, o.CompactBlocks = bucket, true, g, 2
	}}, mutate...)...)
}

func mustSync(t *testing.T, s *Store) {
	t.Helper()
	if err := s.syncBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func spansOf(t *testing.T, s *Store, tr int) int {
	t.Helper()
	spans, err := s.Trace(context.Background(), traceID(tr))
	if err != nil {
		t.Fatal(err)
	}
	return len(spans)
}

func bucketBlocks(t *testing.T, b objstore.Bucket) segment.Listing {
	t.Helper()
	l, err := segment.List(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Blocks another node writes appear at the next poll; until then the
// writer answers for them as recent data (what peers ask it for).
func TestSharedPollFindsOtherNodesBlocks(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewMemory()
	clk := &clock{now: t0}
	a := openShared(t, bucket, clk, nil)
	defer a.Close(ctx)
	b := openShared(t, bucket, clk, nil)
	defer b.Close(ctx)

	cutBlock(t, b, 1, 0)
	if n := spansOf(t, a, 1); n != 0 {
		t.Fatalf("node A found %d spans before polling", n)
	}
	if got, err := b.RecentTrace(ctx, traceID(1)); err != nil || len(got) != 2 {
		t.Fatalf("B's recent data: %d spans, %v; want its new block's 2", len(got), err)
	}
	mustSync(t, a)
	if n := spansOf(t, a, 1); n != 2 {
		t.Fatalf("node A found %d spans after polling, want 2", n)
	}
	// B's head (not yet a block) is recent data, and so is what it wrote
	// lately; a search over it gives the newest start.
	mustConsume(t, b, batch(2, spanSpec{service: "gateway", name: "GET /", idx: 1, parent: -1, startMs: 500, durMs: 1}))
	m, err := b.RecentFindTraces(ctx, predicate.MustCompile(predicate.Predicate{Service: "gateway", Kind: -1}), 10)
	if err != nil || len(m) != 2 || m[0].TraceID != traceID(2) || m[0].Start != t0.Add(500*time.Millisecond).UnixNano() {
		t.Fatalf("recent search = %+v, %v; want trace 2 then 1", m, err)
	}
	// Long after the write, the block is no longer recent: every node lists it.
	clk.Add(b.recentWindow() + time.Second)
	if got, _ := b.RecentTrace(ctx, traceID(1)); len(got) != 0 {
		t.Fatalf("a block written long ago still counts as recent: %d spans", len(got))
	}
	if !a.HasBlock(blockMetas(b)[0].ID) {
		t.Fatal("HasBlock does not know a listed block")
	}
}

// On a shared bucket nothing is deleted at open: a meta-less block may be
// another node's upload in progress, and a compacted-away input may still
// be read by another node.
func TestSharedOpenDeletesNothing(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewMemory()
	clk := &clock{now: t0}
	g := &gate{held: true}
	a := openShared(t, bucket, clk, g)
	cutBlock(t, a, 1, 0)
	cutBlock(t, a, 2, 1)
	if err := a.compactAndExpire(ctx); err != nil {
		t.Fatal(err)
	}
	if m := blockMetas(a); len(m) != 1 || len(m[0].Compacted) != 2 {
		t.Fatalf("blocks after compaction: %+v", m)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// An upload in progress: data and index, no meta.json yet.
	inProgress := segment.NewID(t0)
	for _, obj := range []string{"data.parquet", "index.bin"} {
		if err := bucket.Put(ctx, inProgress+"/"+obj, strings.NewReader("partial")); err != nil {
			t.Fatal(err)
		}
	}
	before := bucketBlocks(t, bucket)
	if len(before.Complete) != 3 || len(before.Incomplete) != 1 {
		t.Fatalf("bucket before open: %+v", before)
	}
	b := openShared(t, bucket, clk, g)
	defer b.Close(ctx)
	after := bucketBlocks(t, bucket)
	if strings.Join(after.Complete, ",") != strings.Join(before.Complete, ",") ||
		strings.Join(after.Incomplete, ",") != strings.Join(before.Incomplete, ",") {
		t.Fatalf("open deleted blocks: before %+v, after %+v", before, after)
	}
	// It reads only the merged block, each trace once.
	if m := blockMetas(b); len(m) != 1 || len(m[0].Compacted) != 2 {
		t.Fatalf("node B's block list: %+v, want the merged block only", m)
	}
	for tr := 1; tr <= 2; tr++ {
		if n := spansOf(t, b, tr); n != 2 {
			t.Fatalf("trace %d: %d spans, want 2", tr, n)
		}
	}
}

// Compaction on one node: another node's query that holds an input keeps
// reading it; the inputs leave every node's list at its next poll, and the
// compactor deletes them from the bucket only DeleteDelay after the merge.
// A node without the gate never compacts or deletes.
func TestSharedCompactionDeletesAfterDelay(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewMemory()
	clk := &clock{now: t0}
	compactor, reader := &gate{held: true}, &gate{}
	a := openShared(t, bucket, clk, compactor)
	defer a.Close(ctx)
	b := openShared(t, bucket, clk, reader)
	defer b.Close(ctx)
	cutBlock(t, b, 1, 0)
	cutBlock(t, b, 2, 1)
	if err := b.compactAndExpire(ctx); err != nil {
		t.Fatal(err)
	}
	if len(blockMetas(b)) != 2 {
		t.Fatal("a node without the compactor gate compacted")
	}
	mustSync(t, a)
	snap := b.snapshot() // a query on B in flight across the compaction
	if err := a.compactAndExpire(ctx); err != nil {
		t.Fatal(err)
	}
	mustSync(t, b)
	if m := blockMetas(b); len(m) != 1 || len(m[0].Compacted) != 2 {
		t.Fatalf("node B after polling: %+v, want the merged block only", m)
	}
	for i, lb := range snap.blocks {
		if spans, err := lb.Trace(ctx, traceID(i+1)); err != nil || len(spans) != 2 {
			t.Fatalf("held input %d after the merge: %d spans, %v", i, len(spans), err)
		}
	}
	snap.release()
	mustSync(t, a)
	if l := bucketBlocks(t, bucket); len(l.Complete) != 3 {
		t.Fatalf("inputs deleted before the delay: %+v", l)
	}
	clk.Add(a.core.Options().DeleteDelay + time.Second)
	mustSync(t, b) // not the compactor: deletes nothing
	if l := bucketBlocks(t, bucket); len(l.Complete) != 3 {
		t.Fatalf("a node without the gate deleted: %+v", l)
	}
	mustSync(t, a)
	if l := bucketBlocks(t, bucket); len(l.Complete) != 1 || len(l.Incomplete) != 0 {
		t.Fatalf("after the delay the bucket holds %+v, want the merged block only", l)
	}
	for tr := 1; tr <= 2; tr++ {
		for _, s := range []*Store{a, b} {
			if n := spansOf(t, s, tr); n != 2 {
				t.Fatalf("trace %d: %d spans, want 2", tr, n)
			}
		}
	}
}

// Two nodes that both believe they are the compactor (a lease that a long
// pause let expire) merge the same blocks at once: every trace is still
// read once, edges are counted once, and after the delay one merged block
// is left.
func TestSharedRacingCompactorsCorruptNothing(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewMemory()
	clk := &clock{now: t0}
	both := &gate{held: true}
	a := openShared(t, bucket, clk, both)
	defer a.Close(ctx)
	b := openShared(t, bucket, clk, both)
	defer b.Close(ctx)
	cutBlock(t, a, 1, 0)
	cutBlock(t, a, 2, 1)
	mustSync(t, b)
	wantEdges, err := a.Dependencies(ctx, t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil || len(wantEdges) != 1 || wantEdges[0].Calls != 2 {
		t.Fatalf("edges before: %+v, %v", wantEdges, err)
	}
	var wg sync.WaitGroup
	for _, s := range []*Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.compactAndExpire(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if l := bucketBlocks(t, bucket); len(l.Complete) != 4 {
		t.Fatalf("bucket after racing merges: %+v, want 2 inputs and 2 outputs", l)
	}
	for _, s := range []*Store{a, b} {
		mustSync(t, s)
		if m := blockMetas(s); len(m) != 1 {
			t.Fatalf("block list after racing merges: %+v, want one merged block", m)
		}
		for tr := 1; tr <= 2; tr++ {
			if n := spansOf(t, s, tr); n != 2 {
				t.Fatalf("trace %d: %d spans, want 2", tr, n)
			}
		}
		if edges, _ := s.Dependencies(ctx, t0.Add(-time.Hour), t0.Add(time.Hour)); len(edges) != 1 || edges[0].Calls != 2 {
			t.Fatalf("edges after racing merges: %+v, want calls 2", edges)
		}
	}
	clk.Add(a.core.Options().DeleteDelay + time.Second)
	mustSync(t, a)
	mustSync(t, b)
	if l := bucketBlocks(t, bucket); len(l.Complete) != 1 {
		t.Fatalf("bucket after the delay: %+v, want one block", l)
	}
	for tr := 1; tr <= 2; tr++ {
		if n := spansOf(t, b, tr); n != 2 {
			t.Fatalf("trace %d after the delay: %d spans, want 2", tr, n)
		}
	}
}

// Retention on a shared bucket: every node stops reading an expired block
// at the horizon; the compactor deletes it DeleteDelay later. Uploads left
// incomplete are deleted once PartialUploadAge old, never sooner.
func TestSharedRetentionAndPartialUploads(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewMemory()
	clk := &clock{now: t0}
	g := &gate{held: true}
	a := openShared(t, bucket, clk, g, func(o *Options) { o.Retention = time.Hour; o.CompactBlocks = 100 })
	defer a.Close(ctx)
	b := openShared(t, bucket, clk, &gate{}, func(o *Options) { o.Retention = time.Hour })
	defer b.Close(ctx)
	cutBlock(t, b, 1, 0)
	partial := segment.NewID(t0)
	if err := bucket.Put(ctx, partial+"/data.parquet", strings.NewReader("cut short")); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a)
	clk.Add(time.Hour + time.Minute)
	if err := b.compactAndExpire(ctx); err != nil {
		t.Fatal(err)
	}
	if n := spansOf(t, b, 1); n != 0 {
		t.Fatalf("expired trace still read: %d spans", n)
	}
	mustSync(t, a)
	if n := spansOf(t, a, 1); n != 0 {
		t.Fatalf("expired trace still read on the compactor: %d spans", n)
	}
	if l := bucketBlocks(t, bucket); len(l.Complete) != 1 || len(l.Incomplete) != 1 {
		t.Fatalf("deleted before the delay: %+v", l)
	}
	clk.Add(a.core.Options().DeleteDelay)
	mustSync(t, a)
	if l := bucketBlocks(t, bucket); len(l.Complete) != 0 || len(l.Incomplete) != 1 {
		t.Fatalf("after the delay: %+v, want only the partial upload", l)
	}
	clk.Add(a.core.Options().PartialUploadAge)
	mustSync(t, a)
	if l := bucketBlocks(t, bucket); len(l.Complete)+len(l.Incomplete) != 0 {
		t.Fatalf("partial upload not collected after PartialUploadAge: %+v", l)
	}
}

// A block this node wrote stays in its recent data for the recent window
// even when another node's compaction takes it out of this node's list:
// a third node that has not polled since still gets its spans from here.
func TestSharedRecentBlockOutlivesCompaction(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewMemory()
	clk := &clock{now: t0}
	compactor := openShared(t, bucket, clk, &gate{held: true})
	defer compactor.Close(ctx)
	b := openShared(t, bucket, clk, nil)
	defer b.Close(ctx)
	cutBlock(t, b, 1, 0)
	cutBlock(t, b, 2, 1)
	mustSync(t, compactor)
	if err := compactor.compactAndExpire(ctx); err != nil {
		t.Fatal(err)
	}
	mustSync(t, b)
	if m := blockMetas(b); len(m) != 1 || len(m[0].Compacted) != 2 {
		t.Fatalf("B's list after the merge: %+v", m)
	}
	for tr := 1; tr <= 2; tr++ {
		if got, err := b.RecentTrace(ctx, traceID(tr)); err != nil || len(got) != 2 {
			t.Fatalf("B's recent data lost trace %d with its compacted block: %d spans, %v", tr, len(got), err)
		}
	}
	if b.recentWindow() > b.core.Options().DeleteDelay {
		t.Fatalf("recent window %s outlasts the delete delay %s", b.recentWindow(), b.core.Options().DeleteDelay)
	}
	clk.Add(b.recentWindow() + time.Second)
	mustSync(t, b)
	if got, _ := b.RecentTrace(ctx, traceID(1)); len(got) != 0 {
		t.Fatal("recent data kept a block past the recent window")
	}
}

// A damaged block in the shared bucket is skipped, logged once and not
// read again at every poll; the rest of the bucket is served.
func TestSharedSkipsDamagedBlock(t *testing.T) {
	ctx := context.Background()
	mem := objstore.NewMemory()
	counting := objstore.NewCounting(mem)
	clk := &clock{now: t0}
	a := openShared(t, mem, clk, nil)
	defer a.Close(ctx)
	cutBlock(t, a, 1, 0)
	bad := segment.NewID(t0)
	if err := mem.Put(ctx, bad+"/meta.json", strings.NewReader("{not json")); err != nil {
		t.Fatal(err)
	}
	b := openShared(t, counting, clk, nil)
	defer b.Close(ctx)
	if n := spansOf(t, b, 1); n != 2 {
		t.Fatalf("the good block is not served next to a damaged one: %d spans", n)
	}
	before := counting.Counts().Get
	for range 3 {
		mustSync(t, b)
	}
	if got := counting.Counts().Get - before; got != 0 {
		t.Fatalf("polls read %d objects again, want none (the damaged meta is remembered)", got)
	}
}
