package objstore

import (
	"context"
	"errors"
)

// Conditional is implemented by buckets that can replace an object only if
// nobody changed it since it was read: S3's conditional writes (If-Match /
// If-None-Match on PUT, which AWS S3, MinIO and versitygw support). It is
// what several nodes sharing a bucket coordinate through (the compactor
// lease); nothing else needs it.
type Conditional interface {
	// GetVersion reads a whole (small) object and its version (the ETag).
	// A missing object gives an error matching ErrNotExist.
	GetVersion(ctx context.Context, name string) (data []byte, version string, err error)
	// PutIfVersion stores data under name only if the object's current
	// version is version, or, with version "", only if there is no object.
	// Otherwise it fails with an error matching ErrPrecondition. It returns
	// the new version.
	PutIfVersion(ctx context.Context, name string, data []byte, version string) (string, error)
}

// ErrPrecondition is returned (wrapped) by PutIfVersion when the object
// changed (or appeared) since the version the caller read.
var ErrPrecondition = errors.New("object changed since it was read")

// unwrapper is implemented by buckets that wrap another (Counting, Cache).
type unwrapper interface{ Unwrap() Bucket }

// AsConditional finds the Conditional bucket under b's wrappers, if any.
func AsConditional(b Bucket) (Conditional, bool) {
	for b != nil {
		if c, ok := b.(Conditional); ok {
			return c, true
		}
		u, ok := b.(unwrapper)
		if !ok {
			return nil, false
		}
		b = u.Unwrap()
	}
	return nil, false
}
