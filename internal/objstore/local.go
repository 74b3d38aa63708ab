package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Local is a Bucket in a directory of the local filesystem. Object names map
// to relative paths; "a/b" is the file b in directory a.
type Local struct {
	dir string
	// fs is what Put writes through: the OS, or in tests a file system
	// that records fsyncs or models a power loss.
	fs putFS
}

var _ Bucket = (*Local)(nil)

// NewLocal opens (creating if needed) a bucket rooted at dir.
func NewLocal(dir string) (*Local, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("objstore: create %s: %w", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("objstore: %w", err)
	}
	return &Local{dir: abs, fs: osPutFS{}}, nil
}

// Dir is the root directory.
func (l *Local) Dir() string { return l.dir }

func (l *Local) path(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	return filepath.Join(l.dir, filepath.FromSlash(name)), nil
}

func notExist(name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", name, ErrNotExist)
	}
	return err
}

// Put writes to a temporary file in the target directory, fsyncs it, renames
// it over the target and fsyncs the directory, so a crash leaves either the
// old object or the new one, never a torn file under the real name.
func (l *Local) Put(ctx context.Context, name string, r io.Reader) error {
	p, err := l.path(name)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := filepath.Dir(p)
	var f putFile
	// Directories this Put creates: their entries in their parents must be
	// made durable too, or a power loss can drop a whole new block
	// directory even though every file in it was fsynced.
	var created []string
	// A concurrent Delete may remove the (then empty) directory between
	// MkdirAll and CreateTemp; retrying a few times covers that race.
	for attempt := 0; ; attempt++ {
		for d := dir; d != l.dir && strings.HasPrefix(d, l.dir); d = filepath.Dir(d) {
			if _, err := l.fs.Stat(d); err == nil {
				break
			}
			created = append(created, d)
		}
		if err := l.fs.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("put %s: %w", name, err)
		}
		f, err = l.fs.CreateTemp(dir, ".tmp-*")
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt == 3 {
			return fmt.Errorf("put %s: %w", name, err)
		}
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = l.fs.Remove(tmp)
		}
	}()
	if _, err := io.Copy(f, ctxReader{ctx, r}); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("put %s: sync: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("put %s: close: %w", name, err)
	}
	if err := l.fs.Rename(tmp, p); err != nil {
		return fmt.Errorf("put %s: rename: %w", name, err)
	}
	ok = true
	if err := l.fs.SyncDir(dir); err != nil {
		return fmt.Errorf("put %s: sync dir: %w", name, err)
	}
	// Innermost first: each parent is synced after the entry it gains.
	for _, d := range created {
		if err := l.fs.SyncDir(filepath.Dir(d)); err != nil {
			return fmt.Errorf("put %s: sync dir: %w", name, err)
		}
	}
	return nil
}

// CollectTemp removes the temporary files that Puts cut short by a crash
// left behind (List never shows them, so nothing else would), and the
// directories that leaves empty. Call it only while no Put can be running,
// as the store does at start-up; it returns how many files it removed.
func (l *Local) CollectTemp(ctx context.Context) (int, error) {
	var tmps, dirs []string
	err := filepath.WalkDir(l.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		switch {
		case d.IsDir() && p != l.dir:
			dirs = append(dirs, p)
		case !d.IsDir() && strings.HasPrefix(d.Name(), ".tmp-"):
			tmps = append(tmps, p)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("collect temporary files: %w", err)
	}
	for _, p := range tmps {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("collect temporary files: %w", err)
		}
	}
	// Deepest first, so a parent emptied by its children goes too.
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i]) // fails on non-empty directories, which stay
	}
	return len(tmps), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ctxReader stops a long copy when the context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Get opens the object.
func (l *Local) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	p, err := l.path(name)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, notExist(name, err)
	}
	// A directory is only an artefact of a longer name, not an object.
	if fi, err := f.Stat(); err != nil || fi.IsDir() {
		_ = f.Close()
		return nil, fmt.Errorf("%s: %w", name, ErrNotExist)
	}
	return f, nil
}

// Open opens the object's file; its reads are preads.
func (l *Local) Open(ctx context.Context, name string) (Reader, error) {
	rc, err := l.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	f := rc.(*os.File)
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return &localReader{f: f, size: fi.Size()}, nil
}

type localReader struct {
	f    *os.File
	size int64
}

func (r *localReader) Size() int64  { return r.size }
func (r *localReader) Close() error { return r.f.Close() }

func (r *localReader) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	p, eof := clip(p, off, r.size)
	if len(p) == 0 {
		return 0, eof
	}
	n, err := r.f.ReadAt(p, off)
	if err == nil {
		err = eof
	}
	return n, err
}

// List walks the directory tree, skipping temporary files, and reports names
// in lexical order (WalkDir visits entries in lexical order; slash sorts
// before letters and digits, so the sort below keeps the object order exact).
func (l *Local) List(ctx context.Context, prefix string, fn func(name string) error) error {
	// Start at the deepest directory the prefix fully names, so listing one
	// block does not walk the whole bucket.
	start := l.dir
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = filepath.Join(l.dir, filepath.FromSlash(prefix[:i]))
	}
	var names []string
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // vanished under a concurrent Delete
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != start {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(l.dir, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list %q: %w", prefix, err)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := fn(n); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes the object and then any directories it leaves empty.
func (l *Local) Delete(ctx context.Context, name string) error {
	p, err := l.path(name)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	// Remove fails on non-empty directories, which is exactly the stop rule.
	for dir := filepath.Dir(p); dir != l.dir && strings.HasPrefix(dir, l.dir); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}
