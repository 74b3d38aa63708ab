package objstore_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/objstore/objstoretest"
)

func TestCacheConformance(t *testing.T) {
	t.Run("Memory", func(t *testing.T) {
		objstoretest.Run(t, func(t *testing.T) objstore.Bucket {
			c, err := objstore.NewCache(objstore.NewMemory(), objstore.CacheOptions{ChunkSize: 4 << 10, MemoryBytes: 64 << 10})
			if err != nil {
				t.Fatal(err)
			}
			return c
		})
	})
	t.Run("Disk", func(t *testing.T) {
		objstoretest.Run(t, func(t *testing.T) objstore.Bucket {
			c, err := objstore.NewCache(objstore.NewMemory(), objstore.CacheOptions{ChunkSize: 4 << 10, MemoryBytes: 8 << 10, Dir: t.TempDir(), DirBytes: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			return c
		})
	})
}

func pattern(n int) []byte {
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i*31 + i>>8)
	}
	return data
}

func setup(t *testing.T, o objstore.CacheOptions) (*objstore.Cache, *objstore.Counting, []byte) {
	t.Helper()
	counting := objstore.NewCounting(objstore.NewMemory())
	data := pattern(10 << 10)
	if err := counting.Put(context.Background(), "blk/data", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	c, err := objstore.NewCache(counting, o)
	if err != nil {
		t.Fatal(err)
	}
	return c, counting, data
}

func readAt(t *testing.T, r objstore.Reader, data []byte, off, n int) {
	t.Helper()
	p := make([]byte, n)
	got, err := r.ReadAt(context.Background(), p, int64(off))
	if got != n || (err != nil && off+n < len(data)) || !bytes.Equal(p, data[off:off+n]) {
		t.Fatalf("ReadAt(%d, %d) = %d, %v, equal %v", off, n, got, err, bytes.Equal(p[:got], data[off:off+got]))
	}
}

// Many small reads become one fetch per run of missing chunks, and a
// second pass is served from memory without any request.
func TestCacheCoalescesAndHits(t *testing.T) {
	ctx := context.Background()
	c, counting, data := setup(t, objstore.CacheOptions{ChunkSize: 1 << 10, MemoryBytes: 1 << 20})
	r, err := c.Open(ctx, "blk/data")
	if err != nil {
		t.Fatal(err)
	}
	readAt(t, r, data, 100, 3000) // chunks 0-3, missing: one fetch
	if got := counting.Counts().RangeRead; got != 1 {
		t.Errorf("first read: %d range requests, want 1", got)
	}
	for off := 0; off < 3000; off += 100 { // a Parquet reader's small reads
		readAt(t, r, data, off, 100)
	}
	if got := counting.Counts().RangeRead; got != 1 {
		t.Errorf("re-reads: %d range requests, want still 1", got)
	}
	readAt(t, r, data, 2000, 4000) // chunks 1-5: 1-3 cached, 4-5 one fetch
	if got := counting.Counts().RangeRead; got != 2 {
		t.Errorf("overlapping read: %d range requests, want 2", got)
	}
	readAt(t, r, data, 10<<10-10, 10) // last, short chunk
	st := c.Stats()
	if st.Fetches != 3 || st.Misses != 7 || st.MemoryHits == 0 {
		t.Errorf("stats = %+v", st)
	}
}

// The memory cache never holds more than its bound.
func TestCacheMemoryBound(t *testing.T) {
	ctx := context.Background()
	c, counting, data := setup(t, objstore.CacheOptions{ChunkSize: 1 << 10, MemoryBytes: 3 << 10})
	r, _ := c.Open(ctx, "blk/data")
	for off := 0; off < len(data); off += 1 << 10 {
		readAt(t, r, data, off, 1<<10)
		if st := c.Stats(); st.MemoryBytes > 3<<10 {
			t.Fatalf("memory cache holds %d bytes, bound 3 KiB", st.MemoryBytes)
		}
	}
	before := counting.Counts().RangeRead
	readAt(t, r, data, 0, 1<<10) // evicted long ago
	if counting.Counts().RangeRead != before+1 {
		t.Error("evicted chunk served without a fetch")
	}
}

// The disk cache serves after a restart, stays under its bound, and drops
// a damaged file instead of serving it.
func TestDiskCache(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	opts := objstore.CacheOptions{ChunkSize: 1 << 10, MemoryBytes: 1 << 10, Dir: dir, DirBytes: 6 << 10}
	c, counting, data := setup(t, opts)
	r, _ := c.Open(ctx, "blk/data")
	readAt(t, r, data, 0, 4<<10)
	if got := counting.Counts().RangeRead; got != 1 {
		t.Fatalf("%d range requests, want 1", got)
	}

	// A new Cache over the same directory: a restarted node.
	c2, err := objstore.NewCache(counting, opts)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := c2.Open(ctx, "blk/data")
	readAt(t, r2, data, 0, 4<<10)
	if got := counting.Counts().RangeRead; got != 1 {
		t.Errorf("after restart: %d range requests, want 1 (served from disk)", got)
	}
	if st := c2.Stats(); st.DiskHits != 4 {
		t.Errorf("stats after restart = %+v, want 4 disk hits", st)
	}

	// Damage every file: the next reads must fetch, not serve garbage.
	files, _ := filepath.Glob(filepath.Join(dir, "*.chunk"))
	if len(files) == 0 {
		t.Fatal("no chunk files on disk")
	}
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		raw[len(raw)/2] ^= 0xff
		if err := os.WriteFile(f, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c3, err := objstore.NewCache(counting, opts)
	if err != nil {
		t.Fatal(err)
	}
	r3, _ := c3.Open(ctx, "blk/data")
	readAt(t, r3, data, 0, 10<<10) // all ten chunks: more than the 6 KiB bound
	// Chunks 0-3 were on disk: each fails its check and is fetched again,
	// 0-2 one by one, 3 in one run with 4-9, which were never cached.
	if got := counting.Counts().RangeRead; got != 1+4 {
		t.Errorf("after damage: %d range requests in all, want 5", got)
	}
	var total int64
	files, _ = filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		fi, _ := os.Stat(f)
		total += fi.Size()
	}
	if total > 6<<10 {
		t.Errorf("disk cache holds %d bytes, bound 6 KiB", total)
	}
}

// A Put or Delete through the cache drops what it held of the object.
func TestCacheForgetsReplacedObjects(t *testing.T) {
	ctx := context.Background()
	c, _, data := setup(t, objstore.CacheOptions{ChunkSize: 1 << 10, Dir: t.TempDir()})
	r, _ := c.Open(ctx, "blk/data")
	readAt(t, r, data, 0, len(data))
	replaced := bytes.Repeat([]byte("z"), len(data))
	if err := c.Put(ctx, "blk/data", bytes.NewReader(replaced)); err != nil {
		t.Fatal(err)
	}
	r2, _ := c.Open(ctx, "blk/data")
	p := make([]byte, 10)
	if _, err := r2.ReadAt(ctx, p, 0); err != nil || strings.Trim(string(p), "z") != "" {
		t.Errorf("read after replace = %q, %v", p, err)
	}
}
