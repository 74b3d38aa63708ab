package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// Bucket is a flat namespace of immutable objects.
type Bucket interface {
	// Put stores the whole of r under name, replacing any previous object.
	// It is atomic: readers see either the old object or the complete new one.
	Put(ctx context.Context, name string, r io.Reader) error
	// Get reads a whole object in one request; it suits small objects
	// (metas, indexes). A missing object gives an error matching ErrNotExist.
	Get(ctx context.Context, name string) (io.ReadCloser, error)
	// Open prepares the object for range reads and learns its size. A
	// missing object gives an error matching ErrNotExist. The context bounds
	// only Open itself; every read takes its own.
	Open(ctx context.Context, name string) (Reader, error)
	// List calls fn for every object whose name starts with prefix, in
	// lexical order. An error from fn stops the listing and is returned.
	List(ctx context.Context, prefix string, fn func(name string) error) error
	// Delete removes the object. Deleting a missing object is not an error,
	// as in S3, so that garbage collection can be retried blindly.
	Delete(ctx context.Context, name string) error
}

// Reader reads ranges of one object. It carries the object's size, so a
// reader never asks past the end, and takes the caller's context on every
// read, so a cancelled query stops its remote reads. It is safe for
// concurrent use.
type Reader interface {
	// ReadAt has the contract of io.ReaderAt: it reads len(p) bytes at off,
	// and fewer only with an error (io.EOF at the end of the object).
	ReadAt(ctx context.Context, p []byte, off int64) (int, error)
	// Size is the object's length in bytes.
	Size() int64
	// Close releases what Open took (a file descriptor for a local bucket).
	Close() error
}

// ErrNotExist is returned (wrapped) for missing objects. It matches
// fs.ErrNotExist with errors.Is.
var ErrNotExist = fmt.Errorf("object does not exist: %w", fs.ErrNotExist)

// ErrRead is wrapped by every error of a Reader from MarkReads: the backend
// failed to deliver an object's bytes (a disk error, an S3 outage), as
// against bytes that arrived but do not decode. A caller retries the first
// and treats the second as damage.
var ErrRead = errors.New("object read failed")

// MarkReads returns r with every failed read's error (other than io.EOF,
// which ends an object) wrapping ErrRead.
func MarkReads(r Reader) Reader { return markedReader{r} }

type markedReader struct{ Reader }

func (m markedReader) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	n, err := m.Reader.ReadAt(ctx, p, off)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %w", ErrRead, err)
	}
	return n, err
}

// ErrInvalidName is returned for names that are not clean relative paths.
var ErrInvalidName = errors.New("invalid object name")

// ValidName reports whether name is acceptable to every backend: non-empty,
// slash-separated, no empty, "." or ".." segments, no segment starting with
// "." (reserved for temporary files), no backslash or NUL.
func ValidName(name string) bool {
	if name == "" || len(name) > 1024 || strings.ContainsAny(name, "\\\x00") {
		return false
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg[0] == '.' {
			return false
		}
	}
	return true
}

func checkName(name string) error {
	if !ValidName(name) {
		return fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	return nil
}

// ReadAll is a convenience: Get plus io.ReadAll.
func ReadAll(ctx context.Context, b Bucket, name string) ([]byte, error) {
	rc, err := b.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return data, nil
}

// ReaderAt binds a context to r, giving the io.ReaderAt that formats such
// as Parquet expect. Every read through it is bounded by ctx.
func ReaderAt(ctx context.Context, r Reader) io.ReaderAt {
	return boundReader{ctx: ctx, r: r}
}

type boundReader struct {
	ctx context.Context
	r   Reader
}

func (b boundReader) ReadAt(p []byte, off int64) (int, error) { return b.r.ReadAt(b.ctx, p, off) }

// clip turns a read of len(p) bytes at off into the part inside an object of
// size bytes, and the error to return with it: io.EOF when the read reaches
// past the end. Every Reader uses it, so every backend ends reads alike.
func clip(p []byte, off, size int64) ([]byte, error) {
	if off < 0 {
		return nil, fmt.Errorf("read at negative offset %d", off)
	}
	if off >= size {
		return p[:0], io.EOF
	}
	if rest := size - off; int64(len(p)) > rest {
		return p[:rest], io.EOF
	}
	return p, nil
}
