// Package objstoretest holds the conformance test every objstore.Bucket
// implementation must pass, so the local directory and remote buckets behave
// the same to the block layer.
package objstoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"testing"

	"github.com/clewtrace/clew/internal/objstore"
)

// Run exercises a Bucket. newBucket must return an empty bucket each call.
func Run(t *testing.T, newBucket func(t *testing.T) objstore.Bucket) {
	t.Helper()
	t.Run("PutGet", func(t *testing.T) { testPutGet(t, newBucket(t)) })
	t.Run("Missing", func(t *testing.T) { testMissing(t, newBucket(t)) })
	t.Run("GetRange", func(t *testing.T) { testGetRange(t, newBucket(t)) })
	t.Run("List", func(t *testing.T) { testList(t, newBucket(t)) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, newBucket(t)) })
	t.Run("InvalidNames", func(t *testing.T) { testInvalid(t, newBucket(t)) })
	t.Run("FailedPutLeavesNothing", func(t *testing.T) { testFailedPut(t, newBucket(t)) })
	t.Run("ConcurrentReadersSeeWholeObjects", func(t *testing.T) { testAtomic(t, newBucket(t)) })
	t.Run("ReaderAt", func(t *testing.T) { testReaderAt(t, newBucket(t)) })
}

func put(t *testing.T, b objstore.Bucket, name, data string) {
	t.Helper()
	if err := b.Put(context.Background(), name, strings.NewReader(data)); err != nil {
		t.Fatalf("Put(%q): %v", name, err)
	}
}

func get(t *testing.T, b objstore.Bucket, name string) string {
	t.Helper()
	data, err := objstore.ReadAll(context.Background(), b, name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	return string(data)
}

func testPutGet(t *testing.T, b objstore.Bucket) {
	ctx := context.Background()
	tests := []struct{ name, data string }{
		{"a", "hello"},
		{"empty", ""},
		{"dir/sub/obj.bin", strings.Repeat("x", 1<<20+7)},
		{"a", "replaced"}, // overwrite
	}
	for _, tc := range tests {
		put(t, b, tc.name, tc.data)
		if got := get(t, b, tc.name); got != tc.data {
			t.Errorf("Get(%q) = %d bytes, want %d", tc.name, len(got), len(tc.data))
		}
		size, err := b.Size(ctx, tc.name)
		if err != nil || size != int64(len(tc.data)) {
			t.Errorf("Size(%q) = %d, %v; want %d", tc.name, size, err, len(tc.data))
		}
	}
}

func testMissing(t *testing.T, b objstore.Bucket) {
	ctx := context.Background()
	put(t, b, "dir/x", "1")
	for _, name := range []string{"nope", "dir/nope", "dir"} {
		if _, err := b.Get(ctx, name); !errors.Is(err, objstore.ErrNotExist) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Get(%q) err = %v, want ErrNotExist", name, err)
		}
		if _, err := b.GetRange(ctx, name, 0, 1); !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("GetRange(%q) err = %v, want ErrNotExist", name, err)
		}
		if _, err := b.Size(ctx, name); !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("Size(%q) err = %v, want ErrNotExist", name, err)
		}
	}
}

func testGetRange(t *testing.T, b objstore.Bucket) {
	ctx := context.Background()
	put(t, b, "r", "0123456789")
	tests := []struct {
		off, length int64
		want        string
	}{
		{0, 10, "0123456789"},
		{0, 0, ""},
		{3, 4, "3456"},
		{8, 100, "89"}, // clipped
		{10, 5, ""},    // at end
		{20, 5, ""},    // past end
	}
	for _, tc := range tests {
		rc, err := b.GetRange(ctx, "r", tc.off, tc.length)
		if err != nil {
			t.Errorf("GetRange(%d,%d): %v", tc.off, tc.length, err)
			continue
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != tc.want {
			t.Errorf("GetRange(%d,%d) = %q, %v; want %q", tc.off, tc.length, got, err, tc.want)
		}
	}
	if _, err := b.GetRange(ctx, "r", -1, 2); err == nil {
		t.Error("GetRange with negative offset: no error")
	}
}

func testList(t *testing.T, b objstore.Bucket) {
	ctx := context.Background()
	names := []string{"b/2", "a/1", "a/2", "a/sub/3", "ab", "c"}
	for _, n := range names {
		put(t, b, n, n)
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a/1", "a/2", "a/sub/3", "ab", "b/2", "c"}},
		{"a", []string{"a/1", "a/2", "a/sub/3", "ab"}},
		{"a/", []string{"a/1", "a/2", "a/sub/3"}},
		{"a/sub/", []string{"a/sub/3"}},
		{"zzz/", nil},
		{"b/2", []string{"b/2"}},
	}
	for _, tc := range tests {
		var got []string
		if err := b.List(ctx, tc.prefix, func(n string) error { got = append(got, n); return nil }); err != nil {
			t.Fatalf("List(%q): %v", tc.prefix, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("List(%q) = %v, want %v", tc.prefix, got, tc.want)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := b.List(ctx, "", func(string) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("List stop: err=%v calls=%d", err, n)
	}
}

func testDelete(t *testing.T, b objstore.Bucket) {
	ctx := context.Background()
	put(t, b, "d/x", "1")
	put(t, b, "d/y", "2")
	if err := b.Delete(ctx, "d/x"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "d/x"); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("after Delete: %v", err)
	}
	if get(t, b, "d/y") != "2" {
		t.Error("sibling lost")
	}
	if err := b.Delete(ctx, "d/x"); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if err := b.Delete(ctx, "d/y"); err != nil {
		t.Fatal(err)
	}
	put(t, b, "d/z", "3") // directory may have been cleaned up; Put must recreate it
	if get(t, b, "d/z") != "3" {
		t.Error("Put after emptying prefix failed")
	}
}

func testInvalid(t *testing.T, b objstore.Bucket) {
	ctx := context.Background()
	for _, name := range []string{"", "/abs", "a//b", "../escape", "a/../b", "a/.", ".hidden", "a\\b", "trail/"} {
		if err := b.Put(ctx, name, strings.NewReader("x")); err == nil {
			t.Errorf("Put(%q) accepted", name)
		}
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("boom")
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

func testFailedPut(t *testing.T, b objstore.Bucket) {
	ctx := context.Background()
	put(t, b, "keep", "old")
	if err := b.Put(ctx, "keep", &failingReader{n: 100}); err == nil {
		t.Fatal("Put with failing reader succeeded")
	}
	if err := b.Put(ctx, "new", &failingReader{n: 100}); err == nil {
		t.Fatal("Put with failing reader succeeded")
	}
	if got := get(t, b, "keep"); got != "old" {
		t.Errorf("old object = %q after failed overwrite", got)
	}
	var names []string
	_ = b.List(ctx, "", func(n string) error { names = append(names, n); return nil })
	if fmt.Sprint(names) != "[keep]" {
		t.Errorf("List after failed Put = %v, want [keep]", names)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Put(cctx, "cancelled", strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with cancelled context: %v", err)
	}
}

// testAtomic overwrites an object while readers read it; every read must
// see one complete version.
func testAtomic(t *testing.T, b objstore.Bucket) {
	ctx := context.Background()
	versions := []string{strings.Repeat("a", 256<<10), strings.Repeat("b", 256<<10)}
	put(t, b, "obj", versions[0])
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := range 20 {
			if err := b.Put(ctx, "obj", strings.NewReader(versions[i%2])); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				data, err := objstore.ReadAll(ctx, b, "obj")
				if err != nil {
					t.Error(err)
					return
				}
				if string(data) != versions[0] && string(data) != versions[1] {
					t.Errorf("torn read: %d bytes", len(data))
					return
				}
			}
		}()
	}
	wg.Wait()
}

func testReaderAt(t *testing.T, b objstore.Bucket) {
	ctx := context.Background()
	put(t, b, "ra", "abcdef")
	r, err := objstore.NewReaderAt(ctx, b, "ra")
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 4)
	if n, err := r.ReadAt(p, 1); n != 4 || err != nil || !bytes.Equal(p, []byte("bcde")) {
		t.Errorf("ReadAt(1) = %d %v %q", n, err, p)
	}
	if n, err := r.ReadAt(p, 4); n != 2 || err != io.EOF {
		t.Errorf("ReadAt(4) = %d %v, want 2 EOF", n, err)
	}
}
