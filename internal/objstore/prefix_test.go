package objstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/objstore/objstoretest"
)

func TestPrefixedConformance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket {
		b, err := objstore.WithPrefix(objstore.NewMemory(), "logs")
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// Objects outside the prefix are invisible through it, and objects put
// through it land below the prefix in the underlying bucket.
func TestPrefixedIsolation(t *testing.T) {
	ctx := context.Background()
	under := objstore.NewMemory()
	p, err := objstore.WithPrefix(under, "logs/")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a/meta.json", "logsx/b", "log"} {
		if err := under.Put(ctx, n, strings.NewReader("outside")); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Put(ctx, "a/meta.json", strings.NewReader("inside")); err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := p.List(ctx, "", func(n string) error { names = append(names, n); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != "a/meta.json" {
		t.Fatalf("listed %q through the prefix, want only a/meta.json", names)
	}
	got, err := objstore.ReadAll(ctx, under, "logs/a/meta.json")
	if err != nil || string(got) != "inside" {
		t.Fatalf("underlying logs/a/meta.json = %q, %v", got, err)
	}
	if got, _ := objstore.ReadAll(ctx, p, "a/meta.json"); string(got) != "inside" {
		t.Fatalf("through the prefix a/meta.json = %q", got)
	}
	if err := p.Delete(ctx, "a/meta.json"); err != nil {
		t.Fatal(err)
	}
	if got, _ := objstore.ReadAll(ctx, under, "a/meta.json"); string(got) != "outside" {
		t.Fatal("a delete through the prefix touched an object outside it")
	}
	if _, err := objstore.WithPrefix(under, "../x"); !errors.Is(err, objstore.ErrInvalidName) {
		t.Fatalf("WithPrefix(../x) = %v, want ErrInvalidName", err)
	}
	if _, err := p.Get(ctx, "../a/meta.json"); !errors.Is(err, objstore.ErrInvalidName) {
		t.Fatalf("Get(../a/meta.json) = %v, want ErrInvalidName", err)
	}
}
