package objstore

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Issue 16, item 6: the directory a Put creates must be made durable in its
// parent (blocks/), after the file inside it, or a power loss can drop a
// whole block whose files were all fsynced — after the WAL was truncated.
func TestPutSyncsTheParentOfANewDirectory(t *testing.T) {
	l, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var synced []string
	l.fs = recordSyncs{putFS: osPutFS{}, synced: &synced}
	ctx := context.Background()
	blockDir := filepath.Join(l.dir, "blk")

	if err := l.Put(ctx, "blk/data.parquet", strings.NewReader("data")); err != nil {
		t.Fatal(err)
	}
	if want := []string{blockDir, l.dir}; !slices.Equal(synced, want) {
		t.Fatalf("first Put into a new directory synced %v, want %v (file's dir, then its parent)", synced, want)
	}
	synced = nil
	if err := l.Put(ctx, "blk/index", strings.NewReader("index")); err != nil {
		t.Fatal(err)
	}
	if want := []string{blockDir}; !slices.Equal(synced, want) {
		t.Fatalf("Put into an existing directory synced %v, want %v", synced, want)
	}
	synced = nil
	if err := l.Put(ctx, "a/b/c", strings.NewReader("deep")); err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(l.dir, "a", "b"), filepath.Join(l.dir, "a"), l.dir}; !slices.Equal(synced, want) {
		t.Fatalf("Put creating two directories synced %v, want %v", synced, want)
	}
}

// recordSyncs notes every directory fsync, in order.
type recordSyncs struct {
	putFS
	synced *[]string
}

func (r recordSyncs) SyncDir(dir string) error {
	*r.synced = append(*r.synced, dir)
	return r.putFS.SyncDir(dir)
}

// Issue 16, item 5: temporary files left by a Put that a crash cut short
// were never collected, since List does not show them.
func TestCollectTempRemovesOrphans(t *testing.T) {
	l, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := l.Put(ctx, "blk/data.parquet", strings.NewReader("data")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"blk/.tmp-123", "orphan/.tmp-456", "deep/er/.tmp-789"} {
		full := filepath.Join(l.dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("torn"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n, err := l.CollectTemp(ctx)
	if err != nil || n != 3 {
		t.Fatalf("CollectTemp = %d, %v; want 3 files", n, err)
	}
	var left []string
	if err := filepath.WalkDir(l.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(l.dir, p)
		left = append(left, filepath.ToSlash(rel))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{".", "blk", "blk/data.parquet"}; !slices.Equal(left, want) {
		t.Fatalf("left %v, want %v", left, want)
	}
}
