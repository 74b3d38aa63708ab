package block

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/clewtrace/clew/internal/model"
)

// Verify reads every row of every row group — every page of every column,
// each a zstd frame with its own checksum — and returns the row groups
// that do not decode. A non-nil error means the block could not be
// checked (a read failed, as against an object store that is down, or ctx
// ended), which says nothing about damage; the caller tries again later.
// Memory stays at one row group's rows, whatever the block's size.
func (bl *Block) Verify(ctx context.Context) (damaged []int, err error) {
	r := &ioErrors{r: bl.queryReader(ctx)}
	for i := range bl.file.RowGroups() {
		_, derr := bl.readRowGroup(ctx, i, r)
		if ioErr := r.first(); ioErr != nil {
			return nil, fmt.Errorf("verify block %s: %w", bl.meta.ID, ioErr)
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("verify block %s: %w", bl.meta.ID, err)
		}
		if derr != nil {
			damaged = append(damaged, i)
		}
	}
	return damaged, nil
}

// RowGroups returns the number of row groups.
func (bl *Block) RowGroups() int { return len(bl.file.RowGroups()) }

// RowGroupRows returns the number of spans in row group i.
func (bl *Block) RowGroupRows(i int) int64 { return bl.file.RowGroups()[i].NumRows() }

// SpansExcept returns every span of the row groups not in skip, as All
// does: what is left of a block whose skipped row groups are damaged.
// Row groups hold whole traces, so no trace comes back in part.
func (bl *Block) SpansExcept(ctx context.Context, skip []int) ([]model.Span, error) {
	skipped := map[int]bool{}
	for _, i := range skip {
		skipped[i] = true
	}
	var out []model.Span
	r := bl.queryReader(ctx)
	for i := range bl.file.RowGroups() {
		if skipped[i] {
			continue
		}
		spans, err := bl.readRowGroup(ctx, i, r)
		if err != nil {
			return nil, fmt.Errorf("block %s: row group %d: %w", bl.meta.ID, i, err)
		}
		out = append(out, spans...)
	}
	return out, nil
}

// readRowGroup returns the spans of row group i, read in the block's
// format (v3 and v4 rows are not spanRows: reading them as such fails on
// intact data). A decoder that panics on damaged bytes is an error here,
// not a crash.
func (bl *Block) readRowGroup(ctx context.Context, i int, r io.ReaderAt) (spans []model.Span, err error) {
	defer func() {
		if p := recover(); p != nil {
			spans, err = nil, fmt.Errorf("%w: row group %d: decoder panic: %v", ErrCorrupt, i, p)
		}
	}()
	rg := bl.rowGroup(i, r)
	if bl.ix.version >= FormatV3 {
		return bl.readSpansV3(ctx, rg, i, 0, int(rg.NumRows()), nil)
	}
	rows, err := bl.readRows(ctx, rg, 0, int(rg.NumRows()), nil)
	if err != nil {
		return nil, err
	}
	return bl.toSpans(rows), nil
}

// ioErrors passes reads through and remembers the first one that failed,
// so Verify can tell a failed read from bytes that do not decode.
type ioErrors struct {
	r   io.ReaderAt
	mu  sync.Mutex
	err error
}

func (e *ioErrors) ReadAt(p []byte, off int64) (int, error) {
	n, err := e.r.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		e.mu.Lock()
		if e.err == nil {
			e.err = err
		}
		e.mu.Unlock()
	}
	return n, err
}

func (e *ioErrors) first() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}
