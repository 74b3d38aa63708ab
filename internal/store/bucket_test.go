package store

import (
	"context"
	"strings"
	"testing"

	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/objstore/s3test"
	"github.com/clewtrace/clew/internal/query/predicate"
	"github.com/clewtrace/clew/internal/store/block"
)

// The store runs unchanged on any bucket: blocks go to the bucket, the WAL
// stays in the directory, and a restart reads the blocks back from the
// bucket. Run on the in-memory bucket and on a real S3 server (versitygw).
func TestStoreOnBucket(t *testing.T) {
	t.Run("Memory", func(t *testing.T) { testStoreOnBucket(t, objstore.NewMemory()) })
	t.Run("S3", func(t *testing.T) {
		srv := s3test.Start(t)
		s3test.SetCredentials(t)
		b, err := objstore.NewS3(context.Background(), objstore.S3Options{
			Bucket: srv.Bucket(t, "store"), Endpoint: srv.Endpoint, Insecure: true, Prefix: "traces",
		})
		if err != nil {
			t.Fatal(err)
		}
		testStoreOnBucket(t, b)
	})
}

func testStoreOnBucket(t *testing.T, bucket objstore.Bucket) {
	ctx := context.Background()
	dir := t.TempDir()
	clk := &clock{now: t0}
	withBucket := func(o *Options) { o.Bucket = bucket }
	s := openStore(t, dir, clk, withBucket)
	for tr := range 20 {
		mustConsume(t, s, batch(tr,
			spanSpec{service: "web", name: "GET /", idx: 1, parent: -1, startMs: tr, durMs: 10},
			spanSpec{service: "db", name: "SELECT", idx: 2, parent: 1, startMs: tr + 1, durMs: 2}))
	}
	if err := s.Maintain(ctx, true); err != nil {
		t.Fatal(err)
	}
	metas, err := block.ListMetas(ctx, bucket)
	if err != nil || len(metas) != 1 || metas[0].SpanCount != 40 {
		t.Fatalf("bucket holds %+v, %v; want one block of 40 spans", metas, err)
	}
	var local []string
	if l, err := objstore.NewLocal(dir); err == nil {
		_ = l.List(ctx, "blocks/", func(n string) error { local = append(local, n); return nil })
	}
	if len(local) != 0 {
		t.Errorf("blocks written to the data directory too: %v", local)
	}
	mustConsume(t, s, batch(3, spanSpec{service: "late", name: "x", idx: 3, parent: 1, startMs: 5, durMs: 1}))
	crash(t, s)

	s2 := openStore(t, dir, clk, withBucket)
	defer s2.Close(ctx)
	if n := traceLen(t, s2, 3); n != 3 {
		t.Errorf("trace 3 after restart: %d spans, want 3 (2 from the bucket, 1 from the WAL)", n)
	}
	ids := findIDs(t, s2, predicate.Predicate{Service: "db", Operation: "SELECT"})
	if len(ids) != 20 {
		t.Errorf("search found %d traces in the bucket's block, want 20", len(ids))
	}
	// A cancelled query stops with the context's error, not a partial answer.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s2.Trace(cctx, traceID(5)); err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("Trace with a cancelled context: %v", err)
	}
}
