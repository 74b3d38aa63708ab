package block

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

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
	if ix.version >= FormatV4 { // trace IDs and starts are in traces.bin
		if bl.traces, err = b.Open(ctx, id+"/"+tracesName); err != nil {
			return nil, fmt.Errorf("salvage block %s: %w", id, err)
		}
		if bl.traces.Size() != ix.tracesSize {
			return nil, fmt.Errorf("salvage block %s: %w: %s has %d bytes, index says %d", id, ErrCorrupt, tracesName, bl.traces.Size(), ix.tracesSize)
		}
	}
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

// ListMetasSkippingDamaged is ListMetas for start-up: a meta.json that does
// not decode (ErrCorrupt) does not fail the listing but is returned in
// damaged, so one damaged file cannot keep every other block offline.
func ListMetasSkippingDamaged(ctx context.Context, b objstore.Bucket) (metas []Meta, damaged []string, err error) {
	var ids []string
	err = b.List(ctx, "", func(name string) error {
		if id, ok := strings.CutSuffix(name, "/"+metaName); ok && validID(id) {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list blocks: %w", err)
	}
	for _, id := range ids {
		m, err := readMeta(ctx, b, id)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // deleted between List and Get
		case errors.Is(err, ErrCorrupt):
			damaged = append(damaged, id)
			continue
		case err != nil:
			return nil, nil, err
		}
		metas = append(metas, m)
	}
	slices.SortFunc(metas, func(a, b Meta) int { return strings.Compare(a.ID, b.ID) })
	return metas, damaged, nil
}
