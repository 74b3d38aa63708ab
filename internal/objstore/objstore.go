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
	// Get opens the object for reading. A missing object gives an error
	// matching ErrNotExist.
	Get(ctx context.Context, name string) (io.ReadCloser, error)
	// GetRange reads length bytes from offset off. The range is clipped at
	// the end of the object; an offset past the end gives an empty reader.
	GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error)
	// Size is the object's length in bytes.
	Size(ctx context.Context, name string) (int64, error)
	// List calls fn for every object whose name starts with prefix, in
	// lexical order. An error from fn stops the listing and is returned.
	List(ctx context.Context, prefix string, fn func(name string) error) error
	// Delete removes the object. Deleting a missing object is not an error,
	// as in S3, so that garbage collection can be retried blindly.
	Delete(ctx context.Context, name string) error
}

// ErrNotExist is returned (wrapped) for missing objects. It matches
// fs.ErrNotExist with errors.Is.
var ErrNotExist = fmt.Errorf("object does not exist: %w", fs.ErrNotExist)

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

// ReaderAt adapts an object to io.ReaderAt using GetRange, so that formats
// that read footers and column chunks (Parquet) work on any Bucket.
type ReaderAt struct {
	ctx  context.Context
	b    Bucket
	name string
	size int64
}

// NewReaderAt returns a ReaderAt over the object, and its size. The context
// bounds every later ReadAt.
func NewReaderAt(ctx context.Context, b Bucket, name string) (*ReaderAt, error) {
	size, err := b.Size(ctx, name)
	if err != nil {
		return nil, err
	}
	return &ReaderAt{ctx: ctx, b: b, name: name, size: size}, nil
}

// Size is the object's size.
func (r *ReaderAt) Size() int64 { return r.size }

// ReadAt implements io.ReaderAt.
func (r *ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	rc, err := r.b.GetRange(r.ctx, r.name, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return n, err
}
