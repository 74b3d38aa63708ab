package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/clewtrace/clew/internal/objstore"
)

// A marked reader's failed reads wrap ErrRead (and still the cause); the
// end of the object stays io.EOF itself, as io.ReaderAt callers compare it.
func TestMarkReadsTellsFailedReadsApart(t *testing.T) {
	ctx := context.Background()
	b, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "obj", bytes.NewReader([]byte("0123456789"))); err != nil {
		t.Fatal(err)
	}
	raw, err := b.Open(ctx, "obj")
	if err != nil {
		t.Fatal(err)
	}
	r := objstore.MarkReads(raw)
	buf := make([]byte, 4)
	if n, err := r.ReadAt(ctx, buf, 2); n != 4 || err != nil || string(buf) != "2345" {
		t.Fatalf("read: %d %q %v", n, buf, err)
	}
	if n, err := r.ReadAt(ctx, buf, 8); n != 2 || err != io.EOF {
		t.Fatalf("read at the end: %d, %v; want 2, io.EOF itself", n, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.ReadAt(cancelled, buf, 0); !errors.Is(err, objstore.ErrRead) || !errors.Is(err, context.Canceled) {
		t.Fatalf("read with a cancelled context: %v; want ErrRead wrapping context.Canceled", err)
	}
	_ = raw.Close()
	if _, err := r.ReadAt(ctx, buf, 0); !errors.Is(err, objstore.ErrRead) {
		t.Fatalf("read of a closed object: %v; want ErrRead", err)
	}
}
