package block

import (
	"context"
	"fmt"
	"slices"

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

// Copies lets ScanSpans count a span stored more than once (a client's
// retry landing in two heads, blocks or nodes) once. A span can only have
// a copy where its start time is and where its trace is, so ScanSpans asks
// Overlaps of each row group's start range and MayHave of each matching
// row's trace: only spans that pass both are identified (span ID, kind,
// start: the key Trace de-duplicates by) and handed to Seen, which records
// them and reports whether a copy was counted already (the span is then
// dropped). Row groups that overlap nothing cost nothing more.
type Copies interface {
	Overlaps(lo, hi int64) bool
	MayHave(id model.TraceID) bool
	Seen(id model.TraceID, span model.SpanID, kind model.SpanKind, start int64) bool
}

// ScanSpans calls fn with the spans of the block that match pred (as Scan
// decides a match), one batch per row group, with the fields asked for
// filled (others zero) — one pass over each row group that may match,
// reading only the columns pred and fields need, instead of one read per
// trace. Spans come in groups: spans[i] stands for every matching span of
// the row group alike in the fields asked for, and starts[i] holds their
// start times (spans[i] has the first's trace ID and start). With fields
// beyond the column ones (attributes, extra, IDs) every span is its own
// group. fn must not keep the slices: they are reused for the next batch
// (the spans' Resource, Scope and strings may be kept). An error from fn
// stops the scan and is returned.
//
// alike, when not nil, says whether the caller counts spans starting
// anywhere in [lo, hi] alike (a metrics query: in one step of its range).
// For a row group whose start range it accepts, and whose every row is
// inside pred's time range, neither start times nor trace IDs are read:
// its spans are given the range's first start and a zero trace ID. It is
// used only when fields are column fields.
//
// copies, when not nil, drops spans counted elsewhere already (see Copies).
// A block holds no copies of its own spans when it was written by this
// version or compacted (both drop exact duplicates).
func (bl *Block) ScanSpans(ctx context.Context, pred *predicate.Compiled, fields Fields, alike func(lo, hi int64) bool, copies Copies, fn func(spans []model.Span, starts [][]int64) error) error {
	if bl.ix.version < FormatV3 {
		return bl.scanSpansOld(ctx, pred, copies, fn)
	}
	sc := bl.newScanner(ctx, pred)
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
		if !sc.rowGroupPasses(ctx, g) {
			continue
		}
		sc.rgIndex = g
		st := &bl.ix.rowGroups[g]
		suspect := copies != nil && copies.Overlaps(st.minStart, st.maxStart)
		sc.coarse = !suspect && alike != nil && fields&^columnFields == 0 && alike(st.minStart, st.maxStart)
		rg := bl.rowGroup(g, r)
		// Filled by index, not appended: the callback runs for every
		// matching row, and growing captured slices costs a write barrier
		// each time.
		n := int(rg.NumRows())
		ids, starts = slices.Grow(ids[:0], n)[:n], slices.Grow(starts[:0], n)[:n]
		k := 0
		if _, err := sc.scanRowGroup(ctx, rg, func(id model.TraceID, start int64) bool {
			if k < n {
				ids[k], starts[k] = id, start
			}
			k++
			return true
		}); err != nil {
			return fmt.Errorf("block %s: scan: %w", bl.meta.ID, err)
		}
		if sc.coarseDone {
			// Every alive row at the range's first start, trace IDs zero.
			k = sc.n
			clear(ids[:k])
			for i := range k {
				starts[i] = st.minStart
			}
		}
		if k > n {
			return fmt.Errorf("block %s: %w: scan reported %d rows of %d", bl.meta.ID, ErrCorrupt, k, n)
		}
		ids, starts = ids[:k], starts[:k]
		rows := int(rg.NumRows())
		if suspect && k > 0 {
			var err error
			if ids, starts, err = bl.dropCopies(ctx, sc, rg, rows, ids, starts, copies); err != nil {
				return fmt.Errorf("block %s: %w", bl.meta.ID, err)
			}
			k = len(ids)
		}
		if k == 0 {
			continue
		}
		var groups [][]int64
		if fields&^columnFields != 0 {
			// Whole rows: decode the row group and keep the matching rows,
			// each its own group.
			all, err := bl.readSpansV3(ctx, rg, g, 0, rows, nil)
			if err != nil {
				return fmt.Errorf("block %s: %w", bl.meta.ID, err)
			}
			batch = batch[:0]
			for i := range all {
				if sc.alive[i] {
					batch = append(batch, all[i])
				}
			}
			groups = StartsAlone(batch)
		} else {
			var err error
			if batch, groups, err = bl.readColumns(ctx, sc, rg, rows, fields, ids, starts, batch); err != nil {
				return fmt.Errorf("block %s: %w", bl.meta.ID, err)
			}
		}
		if err := fn(batch, groups); err != nil {
			return err
		}
	}
	return nil
}

// dropCopies kills the alive rows of the scanned row group that copies has
// seen already, and returns ids and starts (one per alive row, in row
// order) without them. Span IDs and kinds are read only when a row's
// trace may have a copy.
func (bl *Block) dropCopies(ctx context.Context, sc *scanner, rg parquet.RowGroup, rows int, ids []model.TraceID, starts []int64, copies Copies) ([]model.TraceID, []int64, error) {
	var spanIDs *column
	var kinds []int64
	chunks := rg.ColumnChunks()
	k, kept := 0, 0
	for r := range rows {
		if !sc.alive[r] {
			continue
		}
		if k >= len(ids) {
			return nil, nil, fmt.Errorf("%w: scan and rows disagree on matching rows", ErrCorrupt)
		}
		id, start := ids[k], starts[k]
		k++
		if copies.MayHave(id) {
			if spanIDs == nil {
				var err error
				if spanIDs, err = readColumn(ctx, chunks[bl.cols.spanID]); err != nil {
					return nil, nil, err
				}
				col, err := readColumn(ctx, chunks[bl.cols.kind])
				if err != nil {
					return nil, nil, err
				}
				if kinds = col.int64s(); len(kinds) != rows || spanIDs.len() != rows {
					return nil, nil, fmt.Errorf("%w: span_id/kind columns have %d/%d values for %d rows", ErrCorrupt, spanIDs.len(), len(kinds), rows)
				}
			}
			var sid model.SpanID
			copy(sid[:], spanIDs.bytesAt(r))
			if copies.Seen(id, sid, model.SpanKind(kinds[r]), start) {
				sc.kill(r)
				continue
			}
		}
		ids[kept], starts[kept] = id, start
		kept++
	}
	return ids[:kept], starts[:kept], nil
}

// readColumns returns the alive rows of the scanned row group (their trace
// IDs and starts given) as groups of rows alike in every column of fields:
// one span per group (the fields filled, the first row's trace ID and
// start) and the starts of the group's rows. Only those columns are
// decoded, and a metrics query then evaluates its filter once per group,
// not once per span.
func (bl *Block) readColumns(ctx context.Context, sc *scanner, rg parquet.RowGroup, rows int, fields Fields, ids []model.TraceID, starts []int64, dst []model.Span) ([]model.Span, [][]int64, error) {
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
		return nil, nil, err
	}
	dur, err := ints(FieldDuration, c.duration)
	if err != nil {
		return nil, nil, err
	}
	status, err := ints(FieldStatus, c.statusCode)
	if err != nil {
		return nil, nil, err
	}
	// Resources and scopes are int32 columns: read as they are, not
	// widened.
	int32s := func(want Fields, col int) ([]int32, error) {
		if fields&want == 0 {
			return nil, nil
		}
		v, err := readColumn(ctx, chunks[col])
		if err != nil {
			return nil, err
		}
		out := v.int32s()
		if len(out) != rows {
			return nil, fmt.Errorf("%w: column %d has %d values for %d rows", ErrCorrupt, col, len(out), rows)
		}
		return out, nil
	}
	res, err := int32s(FieldResource, c.resource)
	if err != nil {
		return nil, nil, err
	}
	scp, err := int32s(FieldScope, c.scope)
	if err != nil {
		return nil, nil, err
	}
	// Names as numbers into nameList: dictionary indexes, or the distinct
	// values of a plain chunk.
	var nameIdx []int32
	var nameList []string
	if fields&FieldName != 0 {
		col, err := readColumn(ctx, chunks[c.name])
		if err != nil {
			return nil, nil, err
		}
		if col.len() != rows {
			return nil, nil, fmt.Errorf("%w: name column has %d values for %d rows", ErrCorrupt, col.len(), rows)
		}
		if col.dict != nil {
			nameList = make([]string, col.dict.Len())
			for i := range nameList {
				nameList[i] = string(col.dict.Index(int32(i)).ByteArray())
			}
			nameIdx = col.idx
		} else {
			seen := map[string]int32{}
			nameIdx = make([]int32, rows)
			for r := range rows {
				if !sc.alive[r] {
					continue
				}
				n := col.str(r)
				x, ok := seen[n]
				if !ok {
					x = int32(len(nameList))
					seen[n] = x
					nameList = append(nameList, n)
				}
				nameIdx[r] = x
			}
		}
	}
	at := func(v []int64, r int) int64 {
		if v == nil {
			return 0
		}
		return v[r]
	}
	type spanKey struct {
		name, res, scope int32
		kind, status     int64
		dur              int64
	}
	keyOf := func(r int) spanKey {
		k := spanKey{kind: at(kind, r), status: at(status, r), dur: at(dur, r)}
		if res != nil {
			k.res = res[r]
		}
		if scp != nil {
			k.scope = scp[r]
		}
		if nameIdx != nil {
			k.name = nameIdx[r]
		}
		return k
	}
	// Without durations the keys are few: a table indexed by the key's
	// parts (when their ranges multiply to at most denseKeys) finds a
	// row's group without hashing; the map takes the rest.
	dims := [5]int64{1, 1, 1, 1, 1} // name, kind, status, resource, scope
	if nameIdx != nil {
		dims[0] = int64(max(len(nameList), 1))
	}
	if kind != nil {
		dims[1] = 8
	}
	if status != nil {
		dims[2] = 4
	}
	if res != nil {
		dims[3] = int64(max(len(bl.ix.resources), 1))
	}
	if scp != nil {
		dims[4] = int64(max(len(bl.ix.scopes), 1))
	}
	var table []int32
	if n := dims[0] * dims[1] * dims[2] * dims[3] * dims[4]; dur == nil && n <= denseKeys {
		table = make([]int32, n)
		for i := range table {
			table[i] = -1
		}
	}
	// The parts the table is indexed by: each needed column and its range.
	type part struct {
		vals []int64
		idx  []int32
		n    int64
	}
	var parts []part
	if table != nil {
		if nameIdx != nil {
			parts = append(parts, part{idx: nameIdx, n: dims[0]})
		}
		for i, v := range [][]int64{kind, status} {
			if v != nil {
				parts = append(parts, part{vals: v, n: dims[i+1]})
			}
		}
		if res != nil {
			parts = append(parts, part{idx: res, n: dims[3]})
		}
		if scp != nil {
			parts = append(parts, part{idx: scp, n: dims[4]})
		}
	}
	slot := func(r int) int64 {
		var x int64
		for i := range parts {
			var v int64
			if parts[i].idx != nil {
				v = int64(parts[i].idx[r])
			} else {
				v = parts[i].vals[r]
			}
			if uint64(v) >= uint64(parts[i].n) {
				return -1
			}
			x = x*parts[i].n + v
		}
		return x
	}
	// group[k] is the group of alive row k.
	group := make([]int32, len(ids))
	byKey := map[spanKey]int32{}
	dst = dst[:0]
	k := 0
	for r := range rows {
		if !sc.alive[r] {
			continue
		}
		if k >= len(ids) {
			return nil, nil, fmt.Errorf("%w: scan and columns disagree on matching rows", ErrCorrupt)
		}
		x := int64(-1)
		if table != nil {
			x = slot(r)
		}
		var g int32
		ok := false
		var key spanKey
		if x >= 0 {
			g = table[x]
			ok = g >= 0
		} else {
			key = keyOf(r)
			g, ok = byKey[key]
		}
		if !ok {
			if x >= 0 {
				key = keyOf(r)
			}
			g = int32(len(dst))
			if x >= 0 {
				table[x] = g
			} else {
				byKey[key] = g
			}
			s := model.Span{TraceID: ids[k], StartUnixNano: starts[k], Kind: model.SpanKind(key.kind), StatusCode: model.StatusCode(key.status)}
			if nameIdx != nil && key.name >= 0 && int(key.name) < len(nameList) {
				s.Name = nameList[key.name]
			}
			if dur != nil {
				s.EndUnixNano = s.StartUnixNano + key.dur
			}
			if res != nil {
				s.Resource = bl.resource(key.res)
			}
			if scp != nil {
				s.Scope = bl.scope(key.scope)
			}
			dst = append(dst, s)
		}
		group[k] = g
		k++
	}
	if k != len(ids) {
		return nil, nil, fmt.Errorf("%w: scan and columns disagree on matching rows", ErrCorrupt)
	}
	if sc.coarseDone {
		return dst, sameStarts(group, starts[0], len(dst)), nil
	}
	return dst, groupStarts(group, starts, len(dst)), nil
}

// sameStarts is groupStarts when every row starts at start: one shared
// array of the largest group's size, sliced per group.
func sameStarts(group []int32, start int64, groups int) [][]int64 {
	count := make([]int, groups)
	most := 0
	for _, g := range group {
		count[g]++
		most = max(most, count[g])
	}
	all := make([]int64, most)
	for i := range all {
		all[i] = start
	}
	out := make([][]int64, groups)
	for g := range out {
		out[g] = all[:count[g]:count[g]]
	}
	return out
}

// groupStarts splits starts by group (group[k] is the group of starts[k])
// into one slice per group, sharing one array.
func groupStarts(group []int32, starts []int64, groups int) [][]int64 {
	end := make([]int, groups)
	for _, g := range group {
		end[g]++
	}
	for g := 1; g < groups; g++ {
		end[g] += end[g-1]
	}
	all := make([]int64, len(starts))
	out := make([][]int64, groups)
	for g := range out {
		lo := 0
		if g > 0 {
			lo = end[g-1]
		}
		out[g] = all[lo:lo:end[g]]
	}
	for k, g := range group {
		out[g] = append(out[g], starts[k])
	}
	return out
}

// denseKeys bounds the table readColumns groups rows with.
const denseKeys = 1 << 16

// scanSpansOld serves blocks before format v3 (no column-wise decoder):
// every span is read and pred evaluated on it.
func (bl *Block) scanSpansOld(ctx context.Context, pred *predicate.Compiled, copies Copies, fn func([]model.Span, [][]int64) error) error {
	if !bl.MayMatch(pred) {
		return nil
	}
	all, err := bl.All(ctx)
	if err != nil {
		return err
	}
	batch := all[:0]
	for i := range all {
		sp := &all[i]
		if !pred.Match(sp) {
			continue
		}
		if copies != nil && copies.Overlaps(sp.StartUnixNano, sp.StartUnixNano) && copies.MayHave(sp.TraceID) &&
			copies.Seen(sp.TraceID, sp.SpanID, sp.Kind, sp.StartUnixNano) {
			continue
		}
		batch = append(batch, *sp)
	}
	return fn(batch, StartsAlone(batch))
}

// StartsAlone gives each span a group of its own, its start alone: the
// groups argument of a span scan's callback when no rows were counted alike.
func StartsAlone(spans []model.Span) [][]int64 {
	all := make([]int64, len(spans))
	out := make([][]int64, len(spans))
	for i := range spans {
		all[i] = spans[i].StartUnixNano
		out[i] = all[i : i+1 : i+1]
	}
	return out
}
