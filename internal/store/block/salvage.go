package block

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/parquet-go/parquet-go"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
)

// Salvage reads every span of a block whose meta.json is missing, from its
// data and index alone, so that the store can rebuild the block instead of
// deleting it. Data and index are each written atomically, so if both are
// present they are whole; Salvage still checks that they agree (row groups
// and their sizes) and fails with ErrCorrupt if they do not. The block's
// edges were only in its meta; the caller derives them again from the
// spans.
func Salvage(ctx context.Context, b objstore.Bucket, id string) ([]model.Span, error) {
	if !validID(id) {
		return nil, fmt.Errorf("salvage block %q: invalid ID", id)
	}
	raw, err := objstore.ReadAll(ctx, b, id+"/"+indexName)
	if err != nil {
		return nil, fmt.Errorf("salvage block %s: %w", id, err)
	}
	ix, err := decodeIndex(raw)
	if err != nil {
		return nil, fmt.Errorf("salvage block %s: %w", id, err)
	}
	data, err := b.Open(ctx, id+"/"+dataName)
	if err != nil {
		return nil, fmt.Errorf("salvage block %s: %w", id, err)
	}
	f, err := parquet.OpenFile(objstore.ReaderAt(ctx, data), data.Size(), parquet.ReadBufferSize(readBuffer))
	if err != nil {
		_ = data.Close()
		return nil, fmt.Errorf("salvage block %s: %w: %v", id, ErrCorrupt, err)
	}
	var rows int64
	for _, rg := range f.RowGroups() {
		rows += rg.NumRows()
	}
	bl := &Block{meta: Meta{ID: id, SpanCount: int(rows)}, ix: ix, file: f, data: data}
	defer bl.Close()
	if err := bl.check(); err != nil {
		return nil, fmt.Errorf("salvage block %s: %w", id, err)
	}
	spans, err := bl.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("salvage block %s: %w", id, err)
	}
	return spans, nil
}

// HasData reports whether block id still has its data object: without it
// an incomplete block holds no spans and can be deleted without loss.
func HasData(ctx context.Context, b objstore.Bucket, id string) (bool, error) {
	r, err := b.Open(ctx, id+"/"+dataName)
	switch {
	case err == nil:
		_ = r.Close()
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("block %s: %w", id, err)
}

// Objects lists the names of all objects of block id.
func Objects(ctx context.Context, b objstore.Bucket, id string) ([]string, error) {
	var names []string
	if err := b.List(ctx, id+"/", func(n string) error { names = append(names, n); return nil }); err != nil {
		return nil, fmt.Errorf("block %s: %w", id, err)
	}
	return names, nil
}
