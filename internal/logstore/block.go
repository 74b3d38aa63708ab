package logstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/segment"
)

// A log block is three objects under "<id>/": data.parquet (one row per
// record, sorted by time), traces.bloom (a bloom filter of the trace IDs, in
// bits-and-blooms' binary form) and meta.json, written last: a block without
// meta.json is incomplete. IDs, listing, deletion order and the lifecycle
// are package segment's, shared with trace blocks.
const (
	blockFormatV1     = 1
	blockFormatLatest = blockFormatV1

	metaName  = segment.MetaName
	dataName  = "data.parquet"
	bloomName = "traces.bloom"

	// Row groups are what a search skips by time statistics. Small groups
	// skip finely; the cost is a larger footer.
	rowGroupRows = 8192
	writeBatch   = 1024
	bloomFPRate  = 0.01
	readBuffer   = 64 << 10
)

// blockMeta is meta.json. CompactionLevel and Compacted were added with
// log compaction; blocks written before have neither (level 0, merged
// from nothing), and versions before ignore them.
type blockMeta struct {
	ID              string   `json:"id"`
	Version         int      `json:"version"`
	MinTimeUnixNano int64    `json:"minTimeUnixNano"`
	MaxTimeUnixNano int64    `json:"maxTimeUnixNano"`
	RecordCount     int      `json:"recordCount"`
	TraceCount      int      `json:"traceCount"`
	Services        []string `json:"services"` // sorted
	Bytes           int64    `json:"bytes"`
	CreatedUnixNano int64    `json:"createdUnixNano"`
	CompactionLevel int      `json:"compactionLevel,omitempty"`
	Compacted       []string `json:"compacted,omitempty"` // sorted IDs of the blocks merged into this one
}

func (m *blockMeta) segmentMeta() segment.Meta {
	return segment.Meta{ID: m.ID, MinTime: m.MinTimeUnixNano, MaxTime: m.MaxTimeUnixNano, End: m.MaxTimeUnixNano,
		Count: m.RecordCount, Bytes: m.Bytes, Level: m.CompactionLevel, Compacted: m.Compacted, Created: m.CreatedUnixNano}
}

// logRow is one Parquet row. Columns repeated across many rows (service,
// scope, severity, resource attributes) are dictionary encoded; trace and
// span IDs are random, so a dictionary would not pay.
type logRow struct {
	Time           int64     `parquet:"time,delta"`
	ObservedTime   int64     `parquet:"observed_time,delta"`
	TraceID        [16]byte  `parquet:"trace_id"`
	SpanID         [8]byte   `parquet:"span_id"`
	SeverityNumber int32     `parquet:"severity_number,dict"`
	SeverityText   string    `parquet:"severity_text,dict"`
	Body           string    `parquet:"body"`
	Service        string    `parquet:"service,dict"`
	Scope          string    `parquet:"scope,dict"`
	Flags          int32     `parquet:"flags,dict"`
	EventName      string    `parquet:"event_name,dict"`
	Attrs          []attrRow `parquet:"attrs"`
	Resource       []attrRow `parquet:"resource"`
}

// attrRow stores a value as its type and its Value.String() text, which is
// what attribute search compares.
type attrRow struct {
	Key  string `parquet:"key,dict"`
	Type int32  `parquet:"type,dict"`
	Val  string `parquet:"val,dict"`
}

func toRow(r *Record) logRow {
	row := logRow{
		Time:           r.Time.UnixNano(),
		TraceID:        r.TraceID,
		SpanID:         r.SpanID,
		SeverityNumber: int32(r.SeverityNumber),
		SeverityText:   r.SeverityText,
		Body:           r.Body,
		Service:        r.ServiceName,
		Scope:          r.ScopeName,
		Flags:          int32(r.Flags),
		EventName:      r.EventName,
		Attrs:          toAttrRows(r.Attributes),
		Resource:       toAttrRows(r.ResourceAttributes),
	}
	if !r.ObservedTime.IsZero() {
		row.ObservedTime = r.ObservedTime.UnixNano()
	}
	return row
}

func toAttrRows(attrs []model.Attribute) []attrRow {
	if len(attrs) == 0 {
		return nil
	}
	out := make([]attrRow, len(attrs))
	for i, a := range attrs {
		out[i] = attrRow{Key: a.Key, Type: int32(a.Value.Type), Val: a.Value.String()}
	}
	return out
}

func fromRow(row *logRow) Record {
	r := Record{
		Time:               time.Unix(0, row.Time).UTC(),
		TraceID:            row.TraceID,
		SpanID:             row.SpanID,
		SeverityNumber:     int(row.SeverityNumber),
		SeverityText:       row.SeverityText,
		Body:               row.Body,
		ServiceName:        row.Service,
		ScopeName:          row.Scope,
		Flags:              uint32(row.Flags),
		EventName:          row.EventName,
		Attributes:         fromAttrRows(row.Attrs),
		ResourceAttributes: fromAttrRows(row.Resource),
	}
	if row.ObservedTime != 0 {
		r.ObservedTime = time.Unix(0, row.ObservedTime).UTC()
	}
	return r
}

func fromAttrRows(rows []attrRow) []model.Attribute {
	if len(rows) == 0 {
		return nil
	}
	out := make([]model.Attribute, len(rows))
	for i, a := range rows {
		out[i] = model.Attribute{Key: a.Key, Value: model.ParseValue(model.ValueType(a.Type), a.Val)}
	}
	return out
}

// writeBlock stores records as a new block of the given compaction level,
// merged from the compacted blocks, and returns its meta. recs is sorted in
// place by time.
func writeBlock(ctx context.Context, b objstore.Bucket, recs []Record, now time.Time, level int, compacted []string) (blockMeta, error) {
	if len(recs) == 0 {
		return blockMeta{}, errors.New("write log block: no records")
	}
	slices.SortStableFunc(recs, func(a, b Record) int { return a.Time.Compare(b.Time) })
	meta := blockMeta{
		ID:              segment.NewID(now),
		Version:         blockFormatLatest,
		MinTimeUnixNano: recs[0].Time.UnixNano(),
		MaxTimeUnixNano: recs[len(recs)-1].Time.UnixNano(),
		RecordCount:     len(recs),
		CreatedUnixNano: now.UnixNano(),
		CompactionLevel: level,
		Compacted:       compacted,
	}
	var data bytes.Buffer
	pw := parquet.NewGenericWriter[logRow](&data,
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedDefault}),
		parquet.MaxRowsPerRowGroup(rowGroupRows),
		parquet.CreatedBy("clew", "logstore", strconv.Itoa(blockFormatLatest)),
	)
	traces := map[model.TraceID]struct{}{}
	services := map[string]struct{}{}
	rows := make([]logRow, 0, writeBatch)
	for i := range recs {
		if !recs[i].TraceID.IsZero() {
			traces[recs[i].TraceID] = struct{}{}
		}
		services[recs[i].ServiceName] = struct{}{}
		rows = append(rows, toRow(&recs[i]))
		if len(rows) == cap(rows) || i == len(recs)-1 {
			if err := ctx.Err(); err != nil {
				return blockMeta{}, err
			}
			if _, err := pw.Write(rows); err != nil {
				return blockMeta{}, fmt.Errorf("write log block: %w", err)
			}
			rows = rows[:0]
		}
	}
	if err := pw.Close(); err != nil {
		return blockMeta{}, fmt.Errorf("write log block: %w", err)
	}
	filter := bloom.NewWithEstimates(uint(max(len(traces), 1)), bloomFPRate)
	for id := range traces {
		filter.Add(id[:])
	}
	var bl bytes.Buffer
	if _, err := filter.WriteTo(&bl); err != nil {
		return blockMeta{}, fmt.Errorf("write log block: bloom: %w", err)
	}
	meta.TraceCount = len(traces)
	for s := range services {
		meta.Services = append(meta.Services, s)
	}
	slices.Sort(meta.Services)
	meta.Bytes = int64(data.Len() + bl.Len())

	prefix := meta.ID + "/"
	written := false
	defer func() {
		if !written { // leave no half-written block behind (best effort; a crash leaves one for Open)
			_ = segment.Delete(context.WithoutCancel(ctx), b, meta.ID)
		}
	}()
	if err := b.Put(ctx, prefix+dataName, &data); err != nil {
		return blockMeta{}, fmt.Errorf("write log block %s: %w", meta.ID, err)
	}
	if err := b.Put(ctx, prefix+bloomName, &bl); err != nil {
		return blockMeta{}, fmt.Errorf("write log block %s: %w", meta.ID, err)
	}
	mj, err := json.Marshal(meta)
	if err != nil {
		return blockMeta{}, fmt.Errorf("write log block %s: %w", meta.ID, err)
	}
	if err := b.Put(ctx, prefix+metaName, bytes.NewReader(mj)); err != nil {
		return blockMeta{}, fmt.Errorf("write log block %s: %w", meta.ID, err)
	}
	written = true
	return meta, nil
}

// logBlock is an opened block: meta and bloom filter in memory, the Parquet
// footer read, column data read on demand, each read bounded by the
// context of the query that makes it.
type logBlock struct {
	meta      blockMeta
	bloom     *bloom.BloomFilter
	file      *parquet.File
	data      objstore.Reader
	timeCol   int
	traceCol  int
	closeOnce sync.Once
	closeErr  error
}

func (lb *logBlock) SegmentMeta() segment.Meta { return lb.meta.segmentMeta() }

// Close releases the data object's reader (a file descriptor for a local
// bucket).
func (lb *logBlock) Close() error {
	lb.closeOnce.Do(func() { lb.closeErr = lb.data.Close() })
	return lb.closeErr
}

func readMeta(ctx context.Context, b objstore.Bucket, id string) (blockMeta, error) {
	raw, err := objstore.ReadAll(ctx, b, id+"/"+metaName)
	if err != nil {
		return blockMeta{}, fmt.Errorf("log block %s: %w", id, err)
	}
	var meta blockMeta
	if err := json.Unmarshal(raw, &meta); err != nil {
		return blockMeta{}, fmt.Errorf("log block %s: %w: meta: %v", id, segment.ErrDamaged, err)
	}
	if meta.Version < blockFormatV1 || meta.Version > blockFormatLatest {
		return blockMeta{}, fmt.Errorf("log block %s: %w: unsupported format version %d", id, segment.ErrDamaged, meta.Version)
	}
	if meta.ID != id || meta.RecordCount < 0 {
		return blockMeta{}, fmt.Errorf("log block %s: %w: meta names block %q with %d records", id, segment.ErrDamaged, meta.ID, meta.RecordCount)
	}
	return meta, nil
}

// failedReads remembers whether a read through it failed: a Parquet error
// after a failed read is the bucket's fault, otherwise the bytes'.
type failedReads struct {
	r      io.ReaderAt
	failed atomic.Bool
}

func (f *failedReads) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.r.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		f.failed.Store(true)
	}
	return n, err
}

// readErr explains a failed read of the block through r: the query's
// context ended, the bucket failed to deliver bytes, or (neither) the bytes
// do not decode, which is damage (segment.ErrDamaged).
func (lb *logBlock) readErr(ctx context.Context, r *failedReads, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case r.failed.Load() || errors.Is(err, segment.ErrDamaged):
		return fmt.Errorf("log block %s: %w", lb.meta.ID, err)
	}
	return fmt.Errorf("log block %s: %w: %v", lb.meta.ID, segment.ErrDamaged, err)
}

// openParquet opens a data object; ctx bounds only the footer's reads.
func openParquet(ctx context.Context, b objstore.Bucket, id string) (*parquet.File, objstore.Reader, error) {
	data, err := b.Open(ctx, id+"/"+dataName)
	if err != nil {
		return nil, nil, fmt.Errorf("log block %s: %w", id, err)
	}
	fr := &failedReads{r: objstore.ReaderAt(ctx, data)}
	f, err := parquet.OpenFile(fr, data.Size(), parquet.ReadBufferSize(readBuffer))
	if err != nil {
		_ = data.Close()
		if fr.failed.Load() || ctx.Err() != nil {
			return nil, nil, fmt.Errorf("log block %s: %w", id, err)
		}
		return nil, nil, fmt.Errorf("log block %s: %w: %v", id, segment.ErrDamaged, err)
	}
	return f, data, nil
}

// openBlock opens a block; ctx bounds the open only.
func openBlock(ctx context.Context, b objstore.Bucket, id string) (*logBlock, error) {
	meta, err := readMeta(ctx, b, id)
	if err != nil {
		return nil, err
	}
	raw, err := objstore.ReadAll(ctx, b, id+"/"+bloomName)
	if err != nil {
		return nil, fmt.Errorf("log block %s: %w", id, err)
	}
	filter := &bloom.BloomFilter{}
	if _, err := filter.ReadFrom(bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("log block %s: %w: bloom: %v", id, segment.ErrDamaged, err)
	}
	f, data, err := openParquet(ctx, b, id)
	if err != nil {
		return nil, err
	}
	if f.NumRows() != int64(meta.RecordCount) {
		_ = data.Close()
		return nil, fmt.Errorf("log block %s: %w: %d rows, meta says %d", id, segment.ErrDamaged, f.NumRows(), meta.RecordCount)
	}
	lb := &logBlock{meta: meta, bloom: filter, file: f, data: data}
	for name, dst := range map[string]*int{"time": &lb.timeCol, "trace_id": &lb.traceCol} {
		leaf, ok := f.Schema().Lookup(name)
		if !ok {
			_ = data.Close()
			return nil, fmt.Errorf("log block %s: %w: data lacks column %s", id, segment.ErrDamaged, name)
		}
		*dst = leaf.ColumnIndex
	}
	return lb, nil
}

// reader is the data object seen through ctx, so every page a query reads
// is bounded by the query's context.
func (lb *logBlock) reader(ctx context.Context) *failedReads {
	return &failedReads{r: objstore.ReaderAt(ctx, lb.data)}
}

// rowGroup returns row group i with its column chunks reading through r.
func (lb *logBlock) rowGroup(i int, r io.ReaderAt) parquet.RowGroup {
	rg := lb.file.RowGroups()[i]
	chunks := rg.ColumnChunks()
	wrapped := make([]parquet.ColumnChunk, len(chunks))
	for j, c := range chunks {
		wrapped[j] = readerChunk{c.(*parquet.FileColumnChunk), r}
	}
	return readerRowGroup{rg, wrapped}
}

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

// mayMatch decides from memory alone whether the block needs reading.
func (lb *logBlock) mayMatch(m *matcher) bool {
	if !m.overlaps(lb.meta.MinTimeUnixNano, lb.meta.MaxTimeUnixNano) {
		return false
	}
	if m.q.Service != "" {
		if _, found := slices.BinarySearch(lb.meta.Services, m.q.Service); !found {
			return false
		}
	}
	return m.q.TraceID == nil || lb.bloom.Test(m.q.TraceID[:])
}

// search calls fn with every record matching m, oldest first, skipping row
// groups whose time statistics rule them out.
func (lb *logBlock) search(ctx context.Context, m *matcher, fn func(*Record)) error {
	if !lb.mayMatch(m) {
		return nil
	}
	buf := make([]logRow, 256)
	r := lb.reader(ctx)
	for i, rg := range lb.file.RowGroups() {
		if c, ok := rg.ColumnChunks()[lb.timeCol].(*parquet.FileColumnChunk); ok {
			if lo, hi, ok := c.Bounds(); ok && !m.overlaps(lo.Int64(), hi.Int64()) {
				continue
			}
		}
		if err := readRowGroup(ctx, lb.rowGroup(i, r), buf, func(row *logRow) {
			rec := fromRow(row)
			if m.match(&rec) {
				fn(&rec)
			}
		}); err != nil {
			return lb.readErr(ctx, r, err)
		}
	}
	return nil
}

// all returns every record of the block, oldest first.
func (lb *logBlock) all(ctx context.Context) ([]Record, error) {
	out := make([]Record, 0, lb.meta.RecordCount)
	buf := make([]logRow, 256)
	r := lb.reader(ctx)
	for i := range lb.file.RowGroups() {
		if err := readRowGroup(ctx, lb.rowGroup(i, r), buf, func(row *logRow) { out = append(out, fromRow(row)) }); err != nil {
			return nil, lb.readErr(ctx, r, err)
		}
	}
	return out, nil
}

func readRowGroup(ctx context.Context, rg parquet.RowGroup, buf []logRow, fn func(*logRow)) error {
	r := parquet.NewGenericRowGroupReader[logRow](rg)
	defer r.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		clear(buf) // the reader appends to repeated fields
		n, err := r.Read(buf)
		for i := range buf[:n] {
			fn(&buf[i])
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: short row group", segment.ErrDamaged)
		}
	}
}

// countTraces adds to counts the number of records of each wanted trace,
// reading only the trace_id column.
func (lb *logBlock) countTraces(ctx context.Context, want map[model.TraceID]struct{}, counts map[model.TraceID]int) error {
	maybe := false
	for id := range want {
		if lb.bloom.Test(id[:]) {
			maybe = true
			break
		}
	}
	if !maybe {
		return nil
	}
	vals := make([]parquet.Value, 1024)
	r := lb.reader(ctx)
	for i := range lb.file.RowGroups() {
		if err := countChunk(ctx, lb.rowGroup(i, r).ColumnChunks()[lb.traceCol], vals, want, counts); err != nil {
			return lb.readErr(ctx, r, err)
		}
	}
	return nil
}

func countChunk(ctx context.Context, chunk parquet.ColumnChunk, vals []parquet.Value, want map[model.TraceID]struct{}, counts map[model.TraceID]int) error {
	pages := chunk.Pages()
	defer pages.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		vr := p.Values()
		for {
			n, err := vr.ReadValues(vals)
			for _, v := range vals[:n] {
				var id model.TraceID
				if copy(id[:], v.ByteArray()) != len(id) {
					continue
				}
				if _, ok := want[id]; ok {
					counts[id]++
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				parquet.Release(p)
				return err
			}
		}
		parquet.Release(p)
	}
}

// format is the log store's side of the segment lifecycle.
type format struct{ now func() time.Time }

var _ segment.Format[Record, *head, *logBlock] = format{}

func (f format) NewHead(now time.Time) *head { return newHead(now) }

func (format) Decode(rec []byte) ([]Record, error) { return decodeRecord(rec) }

func (f format) Write(ctx context.Context, b objstore.Bucket, h *head, level int) (string, error) {
	m, err := writeBlock(ctx, b, h.records(), f.now(), level, nil)
	return m.ID, err
}

func (format) Open(ctx context.Context, b objstore.Bucket, id string) (*logBlock, error) {
	return openBlock(ctx, b, id)
}

func (format) ReadMeta(ctx context.Context, b objstore.Bucket, id string) (segment.Meta, error) {
	m, err := readMeta(ctx, b, id)
	if err != nil {
		return segment.Meta{}, err
	}
	return m.segmentMeta(), nil
}

// Compact merges whole blocks in memory: the lifecycle merges at most
// BlockMaxRecords records at a time, about one head's worth.
func (f format) Compact(ctx context.Context, b objstore.Bucket, inputs []*logBlock, level int) (string, error) {
	var recs []Record
	ids := make([]string, 0, len(inputs))
	for _, in := range inputs {
		got, err := in.all(ctx)
		if err != nil {
			return "", err
		}
		recs = append(recs, got...)
		ids = append(ids, in.meta.ID)
	}
	slices.Sort(ids)
	m, err := writeBlock(ctx, b, recs, f.now(), level, ids)
	return m.ID, err
}

func (format) Damaged(err error) bool {
	return errors.Is(err, segment.ErrDamaged) || errors.Is(err, parquet.ErrCorrupted)
}

// Verify reads every row group; the rows of those that do not decode are
// lost.
func (f format) Verify(ctx context.Context, lb *logBlock) ([]Record, int, error) {
	var rest []Record
	lost := 0
	buf := make([]logRow, 256)
	for i, rg := range lb.file.RowGroups() {
		var got []Record
		r := lb.reader(ctx)
		err := func() (err error) {
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("%w: decoder panic: %v", segment.ErrDamaged, p)
				}
			}()
			if err := readRowGroup(ctx, lb.rowGroup(i, r), buf, func(row *logRow) { got = append(got, fromRow(row)) }); err != nil {
				return lb.readErr(ctx, r, err)
			}
			return nil
		}()
		switch {
		case err == nil:
			rest = append(rest, got...)
		case ctx.Err() == nil && f.Damaged(err):
			lost += int(rg.NumRows())
		default:
			return nil, 0, err
		}
	}
	return rest, lost, nil
}

// Salvage reads the data object of a block whose meta.json is missing.
func (format) Salvage(ctx context.Context, b objstore.Bucket, id string) ([]Record, error) {
	f, data, err := openParquet(ctx, b, id)
	if err != nil {
		return nil, err
	}
	lb := &logBlock{meta: blockMeta{ID: id}, file: f, data: data}
	defer lb.Close()
	return lb.all(ctx)
}
