package block

import (
	"context"
	"fmt"

	"github.com/parquet-go/parquet-go"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/predicate"
)

// Fields selects the span fields ScanSpans fills. The trace ID and the
// start time are always filled.
type Fields uint16

const (
	FieldName     Fields = 1 << iota // Name
	FieldKind                        // Kind
	FieldDuration                    // EndUnixNano
	FieldStatus                      // StatusCode
	FieldResource                    // Resource
	FieldScope                       // Scope
	// The fields below are decoded from whole rows: asking for any of them
	// costs a full decode of the row group's matching rows.
	FieldAttributes // Attributes
	FieldExtra      // events, links, status message, flags, trace state, dropped counts
	FieldIDs        // SpanID, ParentSpanID

	// AllFields fills every field, as Trace does.
	AllFields Fields = 1<<iota - 1
	// columnFields are what ScanSpans reads column by column.
	columnFields = FieldName | FieldKind | FieldDuration | FieldStatus | FieldResource | FieldScope
)

// ScanSpans calls fn with the spans of the block that match pred (as Scan
// decides a match), one batch per row group, in (trace ID, start) order,
// with the fields asked for filled (others zero) — one pass over each row
// group that may match, reading only the columns pred and fields need,
// instead of one read per trace. fn must not keep the slice: it is reused
// for the next batch (the spans' Resource, Scope and strings may be kept).
// An error from fn stops the scan and is returned.
func (bl *Block) ScanSpans(ctx context.Context, pred *predicate.Compiled, fields Fields, fn func([]model.Span) error) error {
	if bl.ix.version < FormatV3 {
		return bl.scanSpansOld(ctx, pred, fn)
	}
	sc := bl.newScanner(pred)
	if sc == nil {
		return nil
	}
	r := bl.queryReader(ctx)
	var (
		ids    []model.TraceID
		starts []int64
		batch  []model.Span
	)
	for g := range bl.file.RowGroups() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !sc.rowGroupMayMatch(&bl.ix.rowGroups[g]) {
			continue
		}
		sc.rgIndex = g
		rg := bl.rowGroup(g, r)
		ids, starts = ids[:0], starts[:0]
		if _, err := sc.scanRowGroup(ctx, rg, func(id model.TraceID, start int64) bool {
			ids, starts = append(ids, id), append(starts, start)
			return true
		}); err != nil {
			return fmt.Errorf("block %s: scan: %w", bl.meta.ID, err)
		}
		if len(ids) == 0 {
			continue
		}
		rows := int(rg.NumRows())
		var err error
		if fields&^columnFields != 0 {
			// Whole rows: decode the row group and keep the matching rows.
			var all []model.Span
			if all, err = bl.readSpansV3(ctx, rg, g, 0, rows, nil); err != nil {
				return fmt.Errorf("block %s: %w", bl.meta.ID, err)
			}
			batch = batch[:0]
			for i := range all {
				if sc.alive[i] {
					batch = append(batch, all[i])
				}
			}
		} else if batch, err = bl.readColumns(ctx, sc, rg, rows, fields, ids, starts, batch); err != nil {
			return fmt.Errorf("block %s: %w", bl.meta.ID, err)
		}
		if err := fn(batch); err != nil {
			return err
		}
	}
	return nil
}

// readColumns fills dst with the alive rows of the scanned row group
// (their trace IDs and starts given), decoding only the columns of fields.
func (bl *Block) readColumns(ctx context.Context, sc *scanner, rg parquet.RowGroup, rows int, fields Fields, ids []model.TraceID, starts []int64, dst []model.Span) ([]model.Span, error) {
	chunks := rg.ColumnChunks()
	c := &bl.cols
	ints := func(want Fields, col int) ([]int64, error) {
		if fields&want == 0 {
			return nil, nil
		}
		v, err := readColumn(ctx, chunks[col])
		if err != nil {
			return nil, err
		}
		out := v.int64s()
		if len(out) != rows {
			return nil, fmt.Errorf("%w: column %d has %d values for %d rows", ErrCorrupt, col, len(out), rows)
		}
		return out, nil
	}
	kind, err := ints(FieldKind, c.kind)
	if err != nil {
		return nil, err
	}
	dur, err := ints(FieldDuration, c.duration)
	if err != nil {
		return nil, err
	}
	status, err := ints(FieldStatus, c.statusCode)
	if err != nil {
		return nil, err
	}
	res, err := ints(FieldResource, c.resource)
	if err != nil {
		return nil, err
	}
	scp, err := ints(FieldScope, c.scope)
	if err != nil {
		return nil, err
	}
	var names []string // per row, sharing one string per dictionary entry
	if fields&FieldName != 0 {
		col, err := readColumn(ctx, chunks[c.name])
		if err != nil {
			return nil, err
		}
		if col.len() != rows {
			return nil, fmt.Errorf("%w: name column has %d values for %d rows", ErrCorrupt, col.len(), rows)
		}
		names = make([]string, rows)
		if col.dict != nil {
			dict := make([]string, col.dict.Len())
			for i := range dict {
				dict[i] = string(col.dict.Index(int32(i)).ByteArray())
			}
			for r, x := range col.idx {
				if x >= 0 && int(x) < len(dict) {
					names[r] = dict[x]
				}
			}
		} else {
			for r := range names {
				if sc.alive[r] {
					names[r] = col.str(r)
				}
			}
		}
	}
	if cap(dst) < len(ids) {
		dst = make([]model.Span, len(ids))
	}
	dst = dst[:len(ids)]
	k := 0
	for r := range rows {
		if !sc.alive[r] {
			continue
		}
		if k >= len(ids) {
			return nil, fmt.Errorf("%w: scan and columns disagree on matching rows", ErrCorrupt)
		}
		s := &dst[k]
		*s = model.Span{TraceID: ids[k], StartUnixNano: starts[k]}
		k++
		if names != nil {
			s.Name = names[r]
		}
		if kind != nil {
			s.Kind = model.SpanKind(kind[r])
		}
		if dur != nil {
			s.EndUnixNano = s.StartUnixNano + dur[r]
		}
		if status != nil {
			s.StatusCode = model.StatusCode(status[r])
		}
		if res != nil {
			s.Resource = bl.resource(int32(res[r]))
		}
		if scp != nil {
			s.Scope = bl.scope(int32(scp[r]))
		}
	}
	if k != len(ids) {
		return nil, fmt.Errorf("%w: scan and columns disagree on matching rows", ErrCorrupt)
	}
	return dst, nil
}

// scanSpansOld serves blocks before format v3 (no column-wise decoder):
// every span is read and pred evaluated on it.
func (bl *Block) scanSpansOld(ctx context.Context, pred *predicate.Compiled, fn func([]model.Span) error) error {
	if !bl.mayMatch(pred) {
		return nil
	}
	all, err := bl.All(ctx)
	if err != nil {
		return err
	}
	batch := all[:0]
	for i := range all {
		if pred.Match(&all[i]) {
			batch = append(batch, all[i])
		}
	}
	return fn(batch)
}
