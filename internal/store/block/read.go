package block

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"

	"github.com/parquet-go/parquet-go"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
)

// Block is an opened block. Its methods are safe for concurrent use: the
// in-memory index is read-only and every read opens its own page readers.
type Block struct {
	meta     Meta
	ix       *index
	file     *parquet.File
	rgFirst  []int64 // first global row of each row group
	cols     columns
	services []string // service name of each resource, for Scan
	// tableKeys: the attribute keys some resource or scope answers to
	// (MayMatch, RuledOut).
	tableKeys keySet

	data      objstore.Reader // the data object; queries read it with their own context
	traces    objstore.Reader // v3: traces.bin; nil before v3
	bucket    objstore.Bucket // where summaries.bin is opened, on first use
	sums      summaries       // v6: summaries.bin
	filters   pairFilters     // v7: filters.bin
	closeOnce sync.Once
	closeErr  error
}

// Open reads a block's meta and index and the Parquet footer; ctx bounds
// those reads. Column data is read lazily by each query, bounded by the
// query's own context.
func Open(ctx context.Context, b objstore.Bucket, id string) (*Block, error) {
	if !validID(id) {
		return nil, fmt.Errorf("open block %q: invalid ID", id)
	}
	meta, err := readMeta(ctx, b, id)
	if err != nil {
		return nil, err
	}
	raw, err := objstore.ReadAll(ctx, b, id+"/"+indexName)
	if err != nil {
		return nil, fmt.Errorf("open block %s: %w", id, err)
	}
	ix, err := decodeIndex(raw)
	if err != nil {
		return nil, fmt.Errorf("open block %s: %w", id, err)
	}
	data, err := b.Open(ctx, id+"/"+dataName)
	if err != nil {
		return nil, fmt.Errorf("open block %s: %w", id, err)
	}
	// Reads that fail to fetch bytes are told apart from bytes that do not
	// decode (objstore.ErrRead): the store retries the first and treats the
	// second as damage.
	data = objstore.MarkReads(data)
	// The File keeps this reader for reads that no query asked for; they
	// happen only here, while the footer is read, so Open's ctx bounds them.
	// Of the page index, only the offset indexes are read (loadOffsetIndexes).
	f, err := parquet.OpenFile(objstore.ReaderAt(ctx, data), data.Size(), parquet.ReadBufferSize(readBuffer), parquet.SkipPageIndex(true))
	if err != nil {
		_ = data.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("open block %s: %w", id, ctx.Err())
		}
		return nil, fmt.Errorf("open block %s: %w: %v", id, ErrCorrupt, err)
	}
	loadOffsetIndexes(f, objstore.ReaderAt(ctx, data), data.Size())
	bl := &Block{meta: meta, ix: ix, file: f, data: data, bucket: b}
	if ix.version != meta.Version {
		_ = bl.Close()
		return nil, fmt.Errorf("open block %s: %w: index version %d, meta version %d", id, ErrCorrupt, ix.version, meta.Version)
	}
	if ix.version == FormatV3 {
		ix.traceBase = meta.MinStartUnixNano
	}
	if meta.Version >= FormatV3 {
		if bl.traces, err = b.Open(ctx, id+"/"+tracesName); err != nil {
			_ = bl.Close()
			return nil, fmt.Errorf("open block %s: %w", id, err)
		}
		bl.traces = objstore.MarkReads(bl.traces)
		if bl.traces.Size() != ix.tracesSize {
			_ = bl.Close()
			return nil, fmt.Errorf("open block %s: %w: %s has %d bytes, index says %d", id, ErrCorrupt, tracesName, bl.traces.Size(), ix.tracesSize)
		}
	}
	if err := bl.check(); err != nil {
		_ = bl.Close()
		return nil, fmt.Errorf("open block %s: %w", id, err)
	}
	return bl, nil
}

// readBuffer is how much parquet-go reads ahead per column chunk. Trace
// reads touch one page of each column, so it is kept near a page's
// compressed size.
const readBuffer = 16 << 10

// rowGroup returns row group i of the data file with its column chunks
// reading through r, so every page a query reads is bounded by the query's
// context (and goes through whatever r coalesces or caches).
func (bl *Block) rowGroup(i int, r io.ReaderAt) parquet.RowGroup {
	rg := bl.file.RowGroups()[i]
	chunks := rg.ColumnChunks()
	wrapped := make([]parquet.ColumnChunk, len(chunks))
	for j, c := range chunks {
		wrapped[j] = readerChunk{c.(*parquet.FileColumnChunk), r}
	}
	return readerRowGroup{rg, wrapped}
}

// queryReader is the data object seen through ctx.
func (bl *Block) queryReader(ctx context.Context) io.ReaderAt { return objstore.ReaderAt(ctx, bl.data) }

type readerRowGroup struct {
	parquet.RowGroup
	chunks []parquet.ColumnChunk
}

func (g readerRowGroup) ColumnChunks() []parquet.ColumnChunk { return g.chunks }
func (g readerRowGroup) Rows() parquet.Rows                  { return parquet.NewRowGroupRowReader(g) }

type readerChunk struct {
	*parquet.FileColumnChunk
	r io.ReaderAt
}

func (c readerChunk) Pages() parquet.Pages { return c.PagesFrom(c.r) }

// loadOffsetIndexes reads the offset index of every column chunk (where
// each page starts, and its first row), so that seeking a chunk's pages to
// a row reads only the page that holds it. Blocks are opened without
// parquet-go's page index (SkipPageIndex), which would also decode every
// chunk's column index — page statistics, which Clew does not write and
// never reads — and held ~180 KB of a 200k-span block's ~330 KB footer
// (~90 MB at 100 M stored spans); the offset indexes alone take ~30 KB. The
// writer lays them out together, so they are read with one read. Failing
// here is not fatal: offsetIndex loads a missing one on first use, and a chunk
// without one still seeks, by reading its pages from the start.
func loadOffsetIndexes(f *parquet.File, r io.ReaderAt, size int64) {
	lo, hi := int64(math.MaxInt64), int64(0)
	for _, rg := range f.Metadata().RowGroups {
		for _, c := range rg.Columns {
			if c.OffsetIndexOffset > 0 && c.OffsetIndexLength > 0 {
				lo, hi = min(lo, c.OffsetIndexOffset), max(hi, c.OffsetIndexOffset+int64(c.OffsetIndexLength))
			}
		}
	}
	if hi <= lo || hi > size || hi-lo > maxOffsetIndexes {
		return
	}
	buf := make([]byte, hi-lo)
	if _, err := r.ReadAt(buf, lo); err != nil && !errors.Is(err, io.EOF) {
		return
	}
	from := offsetReader{buf: buf, base: lo}
	for _, rg := range f.RowGroups() {
		for _, c := range rg.ColumnChunks() {
			if fc, ok := c.(*parquet.FileColumnChunk); ok {
				_, _ = fc.OffsetIndexFrom(from)
			}
		}
	}
}

// maxOffsetIndexes bounds the read loadOffsetIndexes makes (a corrupt
// footer cannot make it allocate more).
const maxOffsetIndexes = 64 << 20

// offsetReader reads from buf as if it sat at offset base of a file.
type offsetReader struct {
	buf  []byte
	base int64
}

func (o offsetReader) ReadAt(p []byte, off int64) (int, error) {
	if off < o.base || off-o.base > int64(len(o.buf)) {
		return 0, io.EOF
	}
	n := copy(p, o.buf[off-o.base:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// check ties the index to the data file so later lookups can trust it.
func (bl *Block) check() error {
	rgs := bl.file.RowGroups()
	if len(rgs) != len(bl.ix.rowGroups) {
		return fmt.Errorf("%w: %d row groups in data, %d in index", ErrCorrupt, len(rgs), len(bl.ix.rowGroups))
	}
	var row int64
	for i, rg := range rgs {
		if rg.NumRows() != bl.ix.rowGroups[i].rows {
			return fmt.Errorf("%w: row group %d size mismatch", ErrCorrupt, i)
		}
		bl.rgFirst = append(bl.rgFirst, row)
		row += rg.NumRows()
	}
	if row != int64(bl.meta.SpanCount) {
		return fmt.Errorf("%w: %d rows, meta says %d spans", ErrCorrupt, row, bl.meta.SpanCount)
	}
	cols, err := lookupColumns(bl.file.Schema(), bl.ix.version)
	if err != nil {
		return err
	}
	bl.cols = cols
	bl.services = make([]string, len(bl.ix.resources))
	for i, r := range bl.ix.resources {
		bl.services[i] = r.ServiceName
		if bl.services[i] == "" {
			bl.services[i] = model.UnknownService
		}
	}
	bl.tableKeys = tableKeys(bl.ix)
	return nil
}

// Meta returns the block's meta.
func (bl *Block) Meta() Meta { return bl.meta }

// MaxStart is the newest span start in the block (the meta's
// MaxStartUnixNano, without copying the meta).
func (bl *Block) MaxStart() int64 { return bl.meta.MaxStartUnixNano }

// Close releases the data object's reader (a file descriptor for a local
// bucket). The Block must not be used afterwards.
func (bl *Block) Close() error {
	bl.closeOnce.Do(func() {
		bl.closeErr = bl.data.Close()
		if bl.traces != nil {
			if err := bl.traces.Close(); bl.closeErr == nil {
				bl.closeErr = err
			}
		}
		bl.sums.mu.Lock()
		if bl.sums.r != nil {
			if err := bl.sums.r.Close(); bl.closeErr == nil {
				bl.closeErr = err
			}
			bl.sums.r = nil
		}
		bl.sums.err = errClosed
		bl.sums.mu.Unlock()
		if err := bl.closePairFilters(); bl.closeErr == nil {
			bl.closeErr = err
		}
	})
	return bl.closeErr
}

// MayContain reports whether the block may hold spans of the trace. False
// is certain; true is wrong about 1% of the time.
func (bl *Block) MayContain(id model.TraceID) bool { return bl.ix.mayContain(id) }

// Trace returns every span of the trace in the block, sorted by start, or
// nil. Spans share *Resource and *Scope values with other spans of the
// block; they must not be modified.
func (bl *Block) Trace(ctx context.Context, id model.TraceID) ([]model.Span, error) {
	if !bl.MayContain(id) {
		return nil, nil
	}
	if bl.ix.version >= FormatV3 {
		spans, err := bl.traceV3(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("block %s: trace %s: %w", bl.meta.ID, id, err)
		}
		return spans, nil
	}
	g := bl.ix.granules
	// Last granule whose first trace ID is <= id.
	i := sortSearch(len(g), func(i int) bool { return bytes.Compare(g[i].first[:], id[:]) > 0 }) - 1
	if i < 0 {
		return nil, nil
	}
	from := g[i].row
	to := int64(bl.meta.SpanCount)
	if i+1 < len(g) {
		to = g[i+1].row
	}
	rgi := sortSearch(len(bl.rgFirst), func(k int) bool { return bl.rgFirst[k] > from }) - 1
	rg := bl.rowGroup(rgi, bl.queryReader(ctx))
	local := from - bl.rgFirst[rgi]
	rows, err := bl.readRows(ctx, rg, local, int(to-from), func(r *spanRow) bool { return r.TraceID == id })
	if err != nil {
		return nil, fmt.Errorf("block %s: trace %s: %w", bl.meta.ID, id, err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return bl.toSpans(rows), nil
}

func sortSearch(n int, f func(int) bool) int {
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if !f(m) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// readRows reads n rows from row `from` of the row group, keeping those
// keep accepts (all if keep is nil).
func (bl *Block) readRows(ctx context.Context, rg parquet.RowGroup, from int64, n int, keep func(*spanRow) bool) ([]spanRow, error) {
	if from > 0 {
		for _, c := range rg.ColumnChunks() {
			_ = offsetIndex(c) // loaded and kept, so the reader seeks with it
		}
	}
	r := parquet.NewGenericRowGroupReader[spanRow](rg)
	defer r.Close()
	if from > 0 {
		if err := r.SeekToRow(from); err != nil {
			return nil, err
		}
	}
	buf := make([]spanRow, min(n, 1024))
	var out []spanRow
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		k, err := r.Read(buf[:min(n, len(buf))])
		for i := range buf[:k] {
			if keep == nil || keep(&buf[i]) {
				out = append(out, buf[i])
			}
		}
		n -= k
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if k == 0 {
			return nil, fmt.Errorf("%w: short row group", ErrCorrupt)
		}
	}
	return out, nil
}

// All returns every span in the block, in (trace ID, start) order. It is
// meant for compaction and tests; queries use Trace and Scan.
func (bl *Block) All(ctx context.Context) ([]model.Span, error) {
	if bl.ix.version >= FormatV3 {
		return bl.allV3(ctx)
	}
	out := make([]model.Span, 0, bl.meta.SpanCount)
	r := bl.queryReader(ctx)
	for i := range bl.file.RowGroups() {
		rg := bl.rowGroup(i, r)
		rows, err := bl.readRows(ctx, rg, 0, int(rg.NumRows()), nil)
		if err != nil {
			return nil, fmt.Errorf("block %s: %w", bl.meta.ID, err)
		}
		out = append(out, bl.toSpans(rows)...)
	}
	return out, nil
}

// toSpans converts rows of whole traces (each trace's rows contiguous and
// complete, as Trace and All read them) back to spans.
func (bl *Block) toSpans(rows []spanRow) []model.Span {
	out := make([]model.Span, len(rows))
	traceFirst := 0
	for i := range rows {
		r := &rows[i]
		if i > 0 && r.TraceID != rows[i-1].TraceID {
			traceFirst = i
		}
		s := &out[i]
		s.TraceID = r.TraceID
		s.SpanID = r.SpanID
		switch {
		case r.ParentIndex >= 0 && traceFirst+int(r.ParentIndex) < len(rows):
			s.ParentSpanID = rows[traceFirst+int(r.ParentIndex)].SpanID
		case r.ParentIndex == parentExplicit:
			copy(s.ParentSpanID[:], r.ParentID)
		}
		s.TraceState = r.TraceState
		s.Flags = uint32(r.Flags)
		s.Name = r.Name
		s.Kind = model.SpanKind(r.Kind)
		s.StartUnixNano = r.TraceStart + r.StartOffset
		s.EndUnixNano = s.StartUnixNano + r.Duration
		s.StatusCode = model.StatusCode(r.StatusCode)
		s.StatusMessage = r.StatusMessage
		s.Attributes = r.spanAttrs(bl.ix.dedicated)
		s.DroppedAttributesCount = uint32(r.DroppedAttrs)
		s.DroppedEventsCount = uint32(r.DroppedEvents)
		s.DroppedLinksCount = uint32(r.DroppedLinks)
		if len(r.Events) > 0 {
			s.Events = make([]model.Event, len(r.Events))
			for j, e := range r.Events {
				s.Events[j] = model.Event{
					TimeUnixNano:           s.StartUnixNano + e.TimeOffset,
					Name:                   e.Name,
					Attributes:             decodeAttrs(e.Attrs),
					DroppedAttributesCount: uint32(e.Dropped),
				}
			}
		}
		if len(r.Links) > 0 {
			s.Links = make([]model.Link, len(r.Links))
			for j, l := range r.Links {
				ml := &s.Links[j]
				copy(ml.TraceID[:], l.TraceID)
				copy(ml.SpanID[:], l.SpanID)
				ml.TraceState = l.TraceState
				ml.Flags = uint32(l.Flags)
				ml.DroppedAttributesCount = uint32(l.Dropped)
				ml.Attributes = decodeAttrs(l.Attrs)
			}
		}
		s.Resource = bl.resource(r.Resource)
		s.Scope = bl.scope(r.Scope)
	}
	return out
}

func (bl *Block) resource(i int32) *model.Resource {
	if i >= 0 && int(i) < len(bl.ix.resources) {
		return bl.ix.resources[i]
	}
	return emptyResource
}

func (bl *Block) scope(i int32) *model.Scope {
	if i >= 0 && int(i) < len(bl.ix.scopes) {
		return bl.ix.scopes[i]
	}
	return emptyScope
}

// Compact merges blocks into one new block of the given compaction level
// (at least one above the highest input), dropping exact duplicate spans
// (same trace ID, span ID and content; spans that share IDs but differ are
// both kept) and summing service-graph edges. The new block's meta lists
// every block it was made from (Meta.Compacted), so that inputs a crash
// left behind can be recognised and deleted. The inputs are left in place:
// the caller deletes them once the new block is visible. Everything is
// held in memory.
func Compact(ctx context.Context, b objstore.Bucket, inputs []*Block, level int) (Meta, error) {
	if len(inputs) == 0 {
		return Meta{}, fmt.Errorf("compact: no input blocks")
	}
	total := 0
	var compacted []string
	for _, in := range inputs {
		level = max(level, in.meta.CompactionLevel+1)
		total += in.meta.SpanCount
		compacted = append(compacted, in.meta.ID)
		compacted = append(compacted, in.meta.Compacted...)
	}
	slices.Sort(compacted)
	compacted = slices.Compact(compacted)
	spans := make([]model.Span, 0, total)
	edges := map[[2]string]Edge{}
	var edgeOrder [][2]string
	for _, in := range inputs {
		all, err := in.All(ctx)
		if err != nil {
			return Meta{}, fmt.Errorf("compact: %w", err)
		}
		spans = append(spans, all...)
		for _, e := range in.meta.Edges {
			k := [2]string{e.Parent, e.Child}
			cur, ok := edges[k]
			if !ok {
				edgeOrder = append(edgeOrder, k)
				cur = Edge{Parent: e.Parent, Child: e.Child}
			}
			cur.Calls += e.Calls
			cur.Errors += e.Errors
			edges[k] = cur
		}
	}
	spans = dedupe(spans)
	merged := make([]Edge, 0, len(edgeOrder))
	for _, k := range edgeOrder {
		merged = append(merged, edges[k])
	}
	m, err := write(ctx, b, spans, merged, level, compacted)
	if err != nil {
		return Meta{}, fmt.Errorf("compact: %w", err)
	}
	return m, nil
}

// dedupe drops spans that equal an earlier span with the same IDs.
func dedupe(spans []model.Span) []model.Span {
	type id struct {
		t model.TraceID
		s model.SpanID
	}
	seen := make(map[id][]int, len(spans))
	out := spans[:0]
	for i := range spans {
		k := id{spans[i].TraceID, spans[i].SpanID}
		dup := slices.ContainsFunc(seen[k], func(j int) bool { return spanEqual(&out[j], &spans[i]) })
		if dup {
			continue
		}
		seen[k] = append(seen[k], len(out))
		out = append(out, spans[i])
	}
	return out
}
