package block

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/parquet-go/parquet-go"

	"github.com/clewtrace/clew/internal/model"
)

// Reading v3 blocks. A trace read goes: bloom filter (in memory) → granule
// (in memory) → that granule's entries in traces.bin (one read of a few
// hundred bytes) → the trace's exact rows → for each column the trace needs,
// the one page (rarely two) holding those rows. Rows are decoded column by
// column straight into spans by the code below, not by parquet-go's generic
// row reconstruction, and only the trace's rows are decoded. Columns the
// trace's spans do not use (a dedicated attribute none of them has, the
// generic attribute list when every attribute is dedicated) are not read.

// lookupTrace finds a trace's entry in traces.bin.
func (bl *Block) lookupTrace(ctx context.Context, id model.TraceID) (traceEntry, bool, error) {
	_, entries, err := bl.granuleTraces(ctx, id)
	if err != nil {
		return traceEntry{}, false, err
	}
	for _, e := range entries {
		if e.id == id {
			return e, true, nil
		}
	}
	return traceEntry{}, false, nil
}

// granuleTraces reads the traces.bin entries of the granule that would
// hold the trace, and the granule's number (-1: none would).
func (bl *Block) granuleTraces(ctx context.Context, id model.TraceID) (int, []traceEntry, error) {
	g := bl.ix.granules
	i := sortSearch(len(g), func(i int) bool { return string(g[i].first[:]) > string(id[:]) }) - 1
	if i < 0 {
		return -1, nil, nil
	}
	from, to := g[i].tracesOff, bl.ix.tracesSize
	end := int64(bl.meta.SpanCount)
	if i+1 < len(g) {
		to, end = g[i+1].tracesOff, g[i+1].row
	}
	buf, err := bl.readTraces(ctx, from, to, nil)
	if err != nil {
		return -1, nil, err
	}
	entries, err := decodeTraceEntries(buf, g[i].row, end, bl.ix.traceBase)
	if err != nil {
		return -1, nil, err
	}
	return i, entries, nil
}

func (bl *Block) traceV3(ctx context.Context, id model.TraceID) ([]model.Span, error) {
	e, ok, err := bl.lookupTrace(ctx, id)
	if err != nil || !ok {
		return nil, err
	}
	rgi := sortSearch(len(bl.rgFirst), func(k int) bool { return bl.rgFirst[k] > e.row }) - 1
	if rgi < 0 || e.row+e.spans > bl.rgFirst[rgi]+bl.ix.rowGroups[rgi].rows {
		return nil, fmt.Errorf("%w: trace rows cross a row group", ErrCorrupt)
	}
	rg := bl.rowGroup(rgi, bl.queryReader(ctx))
	return bl.readSpansV3(ctx, rg, rgi, e.row-bl.rgFirst[rgi], int(e.spans), &e)
}

// readRange reads rows [from, from+n) of a column chunk: only the pages
// holding them (and the dictionary).
func readRange(ctx context.Context, chunk parquet.ColumnChunk, from int64, n int) (*column, error) {
	return readRanges(ctx, chunk, []rowRange{{from, n}})
}

// rowRange is n rows from row `from` of a row group.
type rowRange struct {
	from int64
	n    int
}

// readRanges reads the rows of each range, in order, into one column:
// only the pages holding them, and the dictionary once.
//
// It seeks to the start of the page holding a range and cuts the rows out
// of the page itself: parquet-go, asked to seek to a row inside a page,
// copies the rest of that page into a buffer its pool never gets back,
// and that copy was most of what a Trace read allocated.
func readRanges(ctx context.Context, chunk parquet.ColumnChunk, ranges []rowRange) (*column, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var index parquet.OffsetIndex
	if len(ranges) > 1 || len(ranges) == 1 && ranges[0].from > 0 {
		index = offsetIndex(chunk)
	}
	pages := chunk.Pages()
	defer pages.Close()
	col := &column{}
	var (
		cur      parquet.Page // the page read last
		curFirst int64        // the row cur starts at
		next     int64        // the row the page ReadPage returns next starts at
	)
	defer func() { parquet.Release(cur) }()
	for _, rr := range ranges {
		row, left := rr.from, int64(rr.n)
		for left > 0 {
			if cur == nil || row >= curFirst+cur.NumRows() {
				parquet.Release(cur)
				cur = nil
				if row != next {
					first := pageStart(index, row)
					if err := pages.SeekToRow(first); err != nil {
						return nil, err
					}
					next = first
				}
				p, err := pages.ReadPage()
				if errors.Is(err, io.EOF) {
					return nil, fmt.Errorf("%w: column ends %d rows early", ErrCorrupt, left)
				}
				if err != nil {
					return nil, err
				}
				if p.NumRows() <= 0 {
					parquet.Release(p)
					return nil, fmt.Errorf("%w: empty page", ErrCorrupt)
				}
				cur, curFirst = p, next
				next += p.NumRows()
				if row < curFirst {
					return nil, fmt.Errorf("%w: page starts at row %d, after row %d", ErrCorrupt, curFirst, row)
				}
				if row >= next {
					continue // a page before the row's: the index did not say where it starts
				}
			}
			skip := row - curFirst
			take := min(left, cur.NumRows()-skip)
			if err := col.appendRows(cur, skip, take); err != nil {
				return nil, err
			}
			row += take
			left -= take
		}
	}
	return col, nil
}

// offsetIndex returns the chunk's offset index, loading it if Open could
// not (loadOffsetIndexes); nil when it cannot be read: the chunk then
// still seeks, by reading its pages from the start.
func offsetIndex(chunk parquet.ColumnChunk) parquet.OffsetIndex {
	if c, ok := chunk.(readerChunk); ok {
		if index, err := c.OffsetIndexFrom(c.r); err == nil {
			return index
		}
		return nil
	}
	if index, err := chunk.OffsetIndex(); err == nil {
		return index
	}
	return nil
}

// pageStart is the first row of the page holding row, by the offset index;
// row itself without one (parquet-go then skips to it).
func pageStart(index parquet.OffsetIndex, row int64) int64 {
	if index == nil || index.NumPages() == 0 {
		return row
	}
	k := sortSearch(index.NumPages(), func(i int) bool { return index.FirstRowIndex(i) > row }) - 1
	if k < 0 {
		return row
	}
	return index.FirstRowIndex(k)
}

// str is value i of a byte-array column as a string.
func (c *column) str(i int) string { return string(c.bytesAt(i)) }

// rowGroupTraces reads the trace index entries of row group i into dst:
// the entries of its granules, one read of traces.bin (readTraces, into
// raw).
func (bl *Block) rowGroupTraces(ctx context.Context, i int, dst []traceEntry, raw *[]byte) ([]traceEntry, error) {
	g := bl.ix.granules
	first, end := bl.rgFirst[i], bl.rgFirst[i]+bl.ix.rowGroups[i].rows
	a := sortSearch(len(g), func(k int) bool { return g[k].row >= first })
	b := sortSearch(len(g), func(k int) bool { return g[k].row >= end })
	if a >= len(g) || g[a].row != first {
		return nil, fmt.Errorf("%w: no granule starts row group %d", ErrCorrupt, i)
	}
	from, to := g[a].tracesOff, bl.ix.tracesSize
	if b < len(g) {
		to = g[b].tracesOff
	}
	buf, err := bl.readTraces(ctx, from, to, raw)
	if err != nil {
		return nil, err
	}
	return appendTraceEntries(dst, buf, first, end, bl.ix.traceBase)
}

// readTraces reads bytes [from, to) of traces.bin, into *raw when raw is
// not nil (grown as needed and left there for the next read).
func (bl *Block) readTraces(ctx context.Context, from, to int64, raw *[]byte) ([]byte, error) {
	if from < int64(len(tracesMagic)) || to <= from || to > bl.traces.Size() {
		return nil, fmt.Errorf("%w: trace index range %d-%d", ErrCorrupt, from, to)
	}
	var buf []byte
	if raw == nil {
		buf = make([]byte, to-from)
	} else {
		buf = resize(*raw, int(to-from))
		*raw = buf
	}
	if _, err := bl.traces.ReadAt(ctx, buf, from); err != nil && !(errors.Is(err, io.EOF) && to == bl.traces.Size()) {
		return nil, err
	}
	return buf, nil
}

// expandTraces appends, for each row the entries cover, the number of its
// entry.
func expandTraces(dst []int32, entries []traceEntry) []int32 {
	for i, e := range entries {
		for range e.spans {
			dst = append(dst, int32(i))
		}
	}
	return dst
}

// readSpansV3 decodes n rows from row `from` of a v3/v4 row group, rows of
// whole traces. known, when set, is the trace index entry of the single
// trace the rows hold: its ID and start are then not read from the data.
// Otherwise (reading whole row groups) they come from the trace_id and
// trace_start columns (v3) or from traces.bin (v4, rgIndex says which row
// group).
func (bl *Block) readSpansV3(ctx context.Context, rg parquet.RowGroup, rgIndex int, from int64, n int, known *traceEntry) ([]model.Span, error) {
	if known != nil {
		return bl.readTracesV3(ctx, rg, rgIndex, []rowRange{{from, n}}, []traceEntry{*known})
	}
	return bl.readRowsV3(ctx, rg, rgIndex, []rowRange{{from, n}}, nil)
}

// readTracesV3 decodes the rows of several traces of one row group (known:
// their trace index entries, in row order; ranges: their rows within the
// row group), reading each column's pages once and its dictionary once.
func (bl *Block) readTracesV3(ctx context.Context, rg parquet.RowGroup, rgIndex int, ranges []rowRange, known []traceEntry) ([]model.Span, error) {
	return bl.readRowsV3(ctx, rg, rgIndex, ranges, known)
}

func (bl *Block) readRowsV3(ctx context.Context, rg parquet.RowGroup, rgIndex int, ranges []rowRange, known []traceEntry) ([]model.Span, error) {
	chunks := rg.ColumnChunks()
	c := &bl.cols
	n := 0
	for _, rr := range ranges {
		n += rr.n
	}
	from := ranges[0].from
	// rowKnown[i] is the entry of known that row i belongs to.
	var rowKnown []int32
	if known != nil {
		if len(known) != len(ranges) {
			return nil, fmt.Errorf("read rows: %d ranges for %d traces", len(ranges), len(known))
		}
		rowKnown = make([]int32, 0, n)
		for k, rr := range ranges {
			for range rr.n {
				rowKnown = append(rowKnown, int32(k))
			}
		}
	}
	read := func(col int) (*column, error) {
		v, err := readRanges(ctx, chunks[col], ranges)
		if err != nil {
			return nil, err
		}
		if len(v.rep) == 0 && v.len() != n && len(v.def) == 0 {
			return nil, fmt.Errorf("%w: column %d has %d values for %d rows", ErrCorrupt, col, v.len(), n)
		}
		return v, nil
	}
	ints := func(col int) ([]int64, error) {
		v, err := read(col)
		if err != nil {
			return nil, err
		}
		out := v.int64s()
		if len(out) != n {
			return nil, fmt.Errorf("%w: column %d has %d values for %d rows", ErrCorrupt, col, len(out), n)
		}
		return out, nil
	}
	layout, err := read(c.layout)
	if err != nil {
		return nil, err
	}
	usedSlots, generic := 0, false
	for r := range n {
		for _, b := range layout.bytesAt(r) {
			if slot, _, ok := layoutSlot(b); ok {
				if c.dedicated[slot] < 0 {
					return nil, fmt.Errorf("%w: layout names dedicated slot %d, which a v%d block lacks", ErrCorrupt, slot, bl.ix.version)
				}
				usedSlots |= 1 << slot
			} else {
				generic = true
			}
		}
	}
	var (
		traceIDs          *column
		traceStart        []int64
		startOff, dur     []int64
		parent, res, scp  []int64
		kind, status      []int64
		spanIDs, names    *column
		extra             *column
		dedicated         [dedicatedSlots]*column
		gKey, gType, gVal *column
	)
	var (
		rgTraces  []traceEntry
		rowTraces []int32
	)
	switch {
	case known != nil:
	case c.traceID >= 0:
		if traceIDs, err = read(c.traceID); err != nil {
			return nil, err
		}
		if traceStart, err = ints(c.traceStart); err != nil {
			return nil, err
		}
	default:
		if len(ranges) != 1 || from != 0 || int64(n) != bl.ix.rowGroups[rgIndex].rows {
			return nil, fmt.Errorf("read rows %d+%d: whole row groups only", from, n)
		}
		if rgTraces, err = bl.rowGroupTraces(ctx, rgIndex, nil, nil); err != nil {
			return nil, err
		}
		if rowTraces = expandTraces(nil, rgTraces); len(rowTraces) != n {
			return nil, fmt.Errorf("%w: trace index covers %d of %d rows", ErrCorrupt, len(rowTraces), n)
		}
	}
	for _, x := range []struct {
		col int
		dst *[]int64
	}{{c.startOffset, &startOff}, {c.duration, &dur}, {c.parentIndex, &parent}, {c.resource, &res}, {c.scope, &scp}, {c.kind, &kind}, {c.statusCode, &status}} {
		if *x.dst, err = ints(x.col); err != nil {
			return nil, err
		}
	}
	if spanIDs, err = read(c.spanID); err != nil {
		return nil, err
	}
	if names, err = read(c.name); err != nil {
		return nil, err
	}
	if extra, err = read(c.extra); err != nil {
		return nil, err
	}
	for slot := range dedicatedSlots {
		if usedSlots&(1<<slot) != 0 {
			if dedicated[slot], err = read(c.dedicated[slot]); err != nil {
				return nil, err
			}
		}
	}
	if generic {
		if gKey, err = read(c.attrKey); err != nil {
			return nil, err
		}
		if gType, err = read(c.attrType); err != nil {
			return nil, err
		}
		if gVal, err = read(c.attrVal); err != nil {
			return nil, err
		}
	}
	if traceIDs != nil && traceIDs.len() != n || spanIDs.len() != n || names.len() != n {
		return nil, fmt.Errorf("%w: columns disagree on row count", ErrCorrupt)
	}
	extras, err := extraValues(extra, n)
	if err != nil {
		return nil, err
	}
	// Generic attributes per row, from the repetition levels.
	var genStart []int // first generic value of each row; genStart[n] = total
	var gTypes []int64
	if generic {
		genStart = make([]int, n+1)
		row, v := -1, 0
		for j, rep := range gKey.rep {
			if rep == 0 {
				row++
				if row >= n {
					return nil, fmt.Errorf("%w: attribute levels and rows disagree", ErrCorrupt)
				}
				genStart[row] = v
			}
			if j < len(gKey.def) && int(gKey.def[j]) == c.attrMaxDef {
				v++
			}
		}
		for r := row + 1; r <= n; r++ {
			genStart[r] = v
		}
		gTypes = gType.int64s()
		if gKey.len() != v || gVal.len() != v || len(gTypes) != v {
			return nil, fmt.Errorf("%w: attribute columns disagree", ErrCorrupt)
		}
	}

	out := make([]model.Span, n)
	for i := range out {
		s := &out[i]
		var start int64
		switch {
		case known != nil:
			e := &known[rowKnown[i]]
			s.TraceID, start = e.id, e.start
		case traceIDs != nil:
			s.TraceID, start = traceIDs.traceID(i), traceStart[i]
		default:
			e := &rgTraces[rowTraces[i]]
			s.TraceID, start = e.id, e.start
		}
		copy(s.SpanID[:], spanIDs.bytesAt(i))
		s.Name = names.str(i)
		s.Kind = model.SpanKind(kind[i])
		s.StartUnixNano = start + startOff[i]
		s.EndUnixNano = s.StartUnixNano + dur[i]
		s.StatusCode = model.StatusCode(status[i])
		s.Flags = bl.ix.defaultFlags
		s.Resource = bl.resource(int32(res[i]))
		s.Scope = bl.scope(int32(scp[i]))
		if extras[i] != nil {
			x, err := decodeExtra(extras[i], bl.ix.defaultFlags)
			if err != nil {
				return nil, err
			}
			s.Flags = x.flags
			s.TraceState = x.traceState
			s.DroppedAttributesCount = x.droppedAttrs
			s.DroppedEventsCount = x.droppedEvents
			s.DroppedLinksCount = x.dropped
			if x.hasParentID {
				s.ParentSpanID = x.parentID
			}
			s.StatusMessage = x.statusMessage
			for j := range x.events {
				x.events[j].TimeUnixNano += s.StartUnixNano
			}
			s.Events = x.events
			s.Links = x.links
		}
		if l := layout.bytesAt(i); len(l) > 0 {
			s.Attributes = make([]model.Attribute, 0, len(l))
			g := 0
			for _, b := range l {
				if slot, t, ok := layoutSlot(b); ok {
					s.Attributes = append(s.Attributes, model.Attribute{Key: bl.dedicatedKey(slot), Value: model.ParseValue(t, dedicated[slot].str(i))})
					continue
				}
				if !generic {
					continue
				}
				k := genStart[i] + g
				if k >= genStart[i+1] {
					continue // corrupt layout; drop rather than invent
				}
				g++
				s.Attributes = append(s.Attributes, model.Attribute{Key: gKey.str(k), Value: model.ParseValue(model.ValueType(gTypes[k]), gVal.str(k))})
			}
		}
	}
	// Parent positions may point forward (a child that started before its
	// parent): resolve them now that every span ID is known.
	traceFirst := 0
	for i := range out {
		if i > 0 && out[i].TraceID != out[i-1].TraceID {
			traceFirst = i
		}
		if p := parent[i]; p >= 0 && traceFirst+int(p) < n {
			out[i].ParentSpanID = out[traceFirst+int(p)].SpanID
		}
	}
	return out, nil
}

// dedicatedKey is the key of a dedicated slot ("" for a slot the block
// does not have: a corrupt layout).
func (bl *Block) dedicatedKey(slot int) string {
	if slot < len(bl.ix.dedicated) {
		return bl.ix.dedicated[slot]
	}
	return ""
}

// allV3 reads every span of a v3 block.
func (bl *Block) allV3(ctx context.Context) ([]model.Span, error) {
	out := make([]model.Span, 0, bl.meta.SpanCount)
	r := bl.queryReader(ctx)
	for i := range bl.file.RowGroups() {
		rg := bl.rowGroup(i, r)
		spans, err := bl.readSpansV3(ctx, rg, i, 0, int(rg.NumRows()), nil)
		if err != nil {
			return nil, fmt.Errorf("block %s: %w", bl.meta.ID, err)
		}
		out = append(out, spans...)
	}
	return out, nil
}

// Traces reads several traces of the block and calls fn with each one's
// spans (traces the block does not hold are skipped; an ID given twice is
// read once), in no particular order. The traces of one row group are
// read together, in one pass over each column's pages that hold them and
// one read of its dictionary, instead of one read per trace: a search
// that evaluates many candidate traces reads them so.
func (bl *Block) Traces(ctx context.Context, ids []model.TraceID, fn func(id model.TraceID, spans []model.Span) error) error {
	if bl.ix.version < FormatV3 {
		done := map[model.TraceID]bool{}
		for _, id := range ids {
			if done[id] {
				continue
			}
			done[id] = true
			spans, err := bl.Trace(ctx, id)
			if err != nil {
				return err
			}
			if len(spans) > 0 {
				if err := fn(id, spans); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var entries []traceEntry
	seen := map[model.TraceID]bool{}
	for _, id := range ids {
		if seen[id] || !bl.MayContain(id) {
			continue
		}
		seen[id] = true
		e, ok, err := bl.lookupTrace(ctx, id)
		if err != nil {
			return fmt.Errorf("block %s: trace %s: %w", bl.meta.ID, id, err)
		}
		if ok {
			entries = append(entries, e)
		}
	}
	slices.SortFunc(entries, func(a, b traceEntry) int { return cmp.Compare(a.row, b.row) })
	for len(entries) > 0 {
		rgi := sortSearch(len(bl.rgFirst), func(k int) bool { return bl.rgFirst[k] > entries[0].row }) - 1
		if rgi < 0 {
			return fmt.Errorf("block %s: %w: trace row %d before the first row group", bl.meta.ID, ErrCorrupt, entries[0].row)
		}
		first, end := bl.rgFirst[rgi], bl.rgFirst[rgi]+bl.ix.rowGroups[rgi].rows
		k := 0
		var ranges []rowRange
		for k < len(entries) && entries[k].row < end {
			e := &entries[k]
			if e.row+e.spans > end {
				return fmt.Errorf("block %s: %w: trace rows cross a row group", bl.meta.ID, ErrCorrupt)
			}
			ranges = append(ranges, rowRange{e.row - first, int(e.spans)})
			k++
		}
		group := entries[:k]
		entries = entries[k:]
		spans, err := bl.readTracesV3(ctx, bl.rowGroup(rgi, bl.queryReader(ctx)), rgi, ranges, group)
		if err != nil {
			return fmt.Errorf("block %s: %w", bl.meta.ID, err)
		}
		off := 0
		for j, rr := range ranges {
			if err := fn(group[j].id, spans[off:off+rr.n:off+rr.n]); err != nil {
				return err
			}
			off += rr.n
		}
	}
	return nil
}
