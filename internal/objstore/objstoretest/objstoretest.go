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
	t.Run("Cancelled", func(t *testing.T) { testCancelled(t, newBucket(t)) })
	t.Run("Large", func(t *testing.T) { testLarge(t, newBucket(t)) })
	t.Run("Conditional", func(t *testing.T) {
		c, ok := objstore.AsConditional(newBucket(t))
		if !ok {
			return // not every backend coordinates nodes (the local directory does not)
		}
		testConditional(t, c)
	})
}

// testConditional checks the compare-and-swap that the compactor lease is
// built on: create-if-absent, replace-if-unchanged, and that of racing
// writers starting from one version exactly one wins.
func testConditional(t *testing.T, c objstore.Conditional) {
	ctx := context.Background()
	if _, _, err := c.GetVersion(ctx, "lease"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("GetVersion(missing) = %v, want ErrNotExist", err)
	}
	v1, err := c.PutIfVersion(ctx, "lease", []byte("one"), "")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := c.PutIfVersion(ctx, "lease", []byte("again"), ""); !errors.Is(err, objstore.ErrPrecondition) {
		t.Fatalf("create over an existing object = %v, want ErrPrecondition", err)
	}
	data, v, err := c.GetVersion(ctx, "lease")
	if err != nil || string(data) != "one" || v != v1 {
		t.Fatalf("GetVersion = %q, %q, %v; want \"one\", %q", data, v, err, v1)
	}
	v2, err := c.PutIfVersion(ctx, "lease", []byte("two"), v1)
	if err != nil {
		t.Fatalf("replace at the current version: %v", err)
	}
	if v2 == v1 {
		t.Fatalf("version did not change on replace: %q", v2)
	}
	if _, err := c.PutIfVersion(ctx, "lease", []byte("stale"), v1); !errors.Is(err, objstore.ErrPrecondition) {
		t.Fatalf("replace at a stale version = %v, want ErrPrecondition", err)
	}
	const racers = 4
	var wg sync.WaitGroup
	wins := make(chan string, racers)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.PutIfVersion(ctx, "lease", []byte(fmt.Sprint("racer", i)), v2); err == nil {
				wins <- fmt.Sprint("racer", i)
			} else if !errors.Is(err, objstore.ErrPrecondition) {
				t.Errorf("racer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	close(wins)
	var winners []string
	for w := range wins {
		winners = append(winners, w)
	}
	if len(winners) != 1 {
		t.Fatalf("%d racers replaced version %q, want exactly 1: %v", len(winners), v2, winners)
	}
	if data, _, _ := c.GetVersion(ctx, "lease"); string(data) != winners[0] {
		t.Fatalf("object holds %q, the winner wrote %q", data, winners[0])
	}
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
		r, err := b.Open(ctx, tc.name)
		if err != nil {
			t.Fatalf("Open(%q): %v", tc.name, err)
		}
		if r.Size() != int64(len(tc.data)) {
			t.Errorf("Open(%q).Size() = %d, want %d", tc.name, r.Size(), len(tc.data))
		}
		r.Close()
	}
}

func testMissing(t *testing.T, b objstore.Bucket) {
	ctx := context.Background()
	put(t, b, "dir/x", "1")
	for _, name := range []string{"nope", "dir/nope", "dir"} {
		if _, err := b.Get(ctx, name); !errors.Is(err, objstore.ErrNotExist) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Get(%q) err = %v, want ErrNotExist", name, err)
		}
		if _, err := b.Open(ctx, name); !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("Open(%q) err = %v, want ErrNotExist", name, err)
		}
	}
}

// testGetRange checks range reads: the io.ReaderAt contract (short reads
// only with io.EOF) on every backend.
func testGetRange(t *testing.T, b objstore.Bucket) {
	ctx := context.Background()
	put(t, b, "r", "0123456789")
	r, err := b.Open(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tests := []struct {
		off, length int64
		want        string
		eof         bool
	}{
		{0, 10, "0123456789", false},
		{0, 0, "", false},
		{3, 4, "3456", false},
		{9, 1, "9", false},
		{8, 100, "89", true}, // clipped
		{10, 5, "", true},    // at end
		{20, 5, "", true},    // past end
	}
	for _, tc := range tests {
		p := make([]byte, tc.length)
		n, err := r.ReadAt(ctx, p, tc.off)
		if string(p[:n]) != tc.want || (err == io.EOF) != tc.eof || (err != nil && err != io.EOF) {
			t.Errorf("ReadAt(%d, len %d) = %q, %v; want %q (EOF %v)", tc.off, tc.length, p[:n], err, tc.want, tc.eof)
		}
	}
	if _, err := r.ReadAt(ctx, make([]byte, 2), -1); err == nil || err == io.EOF {
		t.Errorf("ReadAt with negative offset: %v, want an error", err)
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
	r, err := b.Open(ctx, "ra")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ra := objstore.ReaderAt(ctx, r)
	p := make([]byte, 4)
	if n, err := ra.ReadAt(p, 1); n != 4 || err != nil || !bytes.Equal(p, []byte("bcde")) {
		t.Errorf("ReadAt(1) = %d %v %q", n, err, p)
	}
	if n, err := ra.ReadAt(p, 4); n != 2 || err != io.EOF {
		t.Errorf("ReadAt(4) = %d %v, want 2 EOF", n, err)
	}
	// Concurrent readers of one Reader each get their own range.
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := make([]byte, 1)
			if n, err := r.ReadAt(ctx, q, int64(i)); n != 1 || err != nil || q[0] != "abcdef"[i] {
				t.Errorf("concurrent ReadAt(%d) = %d %v %q", i, n, err, q)
			}
		}()
	}
	wg.Wait()
}

// testCancelled: a cancelled context stops every operation with an error
// that says so.
func testCancelled(t *testing.T, b objstore.Bucket) {
	put(t, b, "c/x", "data")
	r, err := b.Open(context.Background(), "c/x")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.ReadAt(ctx, make([]byte, 2), 0); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadAt with cancelled context: %v", err)
	}
	if _, err := b.Get(ctx, "c/x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with cancelled context: %v", err)
	}
	if _, err := b.Open(ctx, "c/x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with cancelled context: %v", err)
	}
	if err := b.List(ctx, "c/", func(string) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("List with cancelled context: %v", err)
	}
	if err := b.Delete(ctx, "c/x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete with cancelled context: %v", err)
	}
	if get(t, b, "c/x") != "data" {
		t.Error("object lost after cancelled Delete")
	}
}

// LargeSize is the size of the object testLarge writes: larger than the
// smallest multipart part size S3 allows (5 MiB) twice over, so a remote
// backend configured with 5 MiB parts uploads it in three parts.
const LargeSize = 11<<20 + 12345

// testLarge writes an object that a remote backend uploads in parts, from
// a reader of unknown length and from one of known length, and reads it
// back whole and in ranges across part boundaries.
func testLarge(t *testing.T, b objstore.Bucket) {
	ctx := context.Background()
	data := make([]byte, LargeSize)
	for i := range data {
		data[i] = byte(i*7 + i>>13)
	}
	for _, tc := range []struct {
		name string
		r    io.Reader
	}{
		{"large/stream", io.MultiReader(bytes.NewReader(data[:1000]), bytes.NewReader(data[1000:]))}, // length unknown
		{"large/sized", bytes.NewReader(data)},
	} {
		if err := b.Put(ctx, tc.name, tc.r); err != nil {
			t.Fatalf("Put(%s): %v", tc.name, err)
		}
		got, err := objstore.ReadAll(ctx, b, tc.name)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Get(%s) = %d bytes, %v; want %d equal bytes", tc.name, len(got), err, len(data))
		}
		r, err := b.Open(ctx, tc.name)
		if err != nil {
			t.Fatal(err)
		}
		for _, off := range []int64{0, 5<<20 - 10, 10<<20 - 1, LargeSize - 100} {
			p := make([]byte, 100)
			n, err := r.ReadAt(ctx, p, off)
			if n != 100 || (err != nil && err != io.EOF) || !bytes.Equal(p, data[off:off+100]) {
				t.Errorf("%s: ReadAt(%d) = %d, %v, equal %v", tc.name, off, n, err, bytes.Equal(p[:n], data[off:off+int64(n)]))
			}
		}
		r.Close()
	}
}
