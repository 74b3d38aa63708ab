package store

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/segment"
	"github.com/clewtrace/clew/internal/store/block"
)

// failingBucket fails every Put of an object whose name contains failOn
// while failing is set, as a bucket that is down (or refuses writes) does.
type failingBucket struct {
	objstore.Bucket
	failing atomic.Bool
	failOn  string
	puts    atomic.Int64
}

func (f *failingBucket) Put(ctx context.Context, name string, r io.Reader) error {
	f.puts.Add(1)
	if f.failing.Load() && strings.Contains(name, f.failOn) {
		return errors.New("503 Slow Down (injected)")
	}
	return f.Bucket.Put(ctx, name, r)
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func objects(t *testing.T, b objstore.Bucket) []string {
	t.Helper()
	var names []string
	if err := b.List(context.Background(), "", func(n string) error { names = append(names, n); return nil }); err != nil {
		t.Fatal(err)
	}
	return names
}

// While the bucket refuses writes, ingest keeps acknowledging, the cut head
// stays queryable and in the WAL, the backlog shows in /metrics, retries
// back off, and a half-written block is removed; when the bucket is back,
// the block goes up and the WAL is truncated. A crash while the bucket is
// down loses nothing: the WAL replays and the block is written after.
func TestBlockWritesRetryWithBackoff(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clk := &clock{now: t0}
	bucket := &failingBucket{Bucket: objstore.NewMemory(), failOn: "/index"}
	reg := prometheus.NewRegistry()
	s := openStore(t, dir, clk, func(o *Options) { o.Bucket = bucket; o.Registerer = reg })
	for tr := range 10 {
		mustConsume(t, s, batch(tr, spanSpec{service: "web", name: "GET /", idx: 1, parent: -1, startMs: tr, durMs: 3}))
	}
	bucket.failing.Store(true)
	if err := s.flush(ctx, true); err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("flush against a failing bucket: %v", err)
	}
	if names := objects(t, bucket); len(names) != 0 {
		t.Errorf("a failed block write left %v in the bucket", names)
	}
	if n := gauge(t, reg, "clew_store_upload_backlog_blocks"); n != 1 {
		t.Errorf("backlog blocks = %v, want 1", n)
	}
	if n := gauge(t, reg, "clew_store_upload_backlog_spans"); n != 10 {
		t.Errorf("backlog spans = %v, want 10", n)
	}
	if n := traceLen(t, s, 4); n != 1 {
		t.Errorf("trace 4 while the bucket is down: %d spans, want 1 (from the cut head)", n)
	}
	mustConsume(t, s, batch(20, spanSpec{service: "web", name: "GET /", idx: 1, parent: -1, durMs: 3})) // still acknowledging

	// Within the backoff, unforced passes do not touch the bucket.
	puts := bucket.puts.Load()
	for range 3 {
		clk.Add(100 * time.Millisecond)
		if err := s.flush(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	if bucket.puts.Load() != puts {
		t.Errorf("%d writes during the backoff, want none", bucket.puts.Load()-puts)
	}
	clk.Add(2 * time.Second) // past the first backoff (1 s + jitter)
	if err := s.flush(ctx, false); err == nil || !strings.Contains(err.Error(), "2 times in a row") {
		t.Errorf("second attempt: %v", err)
	}

	// Crash while the bucket is down; restart with it back.
	crash(t, s)
	bucket.failing.Store(false)
	reg2 := prometheus.NewRegistry()
	s2 := openStore(t, dir, clk, func(o *Options) { o.Bucket = bucket; o.Registerer = reg2 })
	defer s2.Close(ctx)
	if err := s2.Maintain(ctx, true); err != nil {
		t.Fatal(err)
	}
	metas, err := block.ListMetas(ctx, bucket)
	if err != nil || len(metas) != 1 || metas[0].SpanCount != 11 {
		t.Fatalf("after recovery the bucket holds %+v, %v; want one block of all 11 acknowledged spans", metas, err)
	}
	if n := gauge(t, reg2, "clew_store_upload_backlog_blocks"); n != 0 {
		t.Errorf("backlog after recovery = %v", n)
	}
	if s2.wal.Size() > 1<<10 {
		t.Errorf("WAL holds %d bytes after the upload; it should have been truncated", s2.wal.Size())
	}
	for _, tr := range []int{0, 9, 20} {
		if n := traceLen(t, s2, tr); n != 1 {
			t.Errorf("trace %d after recovery: %d spans, want 1", tr, n)
		}
	}
}

func TestWriteBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 5: 16 * time.Second, 7: time.Minute, 50: time.Minute} {
		if got := segment.Backoff(n); got < want || got > want+want/5 {
			t.Errorf("segment.Backoff(%d) = %s, want %s to %s", n, got, want, want+want/5)
		}
	}
}
