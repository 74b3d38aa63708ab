package block

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/segment"
)

// Layout tuning. Row groups are the unit Scan skips by statistics and
// dictionaries; granules are the unit Trace reads. Both end on trace
// boundaries, so they are approximate sizes.
const (
	rowGroupRows = 32 << 10
	granuleRows  = 256
	pageSize     = 32 << 10 // uncompressed; small pages keep Trace reads short
	writeBatch   = 1024
	// The trace-ID filter, when it is a blocked one (v7–v9, or v10 when
	// the fuse filter cannot be built): 16 bits and 11 probes a trace,
	// ~0.1 % false positives, each a small read of traces.bin. A trace by
	// ID asks every block of its window (500 at 100 M spans); with 12 bits
	// and 8 probes (before 2026-12-01, ~0.45 %) that was ~2 extra reads a
	// lookup, for 0.5 byte a trace of memory saved.
	traceFilterBitsPerValue = 16
	traceFilterK            = 11
)

// sortKey orders spans by (trace ID, start, span ID) without moving the
// (large) spans themselves.
type sortKey struct {
	hi, lo uint64
	start  int64
	span   uint64
	idx    int32
}

func keyOf(s *model.Span, i int) sortKey {
	return sortKey{
		hi:    binary.BigEndian.Uint64(s.TraceID[:8]),
		lo:    binary.BigEndian.Uint64(s.TraceID[8:]),
		start: s.StartUnixNano,
		span:  binary.BigEndian.Uint64(s.SpanID[:]),
		idx:   int32(i),
	}
}

func compareKeys(a, b sortKey) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	if c := cmp.Compare(a.lo, b.lo); c != 0 {
		return c
	}
	if c := cmp.Compare(a.start, b.start); c != 0 {
		return c
	}
	return cmp.Compare(a.span, b.span)
}

// interner numbers resources (or scopes) for the block's tables. Spans of
// one batch share pointers, so the pointer map answers almost every lookup;
// the content map merges equal resources from different batches or blocks.
type interner[T any] struct {
	byPtr     map[*T]int32
	byContent map[string]int32
	items     []*T
	encode    func(*encoder, *T)
	scratch   encoder
}

func (in *interner[T]) id(p *T) int32 {
	if id, ok := in.byPtr[p]; ok {
		return id
	}
	in.scratch.b = in.scratch.b[:0]
	in.encode(&in.scratch, p)
	id, ok := in.byContent[string(in.scratch.b)]
	if !ok {
		id = int32(len(in.items))
		in.items = append(in.items, p)
		in.byContent[string(in.scratch.b)] = id
	}
	in.byPtr[p] = id
	return id
}

func newInterner[T any](enc func(*encoder, *T)) *interner[T] {
	return &interner[T]{byPtr: map[*T]int32{}, byContent: map[string]int32{}, encode: enc}
}

var (
	emptyResource = &model.Resource{ServiceName: model.UnknownService}
	emptyScope    = &model.Scope{}
)

// Write stores spans as a new block and returns its meta. The spans are
// sorted by (trace ID, start); the slice itself is left as it is. Objects
// are written data, index, meta: until meta.json exists the block is
// invisible to ListMetas.
func Write(ctx context.Context, b objstore.Bucket, spans []model.Span, edges []Edge, level int) (Meta, error) {
	return write(ctx, b, spans, edges, level, nil)
}

func write(ctx context.Context, b objstore.Bucket, spans []model.Span, edges []Edge, level int, compacted []string) (Meta, error) {
	if len(spans) == 0 {
		return Meta{}, fmt.Errorf("write block: no spans")
	}
	if len(spans) > 1<<31-1 {
		return Meta{}, fmt.Errorf("write block: %d spans is too many", len(spans))
	}
	keys := make([]sortKey, len(spans))
	for i := range spans {
		keys[i] = keyOf(&spans[i], i)
	}
	slices.SortFunc(keys, compareKeys)

	meta := Meta{
		ID:              segment.NewID(time.Now()),
		Version:         FormatLatest,
		SpanCount:       len(spans),
		CompactionLevel: level,
		Compacted:       compacted,
		Edges:           slices.Clone(edges),
		CreatedUnixNano: time.Now().UnixNano(),
		FilterLinks:     true,
	}
	w := &blockWriter{
		resources: newInterner((*encoder).resource),
		scopes:    newInterner((*encoder).scope),
		ops:       OperationSet{},
		post:      newPostingsBuilder(),
		sums:      newSummaryWriter(),
	}
	w.data.Grow(len(spans) * 40)
	w.ix.version = FormatLatest
	w.ix.defaultFlags = commonFlags(spans)
	w.traces = append(make([]byte, 0, len(spans)*2), tracesMagic[:]...)
	var plain [dedicatedSlots]bool
	w.ix.dedicated, plain = chooseDedicated(spans)
	w.dedSlot = make(map[string]int, len(w.ix.dedicated))
	for i, k := range w.ix.dedicated {
		w.dedSlot[k] = i
	}
	opts := []parquet.WriterOption{
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedDefault}),
		parquet.PageBufferSize(pageSize),
		parquet.DataPageStatistics(false), // Scan never reads page statistics
		parquet.DataPageVersion(1),
		parquet.MaxRowsPerRowGroup(1 << 40), // we cut row groups ourselves, on trace boundaries
		parquet.CreatedBy("clew", "block", fmt.Sprint(FormatLatest)),
	}
	for slot, p := range plain {
		if p {
			// High-cardinality values (user IDs, URL paths): a dictionary
			// would hold most of the chunk's values and every Trace read
			// would decode all of it. Plain pages + zstd are as small.
			// The option is keyed by the Go field name.
			tag := reflect.StructTag(fmt.Sprintf(`parquet:"d%d"`, slot))
			opts = append(opts, parquet.StructTag(tag, fmt.Sprintf("D%d", slot)))
		}
	}
	w.pw = parquet.NewGenericWriter[spanRowV3](&w.data, opts...)
	// The trace index stores starts as offsets from the block's first
	// start, so that is needed before any trace is added.
	w.blockMin = spans[0].StartUnixNano
	for i := range spans {
		w.blockMin = min(w.blockMin, spans[i].StartUnixNano)
	}
	w.start()
	defer w.stop()
	traces := 0
	for i := 0; i < len(keys); {
		if i&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				return Meta{}, err
			}
		}
		j := i + 1
		for j < len(keys) && keys[j].hi == keys[i].hi && keys[j].lo == keys[i].lo {
			j++
		}
		traces++
		if err := w.addTrace(spans, keys[i:j]); err != nil {
			return Meta{}, err
		}
		i = j
	}
	if err := w.finish(); err != nil {
		return Meta{}, err
	}
	w.ix.tracesSize = int64(len(w.traces))
	w.ix.traceBase = w.blockMin
	w.ix.postings = w.post.finish()
	meta.TraceCount = traces
	ids := make([]uint64, 0, traces)
	for i := range keys {
		if i == 0 || keys[i].hi != keys[i-1].hi || keys[i].lo != keys[i-1].lo {
			ids = append(ids, traceHash(spans[keys[i].idx].TraceID))
		}
	}
	w.ix.traceFilter = newMemFilter(ids, traceFilterBitsPerValue, traceFilterK, seedTrace)
	w.ix.values = newBlockValueFilter(w.blockPairs)
	w.ix.resources, w.ix.scopes = w.resources.items, w.scopes.items
	sums := w.sums.finish()
	idx, err := encodeIndex(&w.ix)
	if err != nil {
		return Meta{}, err
	}

	meta.MinStartUnixNano, meta.MaxStartUnixNano, meta.MaxEndUnixNano = w.minStart, w.maxStart, w.maxEnd
	meta.Operations = w.ops.Sorted()
	for svc := range w.ops {
		meta.Services = append(meta.Services, svc)
	}
	slices.Sort(meta.Services)
	filters := encodePairFilters(w.pairFilters)
	meta.Bytes = int64(w.data.Len() + len(idx) + len(w.traces) + len(sums) + len(filters))

	prefix := meta.ID + "/"
	written := false
	defer func() {
		if !written { // best effort; the next open also removes blocks without meta.json
			cleanup := context.WithoutCancel(ctx)
			for _, name := range []string{metaName, indexName, filtersName, summariesName, tracesName, dataName} {
				_ = b.Delete(cleanup, prefix+name)
			}
		}
	}()
	if err := b.Put(ctx, prefix+dataName, bytes.NewReader(w.data.Bytes())); err != nil {
		return Meta{}, fmt.Errorf("write block %s: %w", meta.ID, err)
	}
	if err := b.Put(ctx, prefix+tracesName, bytes.NewReader(w.traces)); err != nil {
		return Meta{}, fmt.Errorf("write block %s: %w", meta.ID, err)
	}
	if err := b.Put(ctx, prefix+summariesName, bytes.NewReader(sums)); err != nil {
		return Meta{}, fmt.Errorf("write block %s: %w", meta.ID, err)
	}
	if err := b.Put(ctx, prefix+filtersName, bytes.NewReader(filters)); err != nil {
		return Meta{}, fmt.Errorf("write block %s: %w", meta.ID, err)
	}
	if err := b.Put(ctx, prefix+indexName, bytes.NewReader(idx)); err != nil {
		return Meta{}, fmt.Errorf("write block %s: %w", meta.ID, err)
	}
	mj, err := json.Marshal(meta)
	if err != nil {
		return Meta{}, fmt.Errorf("write block %s: %w", meta.ID, err)
	}
	if err := b.Put(ctx, prefix+metaName, bytes.NewReader(mj)); err != nil {
		return Meta{}, fmt.Errorf("write block %s: %w", meta.ID, err)
	}
	written = true
	return meta, nil
}

type blockWriter struct {
	data      bytes.Buffer
	pw        *parquet.GenericWriter[spanRowV3]
	batch     []spanRowV3
	traces    []byte // traces.bin
	blockMin  int64  // first start in the block
	resources *interner[model.Resource]
	scopes    *interner[model.Scope]
	ops       OperationSet
	ix        index

	row     int64 // rows written so far
	rgStart int64 // first row of the current row group
	rg      rowGroupStats
	granule int64 // first row of the current granule

	minStart, maxStart, maxEnd int64
	started                    bool
	parentPos                  map[model.SpanID]int32
	dedSlot                    map[string]int
	rgPairs                    []uint64        // pairHash of every attribute of the row group
	blockPairs                 []uint64        // the distinct pairs of each row group so far
	pairFilters                []blockedFilter // each row group's filter for filters.bin
	post                       *postingsBuilder
	sums                       *summaryWriter

	// Encoder goroutine (see start).
	jobs   chan writeJob
	free   chan []spanRowV3
	done   chan struct{}
	encErr error // set by the encoder goroutine; read after done
}

// chooseDedicated picks the span attribute keys that get their own
// columns: the most frequent ones, if they appear in at least 1 in 20
// spans. A sample is enough to find them. plain marks the slots whose
// values are so varied (more than 1 distinct value in 8 in the sample)
// that their column is better written without a dictionary.
func chooseDedicated(spans []model.Span) (keys []string, plain [dedicatedSlots]bool) {
	counts := map[string]int{}
	type kv struct{ k, v string }
	distinct := map[kv]struct{}{}
	step := max(1, len(spans)/20000)
	sampled := 0
	for i := 0; i < len(spans); i += step {
		sampled++
		for _, a := range spans[i].Attributes {
			counts[a.Key]++
			if len(distinct) < 1<<20 {
				distinct[kv{a.Key, a.Value.String()}] = struct{}{}
			}
		}
	}
	nDistinct := map[string]int{}
	for x := range distinct {
		nDistinct[x.k]++
	}
	keys = make([]string, 0, len(counts))
	for k, c := range counts {
		if c*20 >= sampled {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b)) })
	if len(keys) > dedicatedSlots {
		keys = keys[:dedicatedSlots]
	}
	for i, k := range keys {
		plain[i] = nDistinct[k]*8 > counts[k]
	}
	return keys, plain
}

// setAttrs fills the dedicated columns, the generic list and the layout.
// The row's slices are reused from the previous batch to spare the GC.
func (w *blockWriter) setAttrs(r *spanRowV3, attrs []model.Attribute) {
	for slot := range dedicatedSlots {
		*r.dedicated(slot) = ""
	}
	r.Attrs, r.AttrLayout = r.Attrs[:0], r.AttrLayout[:0]
	used := 0
	for i := range attrs {
		a := &attrs[i]
		text := a.Value.String()
		w.rgPairs = append(w.rgPairs, pairHash(a.Key, text))
		w.post.attr(a.Key, text)
		slot, ok := w.dedSlot[a.Key]
		if ok && used&(1<<slot) == 0 {
			used |= 1 << slot
			*r.dedicated(slot) = text
			r.AttrLayout = append(r.AttrLayout, layoutByte(slot, a.Value.Type))
			continue
		}
		r.Attrs = append(r.Attrs, attrRow{Key: a.Key, Type: int32(a.Value.Type), Val: text})
		r.AttrLayout = append(r.AttrLayout, layoutGeneric)
	}
}

// commonFlags is the most frequent span flags value (from a sample): the
// one rows store without an Extra value.
func commonFlags(spans []model.Span) uint32 {
	counts := map[uint32]int{}
	step := max(1, len(spans)/4096)
	best, bestN := uint32(0), 0
	for i := 0; i < len(spans); i += step {
		f := spans[i].Flags
		counts[f]++
		if counts[f] > bestN {
			best, bestN = f, counts[f]
		}
	}
	return best
}

func (w *blockWriter) addTrace(spans []model.Span, keys []sortKey) error {
	n := int64(len(keys))
	// Cut the row group before this trace if it is full, so traces never
	// straddle row groups (Trace then reads one row group, Scan statistics
	// stay exact per trace).
	if w.row > w.rgStart && w.row-w.rgStart+n > rowGroupRows {
		if err := w.flushRowGroup(); err != nil {
			return err
		}
	}
	first := &spans[keys[0].idx]
	if w.row == w.rgStart || w.row-w.granule >= granuleRows {
		w.ix.granules = append(w.ix.granules, granule{first: first.TraceID, row: w.row, tracesOff: int64(len(w.traces))})
		w.granule = w.row
		w.sums.startGranule()
	}
	w.sums.addTrace(spans, keys)
	traceStart := first.StartUnixNano
	w.traces = appendTraceEntry(w.traces, first.TraceID, len(keys), traceStart, w.blockMin)
	// Parent positions: a linear search is cheapest for the usual
	// handful of spans; big traces use a map.
	useMap := len(keys) > 32
	if useMap {
		clear(w.parentPos)
		if w.parentPos == nil {
			w.parentPos = map[model.SpanID]int32{}
		}
		for k := len(keys) - 1; k >= 0; k-- { // first occurrence wins
			w.parentPos[spans[keys[k].idx].SpanID] = int32(k)
		}
	}
	for _, k := range keys {
		s := &spans[k.idx]
		res, scope := s.Resource, s.Scope
		if res == nil {
			res = emptyResource
		}
		if scope == nil {
			scope = emptyScope
		}
		if len(w.batch) == cap(w.batch) {
			w.batch = append(w.batch, spanRowV3{})
		} else {
			w.batch = w.batch[:len(w.batch)+1]
		}
		r := &w.batch[len(w.batch)-1]
		attrs, layout, extra := r.Attrs, r.AttrLayout, r.Extra[:0]
		*r = spanRowV3{
			StartOffset: s.StartUnixNano - traceStart,
			Duration:    s.EndUnixNano - s.StartUnixNano,
			SpanID:      s.SpanID,
			ParentIndex: parentNone,
			Resource:    w.resources.id(res),
			Scope:       w.scopes.id(scope),
			Name:        s.Name,
			Kind:        int32(s.Kind),
			StatusCode:  int32(s.StatusCode),
			Attrs:       attrs,
			AttrLayout:  layout,
		}
		w.setAttrs(r, s.Attributes)
		explicitParent := false
		if !s.ParentSpanID.IsZero() {
			r.ParentIndex = parentExplicit
			pos := int32(-1)
			if useMap {
				if p, ok := w.parentPos[s.ParentSpanID]; ok {
					pos = p
				}
			} else {
				for p, kk := range keys {
					if spans[kk.idx].SpanID == s.ParentSpanID {
						pos = int32(p)
						break
					}
				}
			}
			if pos >= 0 {
				r.ParentIndex = pos
			} else {
				explicitParent = true
			}
		}
		for _, e := range s.Events {
			for _, a := range e.Attributes {
				text := a.Value.String()
				w.rgPairs = append(w.rgPairs, pairHash(a.Key, text))
				w.post.eventAttr(a.Key, text)
			}
		}
		for _, l := range s.Links {
			for _, a := range l.Attributes {
				text := a.Value.String()
				w.rgPairs = append(w.rgPairs, pairHash(a.Key, text))
				w.post.linkAttr(a.Key, text)
			}
		}
		// Extra's bytes are reused from the previous batch; empty means
		// none.
		r.Extra, _ = encodeExtra(extra, s, w.ix.defaultFlags, explicitParent)
		w.observe(s, res)
		if len(w.batch) == writeBatch {
			if err := w.writeBatch(); err != nil {
				return err
			}
		}
	}
	w.row += n
	return nil
}

func (w *blockWriter) observe(s *model.Span, res *model.Resource) {
	dur := int64(s.Duration())
	if w.rg.rows == 0 {
		if !w.started {
			w.minStart, w.maxStart, w.maxEnd = s.StartUnixNano, s.StartUnixNano, s.EndUnixNano
			w.started = true
		}
		w.rg = rowGroupStats{minStart: s.StartUnixNano, maxStart: s.StartUnixNano, minDuration: dur, maxDuration: dur}
	}
	w.rg.rows++
	w.rg.minStart = min(w.rg.minStart, s.StartUnixNano)
	w.rg.maxStart = max(w.rg.maxStart, s.StartUnixNano)
	w.rg.minDuration = min(w.rg.minDuration, dur)
	w.rg.maxDuration = max(w.rg.maxDuration, dur)
	w.minStart = min(w.minStart, s.StartUnixNano)
	w.maxStart = max(w.maxStart, s.StartUnixNano)
	w.maxEnd = max(w.maxEnd, s.EndUnixNano)
	svc := res.ServiceName
	if svc == "" {
		svc = model.UnknownService
	}
	w.ops.Add(svc, OperationInfo{Name: s.Name, Kind: int(s.Kind)})
	w.post.span(svc, s.Name, int(s.Kind), int(s.StatusCode), dur, s.StartUnixNano)
}

// The Parquet encoder runs in its own goroutine, fed batches of rows, so
// that building rows (addTrace) and encoding/compressing them (parquet-go)
// use two cores. Two batch buffers alternate; each keeps its rows' slices
// for reuse.
type writeJob struct {
	rows  []spanRowV3
	flush bool // end the row group after rows
}

func (w *blockWriter) start() {
	w.jobs = make(chan writeJob, 1)
	w.free = make(chan []spanRowV3, 1)
	w.free <- make([]spanRowV3, 0, writeBatch)
	w.done = make(chan struct{})
	// The goroutine gets its channels as arguments: stop clears w.jobs,
	// possibly before the goroutine has run at all.
	go func(jobs <-chan writeJob, free chan<- []spanRowV3, done chan<- struct{}) {
		defer close(done)
		for j := range jobs {
			if w.encErr == nil && len(j.rows) > 0 {
				if _, err := w.pw.Write(j.rows); err != nil {
					w.encErr = fmt.Errorf("write block: parquet: %w", err)
				}
			}
			if w.encErr == nil && j.flush {
				if err := w.pw.Flush(); err != nil {
					w.encErr = fmt.Errorf("write block: parquet: %w", err)
				}
			}
			free <- j.rows[:0]
		}
	}(w.jobs, w.free, w.done)
}

// stop ends the encoder goroutine and returns its first error. It may be
// called more than once.
func (w *blockWriter) stop() error {
	if w.jobs != nil {
		close(w.jobs)
		w.jobs = nil
		<-w.done
	}
	return w.encErr
}

func (w *blockWriter) send(flush bool) {
	w.jobs <- writeJob{rows: w.batch, flush: flush}
	w.batch = <-w.free
}

func (w *blockWriter) writeBatch() error {
	w.send(false)
	return nil
}

func (w *blockWriter) flushRowGroup() error {
	w.send(true)
	slices.Sort(w.rgPairs)
	pairs := slices.Compact(w.rgPairs)
	w.blockPairs = append(w.blockPairs, pairs...)
	w.pairFilters = append(w.pairFilters, newBlockedFilter(pairs, pairFilterBitsPerValue, pairFilterK, seedPairFile))
	w.rgPairs = w.rgPairs[:0]
	w.post.endRowGroup()
	w.ix.rowGroups = append(w.ix.rowGroups, w.rg)
	w.rg = rowGroupStats{}
	w.rgStart = w.row
	return nil
}

func (w *blockWriter) finish() error {
	if err := w.flushRowGroup(); err != nil {
		return err
	}
	if err := w.stop(); err != nil {
		return err
	}
	if err := w.pw.Close(); err != nil {
		return fmt.Errorf("write block: parquet: %w", err)
	}
	return nil
}
