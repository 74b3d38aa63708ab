package block

import (
	"context"
	"fmt"
	"strings"

	"github.com/clewtrace/clew/internal/objstore"
)

// Listing is one pass over a bucket's block objects.
type Listing struct {
	Complete   []string // blocks with a meta.json, in ID order
	Incomplete []string // blocks with objects but no meta.json
}

// List lists the bucket once and sorts its blocks into complete and
// incomplete ones, without reading any meta.json (a node that polls a
// shared bucket reads only the metas it has not seen).
func List(ctx context.Context, b objstore.Bucket) (Listing, error) {
	complete := map[string]bool{}
	var order []string
	err := b.List(ctx, "", func(name string) error {
		id, obj, ok := strings.Cut(name, "/")
		if !ok || !validID(id) || strings.Contains(obj, "/") {
			return nil // not a block's object (quarantine/<id>/..., minutes/spanmetrics/...)
		}
		if _, seen := complete[id]; !seen {
			order = append(order, id)
			complete[id] = false
		}
		if obj == metaName {
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

// ReadMeta reads and checks one block's meta.json.
func ReadMeta(ctx context.Context, b objstore.Bucket, id string) (Meta, error) {
	return readMeta(ctx, b, id)
}
