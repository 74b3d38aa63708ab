package objstore

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// crashFS is a putFS that models what survives a power loss, in the
// strict way Pebble's vfs.NewStrictMem does: a file's bytes survive only up
// to its last fsync, and an entry of a directory (a file created, renamed
// or removed, a subdirectory made) only once that directory was fsynced
// after the change. It passes every call through to the real file system,
// so the Local under test works normally, and keeps its own model of the
// durable state beside it; Crash writes that durable state into a fresh
// directory, which is what the machine would find after rebooting.
type crashFS struct {
	osPutFS
	root string

	mu       sync.Mutex
	inodes   []*crashInode
	live     map[string]map[string]int // dir → entry name → inode (-1: directory)
	durable  map[string]map[string]int
	pending  map[string][]func(map[string]int) // dir → changes not yet made durable
	fileNode map[string]int                    // open temp file path → inode
}

type crashInode struct{ written, synced []byte }

const crashDir = -1

func newCrashFS(root string) *crashFS {
	return &crashFS{
		root:     root,
		live:     map[string]map[string]int{root: {}},
		durable:  map[string]map[string]int{root: {}},
		pending:  map[string][]func(map[string]int){},
		fileNode: map[string]int{},
	}
}

// change applies fn to dir's live entries now and to its durable entries at
// dir's next SyncDir.
func (c *crashFS) change(dir string, fn func(map[string]int)) {
	if c.live[dir] == nil {
		c.live[dir] = map[string]int{}
	}
	fn(c.live[dir])
	c.pending[dir] = append(c.pending[dir], fn)
}

func (c *crashFS) MkdirAll(path string, perm fs.FileMode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var missing []string
	for d := path; d != c.root && strings.HasPrefix(d, c.root); d = filepath.Dir(d) {
		if _, ok := c.live[filepath.Dir(d)][filepath.Base(d)]; ok {
			break
		}
		missing = append(missing, d)
	}
	if err := c.osPutFS.MkdirAll(path, perm); err != nil {
		return err
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		name := filepath.Base(d)
		c.change(filepath.Dir(d), func(e map[string]int) { e[name] = crashDir })
		c.live[d] = map[string]int{}
		if c.durable[d] == nil {
			c.durable[d] = map[string]int{}
		}
	}
	return nil
}

func (c *crashFS) CreateTemp(dir, pattern string) (putFile, error) {
	f, err := c.osPutFS.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ino := len(c.inodes)
	c.inodes = append(c.inodes, &crashInode{})
	name := filepath.Base(f.Name())
	c.change(dir, func(e map[string]int) { e[name] = ino })
	return &crashFile{putFile: f, fs: c, ino: ino}, nil
}

func (c *crashFS) Rename(oldpath, newpath string) error {
	if err := c.osPutFS.Rename(oldpath, newpath); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	dir, oldName, newName := filepath.Dir(oldpath), filepath.Base(oldpath), filepath.Base(newpath)
	if filepath.Dir(newpath) != dir {
		return errors.New("crashFS: rename across directories is not modelled")
	}
	c.change(dir, func(e map[string]int) {
		if ino, ok := e[oldName]; ok {
			e[newName] = ino
			delete(e, oldName)
		}
	})
	return nil
}

func (c *crashFS) Remove(name string) error {
	if err := c.osPutFS.Remove(name); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	base := filepath.Base(name)
	c.change(filepath.Dir(name), func(e map[string]int) { delete(e, base) })
	return nil
}

func (c *crashFS) SyncDir(dir string) error {
	if err := c.osPutFS.SyncDir(dir); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.durable[dir] == nil {
		c.durable[dir] = map[string]int{}
	}
	for _, fn := range c.pending[dir] {
		fn(c.durable[dir])
	}
	delete(c.pending, dir)
	return nil
}

// Crash writes what a power loss would leave of root into dir: only durable
// entries, reached through durable entries from root, each file with the
// bytes of its last fsync.
func (c *crashFS) Crash(t *testing.T, dir string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var copyDir func(from, to string)
	copyDir = func(from, to string) {
		for name, ino := range c.durable[from] {
			if ino == crashDir {
				if err := os.Mkdir(filepath.Join(to, name), 0o755); err != nil {
					t.Fatal(err)
				}
				copyDir(filepath.Join(from, name), filepath.Join(to, name))
				continue
			}
			if err := os.WriteFile(filepath.Join(to, name), c.inodes[ino].synced, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	copyDir(c.root, dir)
}

type crashFile struct {
	putFile
	fs  *crashFS
	ino int
}

func (f *crashFile) Write(p []byte) (int, error) {
	n, err := f.putFile.Write(p)
	f.fs.mu.Lock()
	f.fs.inodes[f.ino].written = append(f.fs.inodes[f.ino].written, p[:n]...)
	f.fs.mu.Unlock()
	return n, err
}

func (f *crashFile) Sync() error {
	if err := f.putFile.Sync(); err != nil {
		return err
	}
	f.fs.mu.Lock()
	in := f.fs.inodes[f.ino]
	in.synced = bytes.Clone(in.written)
	f.fs.mu.Unlock()
	return nil
}

// The model itself: what was not fsynced is lost, what was is kept.
func TestCrashFSDropsWhatWasNotSynced(t *testing.T) {
	root := t.TempDir()
	c := newCrashFS(root)
	blk := filepath.Join(root, "blk")
	if err := c.MkdirAll(blk, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := c.CreateTemp(blk, ".tmp-*")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte("synced"))
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte(" and not"))
	_ = f.Close()
	if err := c.Rename(f.Name(), filepath.Join(blk, "obj")); err != nil {
		t.Fatal(err)
	}
	after := func(step string) string {
		out := t.TempDir()
		c.Crash(t, out)
		data, err := os.ReadFile(filepath.Join(out, "blk", "obj"))
		if err != nil {
			return "(" + step + ": no file)"
		}
		return string(data)
	}
	if got := after("no directory synced"); got != "(no directory synced: no file)" {
		t.Errorf("nothing synced but the file: after a crash blk/obj holds %q", got)
	}
	if err := c.SyncDir(blk); err != nil {
		t.Fatal(err)
	}
	if got := after("blk synced, root not"); got != "(blk synced, root not: no file)" {
		t.Errorf("blk's entry in root was never synced, yet blk/obj survives with %q", got)
	}
	if err := c.SyncDir(root); err != nil {
		t.Fatal(err)
	}
	if got := after("both synced"); got != "synced" {
		t.Errorf("after syncing the file, blk and root, blk/obj holds %q, want the synced bytes only", got)
	}
}

// Issue 16, item 6: every object Put acknowledged survives a power loss,
// block directories included — run under the strict model above.
func TestPutSurvivesPowerLoss(t *testing.T) {
	root := t.TempDir()
	l, err := NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	c := newCrashFS(l.dir)
	l.fs = c
	ctx := context.Background()
	objects := map[string]string{
		"01KBLOCK0000000000000000AA/data.parquet": strings.Repeat("rows ", 1000),
		"01KBLOCK0000000000000000AA/index.bin":    "index",
		"01KBLOCK0000000000000000AA/meta.json":    `{"id":"01KBLOCK0000000000000000AA"}`,
		"minutes/spanmetrics/20261201T0400Z.n1":   "minute",
	}
	for _, name := range []string{"01KBLOCK0000000000000000AA/data.parquet", "01KBLOCK0000000000000000AA/index.bin",
		"01KBLOCK0000000000000000AA/meta.json", "minutes/spanmetrics/20261201T0400Z.n1"} {
		if err := l.Put(ctx, name, strings.NewReader(objects[name])); err != nil {
			t.Fatal(err)
		}
	}
	// An object replaced: the crash must leave the new bytes, not the old.
	objects["01KBLOCK0000000000000000AA/index.bin"] = "index v2"
	if err := l.Put(ctx, "01KBLOCK0000000000000000AA/index.bin", strings.NewReader("index v2")); err != nil {
		t.Fatal(err)
	}

	after := t.TempDir()
	c.Crash(t, after)
	rebooted, err := NewLocal(after)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range objects {
		got, err := ReadAll(ctx, rebooted, name)
		if err != nil || string(got) != want {
			t.Errorf("after a power loss %s = %.40q, %v; want the %d bytes Put acknowledged", name, got, err, len(want))
		}
	}
	var names []string
	if err := rebooted.List(ctx, "", func(n string) error { names = append(names, n); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(names) != len(objects) {
		t.Errorf("after a power loss the bucket lists %v, want exactly the %d objects Put", names, len(objects))
	}
}
