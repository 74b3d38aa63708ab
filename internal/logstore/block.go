package logstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/store/block"
)

// A log block is three objects under "<id>/": data.parquet (one row per
// record, sorted by time), traces.bloom (a bloom filter of the trace IDs, in
// bits-and-blooms' binary form) and meta.json, written last: a block without
// meta.json is incomplete and is deleted at Open. The ID and the deletion
// order are those of trace blocks, so block.NewID, block.Delete and
// block.Incomplete are reused.
const (
	blockFormatV1     = 1
	blockFormatLatest = blockFormatV1

	metaName  = "meta.json"
	dataName  = "data.parquet"
	bloomName = "traces.bloom"

	// Row groups are what a search skips by time statistics. Small groups
	// skip finely; the cost is a larger footer.
	rowGroupRows = 8192
	writeBatch   = 1024
	bloomFPRate  = 0.01
)

// blockMeta is meta.json.
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

// writeBlock stores records as a new block and returns its meta. recs is
// sorted in place by time.
func writeBlock(ctx context.Context, b objstore.Bucket, recs []Record, now time.Time) (blockMeta, error) {
	if len(recs) == 0 {
		return blockMeta{}, errors.New("write log block: no records")
	}
	slices.SortStableFunc(recs, func(a, b Record) int { return a.Time.Compare(b.Time) })
	meta := blockMeta{
		ID:              block.NewID(now),
		Version:         blockFormatLatest,
		MinTimeUnixNano: recs[0].Time.UnixNano(),
		MaxTimeUnixNano: recs[len(recs)-1].Time.UnixNano(),
		RecordCount:     len(recs),
		CreatedUnixNano: now.UnixNano(),
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
	return meta, nil
}

// logBlock is an opened block: meta and bloom filter in memory, the Parquet
// footer read, column data read on demand.
type logBlock struct {
	meta     blockMeta
	bloom    *bloom.BloomFilter
	file     *parquet.File
	timeCol  int
	traceCol int
}

// listBlocks returns the IDs of complete blocks, oldest first.
func listBlocks(ctx context.Context, b objstore.Bucket) ([]string, error) {
	var ids []string
	err := b.List(ctx, "", func(name string) error {
		if id, ok := strings.CutSuffix(name, "/"+metaName); ok && !strings.Contains(id, "/") {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list log blocks: %w", err)
	}
	slices.Sort(ids)
	return ids, nil
}

// openBlock opens a block. ctx bounds every later read of the block, so it
// must live as long as the block (see Store.openBlock).
func openBlock(ctx context.Context, b objstore.Bucket, id string) (*logBlock, error) {
	raw, err := objstore.ReadAll(ctx, b, id+"/"+metaName)
	if err != nil {
		return nil, fmt.Errorf("open log block %s: %w", id, err)
	}
	var meta blockMeta
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("open log block %s: meta: %w", id, err)
	}
	if meta.Version < blockFormatV1 || meta.Version > blockFormatLatest {
		return nil, fmt.Errorf("open log block %s: unsupported format version %d", id, meta.Version)
	}
	if meta.ID != id {
		return nil, fmt.Errorf("open log block %s: meta names block %q", id, meta.ID)
	}
	raw, err = objstore.ReadAll(ctx, b, id+"/"+bloomName)
	if err != nil {
		return nil, fmt.Errorf("open log block %s: %w", id, err)
	}
	filter := &bloom.BloomFilter{}
	if _, err := filter.ReadFrom(bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("open log block %s: bloom: %w", id, err)
	}
	// The reader is not closed when a block is dropped: a local bucket's
	// descriptor is released by the *os.File finaliser, remote readers
	// hold nothing.
	data, err := b.Open(ctx, id+"/"+dataName)
	if err != nil {
		return nil, fmt.Errorf("open log block %s: %w", id, err)
	}
	f, err := parquet.OpenFile(objstore.ReaderAt(ctx, data), data.Size(), parquet.ReadBufferSize(64<<10))
	if err != nil {
		return nil, fmt.Errorf("open log block %s: %w", id, err)
	}
	if f.NumRows() != int64(meta.RecordCount) {
		return nil, fmt.Errorf("open log block %s: %d rows, meta says %d", id, f.NumRows(), meta.RecordCount)
	}
	lb := &logBlock{meta: meta, bloom: filter, file: f}
	for name, dst := range map[string]*int{"time": &lb.timeCol, "trace_id": &lb.traceCol} {
		leaf, ok := f.Schema().Lookup(name)
		if !ok {
			return nil, fmt.Errorf("open log block %s: data lacks column %s", id, name)
		}
		*dst = leaf.ColumnIndex
	}
	return lb, nil
}

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
	for _, rg := range lb.file.RowGroups() {
		if c, ok := rg.ColumnChunks()[lb.timeCol].(*parquet.FileColumnChunk); ok {
			if lo, hi, ok := c.Bounds(); ok && !m.overlaps(lo.Int64(), hi.Int64()) {
				continue
			}
		}
		if err := readRowGroup(ctx, rg, buf, func(row *logRow) {
			r := fromRow(row)
			if m.match(&r) {
				fn(&r)
			}
		}); err != nil {
			return fmt.Errorf("log block %s: %w", lb.meta.ID, err)
		}
	}
	return nil
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
			return errors.New("short row group")
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
	for _, rg := range lb.file.RowGroups() {
		if err := countChunk(ctx, rg.ColumnChunks()[lb.traceCol], vals, want, counts); err != nil {
			return fmt.Errorf("log block %s: %w", lb.meta.ID, err)
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

// deleteBlock removes a block, meta.json first (see block.Delete).
func deleteBlock(ctx context.Context, b objstore.Bucket, id string) error {
	if err := block.Delete(ctx, b, id); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func sortBlocks(bs []*logBlock) {
	slices.SortFunc(bs, func(a, b *logBlock) int {
		return cmp.Or(cmp.Compare(a.meta.MinTimeUnixNano, b.meta.MinTimeUnixNano), strings.Compare(a.meta.ID, b.meta.ID))
	})
}
