package segment

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/clewtrace/clew/internal/objstore"
)

// MetaName is the object a block is committed by: written last, deleted
// first. A block without it is incomplete.
const MetaName = "meta.json"

const idAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewID returns a new block ID: a ULID (48 bits of milliseconds, 80 random
// bits, Crockford base32), so IDs sort by creation time. Span and log
// blocks both use them.
func NewID(now time.Time) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails (Go 1.24+)
	var out [26]byte
	var hi, lo uint64
	for i := range 8 {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	for i := 25; i >= 0; i-- {
		out[i] = idAlphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// IDTime returns the creation time encoded in an ID, or false if id is not
// one NewID makes.
func IDTime(id string) (time.Time, bool) {
	if len(id) != 26 {
		return time.Time{}, false
	}
	var ms uint64
	for i := range 26 {
		d := strings.IndexByte(idAlphabet, id[i])
		if d < 0 {
			return time.Time{}, false
		}
		if i < 10 { // the top 50 bits: 2 zero bits, then 48 of milliseconds
			ms = ms<<5 | uint64(d)
		}
	}
	if ms >= 1<<48 {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(ms)), true
}

// ValidID reports whether id is one NewID makes. Anything else in a bucket
// (quarantine/, another store's prefix) is not a block.
func ValidID(id string) bool { _, ok := IDTime(id); return ok }

// Listing is one pass over a bucket's blocks.
type Listing struct {
	Complete   []string // blocks with a meta.json, in ID order
	Incomplete []string // blocks with objects but no meta.json
}

// List lists the bucket once and sorts its blocks into complete and
// incomplete ones, without reading any meta.json.
func List(ctx context.Context, b objstore.Bucket) (Listing, error) {
	complete := map[string]bool{}
	var order []string
	err := b.List(ctx, "", func(name string) error {
		id, obj, ok := strings.Cut(name, "/")
		if !ok || !ValidID(id) || strings.Contains(obj, "/") {
			return nil
		}
		if _, seen := complete[id]; !seen {
			order = append(order, id)
			complete[id] = false
		}
		if obj == MetaName {
			complete[id] = true
		}
		return nil
	})
	if err != nil {
		return Listing{}, fmt.Errorf("list blocks: %w", err)
	}
	var l Listing
	for _, id := range order {
		if complete[id] {
			l.Complete = append(l.Complete, id)
		} else {
			l.Incomplete = append(l.Incomplete, id)
		}
	}
	return l, nil
}

// Objects lists the names of all objects of block id.
func Objects(ctx context.Context, b objstore.Bucket, id string) ([]string, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("block %q: invalid ID", id)
	}
	var names []string
	if err := b.List(ctx, id+"/", func(n string) error { names = append(names, n); return nil }); err != nil {
		return nil, fmt.Errorf("block %s: %w", id, err)
	}
	return names, nil
}

// Delete removes a block: meta.json first, so that a crash half-way leaves
// an incomplete block (collectable) rather than a broken complete one. A
// block that is already gone is not an error.
func Delete(ctx context.Context, b objstore.Bucket, id string) error {
	if !ValidID(id) {
		return fmt.Errorf("delete block %q: invalid ID", id)
	}
	if err := b.Delete(ctx, id+"/"+MetaName); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete block %s: %w", id, err)
	}
	names, err := Objects(ctx, b, id)
	if err != nil {
		return fmt.Errorf("delete block %s: %w", id, err)
	}
	for _, n := range names {
		if err := b.Delete(ctx, n); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete block %s: %w", id, err)
		}
	}
	return nil
}

// quarantineObject copies one object to quarantine/<name> in the bucket.
func quarantineObject(ctx context.Context, b objstore.Bucket, name string) error {
	rc, err := b.Get(ctx, name)
	if err != nil {
		return err
	}
	defer rc.Close()
	return b.Put(ctx, "quarantine/"+name, rc)
}

// quarantineBlock copies a block's objects to quarantine/<id>/ (invisible
// to block listings, kept to be looked at or repaired by hand) and deletes
// the block. It returns where the objects went.
func quarantineBlock(ctx context.Context, b objstore.Bucket, id string) (string, error) {
	names, err := Objects(ctx, b, id)
	if err != nil {
		return "", err
	}
	for _, n := range names {
		if err := quarantineObject(ctx, b, n); err != nil {
			return "", err
		}
	}
	if err := Delete(ctx, b, id); err != nil {
		return "", err
	}
	return "quarantine/" + id + "/", nil
}
