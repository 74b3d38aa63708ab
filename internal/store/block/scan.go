package block

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/predicate"
)

// columns holds the leaf column numbers Scan reads.
// Columns a format does not have are -1: v3 has no event attribute or
// dedicated type columns (see spanRowV3), v1 and v2 no extra column.
type columns struct {
	traceID, traceStart, startOffset, duration   int
	resource, scope, name, kind, statusCode      int
	attrKey, attrVal, eventAttrKey, eventAttrVal int
	linkAttrKey, linkAttrVal                     int // v1, v2 (v3 and v4 keep links in extra)
	attrMaxDef, eventAttrMaxDef, linkAttrMaxDef  int
	dedicated, dedicatedType                     [dedicatedSlots]int
	// v3 only (read by the v3 trace reader and the v3 scan).
	spanID, parentIndex, attrType, layout, extra int
}

func lookupColumns(s *parquet.Schema, version int) (columns, error) {
	var c columns
	var err error
	get := func(path ...string) int {
		leaf, ok := s.Lookup(path...)
		if !ok {
			err = fmt.Errorf("%w: data file lacks column %v", ErrCorrupt, path)
			return -1
		}
		return leaf.ColumnIndex
	}
	c.traceID, c.traceStart = -1, -1
	if version < FormatV4 {
		c.traceID = get("trace_id")
		c.traceStart = get("trace_start")
	}
	c.startOffset = get("start_offset")
	c.duration = get("duration")
	c.resource = get("resource")
	c.scope = get("scope")
	c.name = get("name")
	c.kind = get("kind")
	c.statusCode = get("status_code")
	c.attrKey = get("attrs", "key")
	c.attrVal = get("attrs", "val")
	for i := range dedicatedSlots {
		c.dedicated[i], c.dedicatedType[i] = -1, -1
	}
	slots := slotsOf(version)
	for i := range slots {
		c.dedicated[i] = get(fmt.Sprintf("d%d", i))
	}
	c.eventAttrKey, c.eventAttrVal, c.linkAttrKey, c.linkAttrVal = -1, -1, -1, -1
	c.spanID, c.parentIndex, c.attrType, c.layout, c.extra = -1, -1, -1, -1, -1
	if version >= FormatV3 {
		c.spanID = get("span_id")
		c.parentIndex = get("parent_index")
		c.attrType = get("attrs", "type")
		c.layout = get("attr_layout")
		c.extra = get("extra")
	} else {
		c.eventAttrKey = get("events", "attrs", "key")
		c.eventAttrVal = get("events", "attrs", "val")
		c.linkAttrKey = get("links", "attrs", "key")
		c.linkAttrVal = get("links", "attrs", "val")
		for i := range slots {
			c.dedicatedType[i] = get(fmt.Sprintf("d%d_type", i))
		}
	}
	if leaf, ok := s.Lookup("attrs", "key"); ok {
		c.attrMaxDef = leaf.MaxDefinitionLevel
	}
	if leaf, ok := s.Lookup("events", "attrs", "key"); ok {
		c.eventAttrMaxDef = leaf.MaxDefinitionLevel
	}
	if leaf, ok := s.Lookup("links", "attrs", "key"); ok {
		c.linkAttrMaxDef = leaf.MaxDefinitionLevel
	}
	return c, err
}

// Scan calls fn with the trace ID and start of every span that matches
// pred, in (trace ID, start) order, until fn returns false. It reads only
// the columns pred needs, and skips whole row groups whose statistics or
// dictionaries rule a match out. What matches is pred's to say: the scanner
// only evaluates its conditions column by column.
func (bl *Block) Scan(ctx context.Context, pred *predicate.Compiled, fn func(traceID model.TraceID, startUnixNano int64) bool) error {
	return bl.ScanWith(ctx, pred, nil, fn)
}

// ScanWith is Scan using scratch's buffers (nil: its own) and leaving
// them, grown as needed, in scratch for the next scan.
func (bl *Block) ScanWith(ctx context.Context, pred *predicate.Compiled, scratch *Scratch, fn func(traceID model.TraceID, startUnixNano int64) bool) error {
	sc := bl.newScanner(ctx, pred)
	if sc == nil {
		return nil
	}
	if scratch != nil {
		sc.Scratch = *scratch
		defer func() { *scratch = sc.Scratch }()
	}
	r := bl.queryReader(ctx)
	for g := range bl.file.RowGroups() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !sc.rowGroupPasses(ctx, g) {
			continue
		}
		sc.rgIndex = g
		more, err := sc.scanRowGroup(ctx, bl.rowGroup(g, r), fn)
		if err != nil {
			return fmt.Errorf("block %s: scan: %w", bl.meta.ID, err)
		}
		if !more {
			return nil
		}
	}
	return nil
}

// Scratch holds a scan's buffers (which rows are alive, their condition
// bits, the row group's trace entries and starts, the column chunks it
// read): a scanner fills them again for each row group, and a goroutine
// that scans block after block hands the same Scratch to each
// (Block.ScanWith) instead of each scan allocating them anew. The store
// keeps Scratches in a pool for its search workers. A scan keeps nothing
// of it once it returns; one Scratch serves one scan at a time.
type Scratch struct {
	alive     []bool
	bits      []uint64
	rowTraces []int32
	traces    []traceEntry // backing array of the scanner's rgTraces
	tracesRaw []byte       // the row group's bytes of traces.bin, read into traces
	starts    []int64
	// columns are buffers for the column chunks a scan reads; the first
	// used of them hold the current row group's, and are emptied and read
	// into again for the next row group (column copies made afresh were
	// most of what a search allocated).
	columns []*column
	used    int
}

// readColumn reads a column chunk of the current row group into the next
// of the Scratch's columns. What it returns is good until the scanner moves
// to another row group (nextRowGroup).
func (s *Scratch) readColumn(ctx context.Context, chunk parquet.ColumnChunk) (*column, error) {
	if s.used == len(s.columns) {
		s.columns = append(s.columns, new(column))
	}
	col := s.columns[s.used]
	s.used++
	return readColumnInto(ctx, chunk, col)
}

// nextRowGroup hands the columns read so far back for reuse.
func (s *Scratch) nextRowGroup() { s.used = 0 }

// newScanner prepares a scan of the block, or returns nil when its meta or
// resource table rule every span out.
func (bl *Block) newScanner(ctx context.Context, pred *predicate.Compiled) *scanner {
	first, ok := bl.mayPass(ctx, pred)
	if !ok {
		return nil
	}
	// Resource-level answers, computed once per block: which resources
	// have the service, and which attribute conditions each satisfies.
	resOK := make([]bool, len(bl.ix.resources))
	resBits := make([]uint64, len(bl.ix.resources))
	anyRes := false
	for r, res := range bl.ix.resources {
		resOK[r] = pred.MatchService(bl.services[r])
		resBits[r] = pred.ResourceBits(res)
		anyRes = anyRes || resOK[r]
	}
	if !anyRes {
		return nil
	}
	sc := &scanner{bl: bl, pred: pred, p: pred.Predicate(), attrs: pred.Attrs(), compares: pred.Compares(), resOK: resOK, resBits: resBits, first: first}
	// Conditions a resource, a scope or an error status may satisfy need
	// no row group filter; the others must be in a row group's value
	// filter — when the filter holds link attributes too (FilterLinks).
	var byResourceOrScope uint64
	for r := range resBits {
		if resOK[r] {
			byResourceOrScope |= resBits[r]
		}
	}
	if pred.AllBits() != 0 {
		sc.scopeBits = make([]uint64, len(bl.ix.scopes))
		for i, s := range bl.ix.scopes {
			sc.scopeBits[i] = pred.ScopeBits(s)
			byResourceOrScope |= sc.scopeBits[i]
			sc.anyScopeBits = sc.anyScopeBits || sc.scopeBits[i] != 0
		}
	}
	// A key the postings have all values of is decided per row group by
	// them (newPostingFilter), exactly: asking a filter too would only
	// cost a probe (in v7, a read of filters.bin) per row group.
	anywhere := byResourceOrScope | pred.ErrorBits()
	for i, a := range sc.attrs {
		if anywhere&(1<<i) == 0 && bl.meta.FilterLinks && (bl.ix.postings == nil || bl.ix.postings.dropsKey(a.Key)) {
			sc.filtered = append(sc.filtered, pairHash(a.Key, a.Value))
		}
	}
	if bl.ix.postings != nil {
		f, ok := newPostingFilter(bl.ix.postings, pred, byResourceOrScope)
		if !ok {
			return nil
		}
		sc.post = f
	}
	return sc
}

// MetaMayMatch rules a block out from its meta alone (time range, services
// and their operations), without opening it.
func MetaMayMatch(m *Meta, pred *predicate.Compiled) bool {
	if pred.Never() || !pred.OverlapsStart(m.MinStartUnixNano, m.MaxStartUnixNano) {
		return false
	}
	p := pred.Predicate()
	if p.Service == "" {
		return true
	}
	ops, ok := m.Operations[p.Service]
	if !ok {
		return false
	}
	for _, op := range ops {
		if pred.MatchOperation(op.Name) && pred.MatchKind(op.Kind) {
			return true
		}
	}
	return false
}

type scanner struct {
	bl    *Block
	pred  *predicate.Compiled
	p     predicate.Predicate
	attrs []predicate.Attr
	// compares are the conditions other than equality (bit
	// pred.CompareBit(j)); no row group filter can rule them out.
	compares []predicate.Compare
	// filtered are the pair hashes of the conditions only a span or event
	// attribute can satisfy: a row group whose value filter lacks one of
	// them is skipped unread.
	filtered []uint64
	resOK    []bool
	resBits  []uint64
	// scopeBits has the conditions each scope of the block satisfies;
	// anyScopeBits says one does, so the scope column must be read.
	scopeBits    []uint64
	anyScopeBits bool
	post         *postingFilter // v5: the block's postings, compiled for pred
	first        int            // row groups before it cannot match (mayPass asked their filters)

	Scratch     // per-row buffers, filled again for each row group
	n       int // alive rows
	// coarse: the caller takes every start in the row group's start range
	// alike (ScanSpans' alike); when no row can fail the time filter, rows
	// are reported with the range's first start and their trace IDs zero.
	coarse bool
	// coarseDone: the last scanRowGroup took the coarse path; its sc.n
	// alive rows were not reported to fn.
	coarseDone bool
	// v4: the row group being scanned, and its traces (from traces.bin),
	// read when first needed: nil until then. Their array is
	// Scratch.traces, and Scratch.rowTraces has the trace of each row.
	rgIndex  int
	rgTraces []traceEntry
}

// rowGroupPasses reports whether row group g must be scanned: it is not
// before the first that may match, its time and duration ranges, its
// value filter and the postings may hold a match, and so does its filter
// in filters.bin (asked last: it costs a read).
func (sc *scanner) rowGroupPasses(ctx context.Context, g int) bool {
	return g >= sc.first && sc.rowGroupMayMatch(&sc.bl.ix.rowGroups[g]) && (sc.post == nil || sc.post.rowGroupMayMatch(g)) &&
		sc.bl.pairFiltersMayContain(ctx, g, sc.filtered)
}

func (sc *scanner) rowGroupMayMatch(st *rowGroupStats) bool {
	if !sc.pred.OverlapsStart(st.minStart, st.maxStart) || !sc.pred.OverlapsDuration(st.minDuration, st.maxDuration) {
		return false
	}
	for _, h := range sc.filtered {
		if !st.values.mayContain(h) {
			return false
		}
	}
	return true
}

func (sc *scanner) kill(row int) {
	if sc.alive[row] {
		sc.alive[row] = false
		sc.n--
	}
}

func (sc *scanner) scanRowGroup(ctx context.Context, rg parquet.RowGroup, fn func(model.TraceID, int64) bool) (bool, error) {
	rows := int(rg.NumRows())
	chunks := rg.ColumnChunks()
	c := &sc.bl.cols
	p := &sc.p
	sc.alive = resize(sc.alive, rows)
	for i := range sc.alive {
		sc.alive[i] = true
	}
	sc.n = rows
	sc.coarseDone = false
	sc.nextRowGroup()
	sc.rgTraces, sc.rowTraces = nil, sc.rowTraces[:0]

	// A minimum duration above the row group's long-span cut: only the
	// listed long spans can match, and their durations and starts are in
	// the index, so neither the duration nor the start column is read.
	durationDone := false
	if sc.post != nil && p.MinDuration > 0 {
		if lp := &sc.bl.ix.postings.rowGroups[sc.rgIndex].long; p.MinDuration > lp.cut {
			clear(sc.alive)
			sc.n = 0
			for l := range lp.all() {
				if int(l.row) < rows && sc.pred.MatchDuration(l.duration) && sc.pred.MatchStart(l.start) {
					sc.alive[l.row] = true
					sc.n++
				}
			}
			if sc.n == 0 {
				return true, nil
			}
			durationDone = true
		}
	}

	// Cheapest and most selective columns first; stop as soon as no row
	// is left.
	var resource []int32
	if p.Service != "" || sc.pred.AllBits() != 0 {
		col, err := sc.readColumn(ctx, chunks[c.resource])
		if err != nil {
			return false, err
		}
		resource = col.int32s()
		if len(resource) != rows {
			return false, fmt.Errorf("%w: resource column has %d values for %d rows", ErrCorrupt, len(resource), rows)
		}
		for r, id := range resource {
			if id < 0 || int(id) >= len(sc.resOK) || !sc.resOK[id] {
				sc.kill(r)
			}
		}
	}
	if p.Operation != "" && sc.n > 0 {
		if err := sc.filterString(ctx, chunks[c.name], rows, p.Operation); err != nil {
			return false, err
		}
	}
	if p.Kind >= 0 && sc.n > 0 {
		if err := sc.filterInt(ctx, chunks[c.kind], rows, func(v int64) bool { return sc.pred.MatchKind(int(v)) }); err != nil {
			return false, err
		}
	}
	if p.ErrorStatus && sc.n > 0 {
		if err := sc.filterInt(ctx, chunks[c.statusCode], rows, func(v int64) bool { return sc.pred.MatchStatus(int(v)) }); err != nil {
			return false, err
		}
	}
	if (p.MinDuration != 0 || p.MaxDuration != 0) && sc.n > 0 && !durationDone {
		err := sc.filterInt(ctx, chunks[c.duration], rows, sc.pred.MatchDuration)
		if err != nil {
			return false, err
		}
	}
	var starts []int64
	st := &sc.bl.ix.rowGroups[sc.rgIndex]
	inside := sc.pred.MatchStart(st.minStart) && sc.pred.MatchStart(st.maxStart) // every row passes the time filter
	if (p.StartMin != 0 || p.StartMax != 0) && sc.n > 0 && !inside && !durationDone {
		var err error
		if starts, err = sc.readStarts(ctx, chunks, rows); err != nil {
			return false, err
		}
		for r, s := range starts {
			if !sc.pred.MatchStart(s) {
				sc.kill(r)
			}
		}
	}
	if sc.pred.AllBits() != 0 && sc.n > 0 {
		if err := sc.filterAttrs(ctx, chunks, rows, resource); err != nil {
			return false, err
		}
	}
	if sc.n == 0 {
		return true, nil
	}
	if sc.coarse && inside {
		// The caller counts every start of the row group alike: neither
		// starts nor trace IDs are read, and fn is not called (the caller
		// takes sc.n rows at the range's first start; sc.coarseDone).
		sc.coarseDone = true
		return true, nil
	}
	if starts == nil && durationDone {
		starts = resize(sc.starts, rows) // only the long spans' rows are read
		sc.starts = starts
		for l := range sc.bl.ix.postings.rowGroups[sc.rgIndex].long.all() {
			if int(l.row) < rows {
				starts[l.row] = l.start
			}
		}
	}
	if starts == nil {
		var err error
		if starts, err = sc.readStarts(ctx, chunks, rows); err != nil {
			return false, err
		}
	}
	if c.traceID < 0 {
		if err := sc.loadTraces(ctx, rows); err != nil {
			return false, err
		}
		for r := range rows {
			if sc.alive[r] && !fn(sc.rgTraces[sc.rowTraces[r]].id, starts[r]) {
				return false, nil
			}
		}
		return true, nil
	}
	ids, err := sc.readColumn(ctx, chunks[c.traceID])
	if err != nil {
		return false, err
	}
	if ids.len() != rows {
		return false, fmt.Errorf("%w: trace_id column has %d values for %d rows", ErrCorrupt, ids.len(), rows)
	}
	for r := range rows {
		if sc.alive[r] && !fn(ids.traceID(r), starts[r]) {
			return false, nil
		}
	}
	return true, nil
}

// loadTraces reads the row group's traces from traces.bin (v4), once.
func (sc *scanner) loadTraces(ctx context.Context, rows int) error {
	if sc.rgTraces != nil {
		return nil
	}
	// The previous row group's entries are done with: decode into them.
	entries, err := sc.bl.rowGroupTraces(ctx, sc.rgIndex, sc.traces, &sc.tracesRaw)
	if err != nil {
		return err
	}
	sc.rgTraces, sc.traces = entries, entries
	sc.rowTraces = expandTraces(sc.rowTraces[:0], entries)
	if len(sc.rowTraces) != rows {
		return fmt.Errorf("%w: trace index covers %d of %d rows", ErrCorrupt, len(sc.rowTraces), rows)
	}
	return nil
}

func (sc *scanner) readStarts(ctx context.Context, chunks []parquet.ColumnChunk, rows int) ([]int64, error) {
	if sc.bl.cols.traceStart < 0 {
		off, err := sc.readColumn(ctx, chunks[sc.bl.cols.startOffset])
		if err != nil {
			return nil, err
		}
		if err := sc.loadTraces(ctx, rows); err != nil {
			return nil, err
		}
		b := off.int64s()
		if len(b) != rows {
			return nil, fmt.Errorf("%w: start_offset column has %d values for %d rows", ErrCorrupt, len(b), rows)
		}
		// Used until the row group is done, then the next one's.
		out := resize(sc.starts, rows)
		sc.starts = out
		for r := range out {
			out[r] = sc.rgTraces[sc.rowTraces[r]].start + b[r]
		}
		return out, nil
	}
	ts, err := sc.readColumn(ctx, chunks[sc.bl.cols.traceStart])
	if err != nil {
		return nil, err
	}
	off, err := sc.readColumn(ctx, chunks[sc.bl.cols.startOffset])
	if err != nil {
		return nil, err
	}
	a, b := ts.int64s(), off.int64s()
	if len(a) != rows || len(b) != rows {
		return nil, fmt.Errorf("%w: start columns have %d/%d values for %d rows", ErrCorrupt, len(a), len(b), rows)
	}
	for i := range a {
		a[i] += b[i]
	}
	return a, nil
}

func (sc *scanner) filterInt(ctx context.Context, chunk parquet.ColumnChunk, rows int, ok func(int64) bool) error {
	col, err := sc.readColumn(ctx, chunk)
	if err != nil {
		return err
	}
	vals := col.int64s()
	if len(vals) != rows {
		return fmt.Errorf("%w: column has %d values for %d rows", ErrCorrupt, len(vals), rows)
	}
	for r, v := range vals {
		if sc.alive[r] && !ok(v) {
			sc.kill(r)
		}
	}
	return nil
}

// filterString keeps rows whose value equals want. On a dictionary-encoded
// chunk it compares indexes, and kills every row without reading the data
// pages when want is not in the dictionary.
func (sc *scanner) filterString(ctx context.Context, chunk parquet.ColumnChunk, rows int, want string) error {
	col, err := sc.readColumn(ctx, chunk)
	if err != nil {
		return err
	}
	if col.len() != rows {
		return fmt.Errorf("%w: column has %d values for %d rows", ErrCorrupt, col.len(), rows)
	}
	if col.dict != nil {
		w := col.dictIndex(want)
		for r, v := range col.idx {
			if v != w {
				sc.kill(r)
			}
		}
		return nil
	}
	for r := range rows {
		if sc.alive[r] && string(col.bytesAt(r)) != want {
			sc.kill(r)
		}
	}
	return nil
}

// filterAttrs evaluates the attribute conditions: a bit per condition per
// row, set from the row's resource, its scope, its status (error=true), its
// span attributes and its events' and links' attributes; rows without every
// bit die.
func (sc *scanner) filterAttrs(ctx context.Context, chunks []parquet.ColumnChunk, rows int, resource []int32) error {
	c := &sc.bl.cols
	all := sc.pred.AllBits()
	sc.bits = resize(sc.bits, rows)
	errBits := sc.pred.ErrorBits()
	for r := range rows {
		if id := resource[r]; id >= 0 && int(id) < len(sc.resBits) {
			sc.bits[r] = sc.resBits[id]
		} else {
			sc.bits[r] = 0
		}
	}
	if sc.anyScopeBits {
		col, err := sc.readColumn(ctx, chunks[c.scope])
		if err != nil {
			return err
		}
		scopes := col.int32s()
		if len(scopes) != rows {
			return fmt.Errorf("%w: scope column has %d values for %d rows", ErrCorrupt, len(scopes), rows)
		}
		for r, id := range scopes {
			if id >= 0 && int(id) < len(sc.scopeBits) {
				sc.bits[r] |= sc.scopeBits[id]
			}
		}
	}
	if errBits != 0 {
		col, err := sc.readColumn(ctx, chunks[c.statusCode])
		if err != nil {
			return err
		}
		codes := col.int64s()
		if len(codes) != rows {
			return fmt.Errorf("%w: status column has %d values for %d rows", ErrCorrupt, len(codes), rows)
		}
		for r, code := range codes {
			if code == int64(model.StatusError) {
				sc.bits[r] |= errBits
			}
		}
	}
	for i, a := range sc.attrs {
		slot := slices.Index(sc.bl.ix.dedicated, a.Key)
		if slot < 0 {
			continue
		}
		if err := sc.dedicatedBits(ctx, chunks, slot, 1<<i, func(v string) bool { return v == a.Value }, &a.Value, rows); err != nil {
			return err
		}
	}
	for j, cmp := range sc.compares {
		slot := slices.Index(sc.bl.ix.dedicated, cmp.Key)
		if slot < 0 {
			continue
		}
		if err := sc.dedicatedBits(ctx, chunks, slot, sc.pred.CompareBit(j), func(v string) bool { return sc.pred.MatchCompare(j, v) }, nil, rows); err != nil {
			return err
		}
	}
	if err := sc.attrBits(ctx, chunks[c.attrKey], chunks[c.attrVal], c.attrMaxDef, rows); err != nil {
		return err
	}
	// Events and links are read only for rows still missing a condition,
	// and (v5) only when the row group's events or links may hold what
	// such a row misses.
	extra := all
	if sc.post != nil {
		extra = sc.post.extraBits(sc.rgIndex)
		for j := range sc.compares {
			extra |= sc.pred.CompareBit(j)
		}
	}
	for j := range sc.compares {
		if sc.compares[j].SpanOrResource {
			extra &^= sc.pred.CompareBit(j) // events and links need not hold it
		}
	}
	if c.extra >= 0 {
		if sc.missingFrom(all, extra) {
			if err := sc.extraBits(ctx, chunks[c.extra], rows); err != nil {
				return err
			}
		}
	} else if sc.missing(all) {
		if err := sc.attrBits(ctx, chunks[c.eventAttrKey], chunks[c.eventAttrVal], c.eventAttrMaxDef, rows); err != nil {
			return err
		}
		if sc.missing(all) {
			if err := sc.attrBits(ctx, chunks[c.linkAttrKey], chunks[c.linkAttrVal], c.linkAttrMaxDef, rows); err != nil {
				return err
			}
		}
	}
	for r := range rows {
		if sc.bits[r] != all {
			sc.kill(r)
		}
	}
	return nil
}

// missingFrom reports whether a live row still lacks one of the
// conditions and could complete them with the conditions in more.
func (sc *scanner) missingFrom(all, more uint64) bool {
	for r, ok := range sc.alive {
		if ok && sc.bits[r] != all && sc.bits[r]|more == all {
			return true
		}
	}
	return false
}

// missing reports whether a live row still lacks one of the conditions.
func (sc *scanner) missing(all uint64) bool {
	for r, ok := range sc.alive {
		if ok && sc.bits[r] != all {
			return true
		}
	}
	return false
}

// dedicatedBits sets bit for rows whose dedicated column slot holds a
// value ok accepts. On a dictionary-encoded chunk ok is asked once per
// dictionary entry, and a chunk whose dictionary has no such value costs
// only the dictionary. eq, when ok is equality with one value, lets a
// plain chunk (high-cardinality values) be compared without converting
// every value to a string, and skipped when its bytes lack the value.
func (sc *scanner) dedicatedBits(ctx context.Context, chunks []parquet.ColumnChunk, slot int, bit uint64, ok func(string) bool, eq *string, rows int) error {
	col, err := sc.readColumn(ctx, chunks[sc.bl.cols.dedicated[slot]])
	if err != nil {
		return err
	}
	if col.len() != rows {
		return fmt.Errorf("%w: dedicated column has %d values for %d rows", ErrCorrupt, col.len(), rows)
	}
	var types []int64
	if ok("") { // "" is also what absent rows hold; the type (v1, v2) or the layout (v3) tells them apart
		if sc.bl.cols.layout >= 0 {
			if types, err = sc.layoutPresence(ctx, chunks[sc.bl.cols.layout], slot, rows); err != nil {
				return err
			}
		} else {
			tc, err := sc.readColumn(ctx, chunks[sc.bl.cols.dedicatedType[slot]])
			if err != nil {
				return err
			}
			if types = tc.int64s(); len(types) != rows {
				return fmt.Errorf("%w: dedicated type column has %d values for %d rows", ErrCorrupt, len(types), rows)
			}
		}
	}
	if col.dict != nil {
		hit := dictMatches(col.dict, ok)
		if hit == nil {
			return nil
		}
		for r, x := range col.idx {
			if x >= 0 && int(x) < len(hit) && hit[x] && sc.alive[r] && (types == nil || types[r] != typeAbsent) {
				sc.bits[r] |= bit
			}
		}
		return nil
	}
	if eq != nil && *eq != "" {
		// A value no row holds is nowhere in the chunk's bytes: the
		// usual answer for a row group a filter let through by a false
		// positive.
		if !bytes.Contains(col.data, unsafe.Slice(unsafe.StringData(*eq), len(*eq))) {
			return nil
		}
		for r := range rows {
			if sc.alive[r] && string(col.bytesAt(r)) == *eq {
				sc.bits[r] |= bit
			}
		}
		return nil
	}
	for r := range rows {
		if sc.alive[r] && ok(string(col.bytesAt(r))) && (types == nil || types[r] != typeAbsent) {
			sc.bits[r] |= bit
		}
	}
	return nil
}

// attrBits ORs into sc.bits the conditions that a repeated key/value column
// pair satisfies per row.
func (sc *scanner) attrBits(ctx context.Context, keyChunk, valChunk parquet.ColumnChunk, maxDef, rows int) error {
	// The dictionary alone (first page) usually rules the pair out: then
	// neither column's data pages are read.
	if d, err := readDictionary(keyChunk); err != nil {
		return err
	} else if d != nil && !slices.ContainsFunc(sc.attrs, func(a predicate.Attr) bool { return (&column{dict: d}).dictIndex(a.Key) >= 0 }) &&
		!slices.ContainsFunc(sc.compares, func(c predicate.Compare) bool { return (&column{dict: d}).dictIndex(c.Key) >= 0 }) {
		return nil
	}
	keys, err := sc.readColumn(ctx, keyChunk)
	if err != nil {
		return err
	}
	// Dictionary check before touching the (big) value column: conditions
	// whose key is absent cannot be met by this column in this row group.
	keyIdx := make([]int32, len(sc.attrs))
	cmpKeyIdx := make([]int32, len(sc.compares))
	possible := false
	for i, a := range sc.attrs {
		keyIdx[i] = keys.dictIndex(a.Key)
		possible = possible || keyIdx[i] >= 0 || keys.dict == nil
	}
	for j, c := range sc.compares {
		cmpKeyIdx[j] = keys.dictIndex(c.Key)
		possible = possible || cmpKeyIdx[j] >= 0 || keys.dict == nil
	}
	if !possible {
		return nil
	}
	vals, err := sc.readColumn(ctx, valChunk)
	if err != nil {
		return err
	}
	valIdx := make([]int32, len(sc.attrs))
	for i, a := range sc.attrs {
		valIdx[i] = vals.dictIndex(a.Value)
	}
	if keys.dict == nil || vals.dict == nil || len(keys.idx) != len(vals.idx) ||
		len(keys.rep) != len(keys.def) || len(vals.def) != len(keys.def) {
		return sc.attrBitsSlow(keys, vals, maxDef, rows)
	}
	// A comparison is asked once per value in the dictionary, and only
	// when its key is in this chunk.
	cmpHit := make([][]bool, len(sc.compares))
	for j := range sc.compares {
		if cmpKeyIdx[j] >= 0 {
			cmpHit[j] = dictMatches(vals.dict, func(v string) bool { return sc.pred.MatchCompare(j, v) })
		}
	}
	row, v := -1, 0
	for j, rep := range keys.rep {
		if rep == 0 {
			row++
		}
		if int(keys.def[j]) != maxDef {
			continue
		}
		if v >= len(keys.idx) || row >= rows {
			return fmt.Errorf("%w: attribute levels and values disagree", ErrCorrupt)
		}
		k, x := keys.idx[v], vals.idx[v]
		v++
		if !sc.alive[row] {
			continue
		}
		for i := range keyIdx {
			if k == keyIdx[i] && x == valIdx[i] {
				sc.bits[row] |= 1 << i
			}
		}
		for j, hit := range cmpHit {
			if hit != nil && k == cmpKeyIdx[j] && x >= 0 && int(x) < len(hit) && hit[x] {
				sc.bits[row] |= sc.pred.CompareBit(j)
			}
		}
	}
	return nil
}

// dictMatches is, per dictionary entry, whether ok accepts it; nil when it
// accepts none. ok must not keep the string it is given: it shares the
// dictionary's bytes.
func dictMatches(d parquet.Dictionary, ok func(string) bool) []bool {
	var hit []bool
	for i := range d.Len() {
		b := d.Index(int32(i)).ByteArray()
		var v string
		if len(b) > 0 {
			v = unsafe.String(&b[0], len(b))
		}
		if ok(v) {
			if hit == nil {
				hit = make([]bool, d.Len())
			}
			hit[i] = true
		}
	}
	return hit
}

// attrBitsSlow handles chunks that are not dictionary-encoded (written by
// another tool, or a future writer falling back to plain encoding).
func (sc *scanner) attrBitsSlow(keys, vals *column, maxDef, rows int) error {
	if keys.len() != vals.len() || len(keys.rep) != len(keys.def) {
		return fmt.Errorf("%w: attribute columns disagree", ErrCorrupt)
	}
	row, v := -1, 0
	for j, rep := range keys.rep {
		if rep == 0 {
			row++
		}
		if int(keys.def[j]) != maxDef {
			continue
		}
		if v >= keys.len() || row >= rows {
			return fmt.Errorf("%w: attribute levels and values disagree", ErrCorrupt)
		}
		k, x := keys.bytesAt(v), vals.bytesAt(v)
		v++
		sc.bits[row] |= sc.pred.AttrBits(string(k), string(x))
	}
	return nil
}

// layoutPresence returns, per row, typeAbsent when the row's v3 layout has
// no entry for the dedicated slot and 0 when it has.
func (sc *scanner) layoutPresence(ctx context.Context, chunk parquet.ColumnChunk, slot, rows int) ([]int64, error) {
	col, err := sc.readColumn(ctx, chunk)
	if err != nil {
		return nil, err
	}
	if col.len() != rows {
		return nil, fmt.Errorf("%w: layout column has %d values for %d rows", ErrCorrupt, col.len(), rows)
	}
	out := make([]int64, rows)
	for r := range rows {
		out[r] = typeAbsent
		for _, b := range col.bytesAt(r) {
			if s, _, ok := layoutSlot(b); ok && s == slot {
				out[r] = 0
				break
			}
		}
	}
	return out, nil
}

// extraBits ORs into sc.bits the conditions that the event and link
// attributes of each row satisfy (v3 and v4, where events and links live in
// the extra column). Only rows still alive and still missing a condition
// are decoded.
func (sc *scanner) extraBits(ctx context.Context, chunk parquet.ColumnChunk, rows int) error {
	col, err := sc.readColumn(ctx, chunk)
	if err != nil {
		return err
	}
	values, err := extraValues(col, rows)
	if err != nil {
		return err
	}
	all := sc.pred.AllBits()
	for r, b := range values {
		if b == nil || !sc.alive[r] || sc.bits[r] == all {
			continue
		}
		err := extraAttrs(b, func(k string, text []byte) { sc.bits[r] |= sc.pred.AttrBits(k, string(text)) })
		if err != nil {
			return err
		}
	}
	return nil
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// column is one column chunk read whole: levels, and either dictionary
// indexes or plain values.
type column struct {
	rep, def []byte
	dict     parquet.Dictionary
	idx      []int32
	i64      []int64
	i32      []int32
	data     []byte   // plain byte arrays: concatenated values
	offsets  []uint32 // plain byte arrays: len(values)+1 offsets
	fixed    int      // fixed-length byte arrays: value size
	hint     int      // values expected: the capacity of the first value slice
	// Conversions (int64s, int32s) of a dictionary-encoded or narrower
	// column, made in these and kept with the column so that a column
	// read again into the same buffers (Scratch) converts into them too.
	lut64, out64 []int64
	lut32, out32 []int32
}

// reset empties the column, keeping its buffers, for a chunk of hint
// values.
func (c *column) reset(hint int) {
	*c = column{
		rep: c.rep[:0], def: c.def[:0], idx: c.idx[:0], i64: c.i64[:0], i32: c.i32[:0],
		data: c.data[:0], offsets: c.offsets[:0], hint: hint,
		lut64: c.lut64, out64: c.out64, lut32: c.lut32, out32: c.out32,
	}
}

// maxColumnHint bounds the values a column chunk's metadata may make
// readColumn allocate for ahead of reading them.
const maxColumnHint = 1 << 22

// readDictionary returns the chunk's dictionary, or nil if it has none
// (or the chunk is empty). Only the first page is read.
func readDictionary(chunk parquet.ColumnChunk) (parquet.Dictionary, error) {
	pages := chunk.Pages()
	defer pages.Close()
	p, err := pages.ReadPage()
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer parquet.Release(p)
	return p.Dictionary(), nil
}

func readColumn(ctx context.Context, chunk parquet.ColumnChunk) (*column, error) {
	return readColumnInto(ctx, chunk, new(column))
}

// readColumnInto reads the chunk into col, whose buffers it empties and
// reuses.
func readColumnInto(ctx context.Context, chunk parquet.ColumnChunk, col *column) (*column, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pages := chunk.Pages()
	defer pages.Close()
	// The chunk's value count sizes the value slices once, rather than
	// growing them page by page (bounded: it comes from the file).
	col.reset(int(min(max(chunk.NumValues(), 0), maxColumnHint)))
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		err = col.appendPage(p)
		parquet.Release(p)
		if err != nil {
			return nil, err
		}
	}
	return col, nil
}

// appendRows appends rows [skip, skip+take) of a page to the column. A
// page without levels (a required, flat column: one value a row) is cut
// where it lies; another goes through Page.Slice, which copies.
func (col *column) appendRows(p parquet.Page, skip, take int64) error {
	n := p.NumRows()
	if skip < 0 || take < 0 || skip+take > n {
		return fmt.Errorf("%w: rows %d+%d of a %d-row page", ErrCorrupt, skip, take, n)
	}
	if skip == 0 && take == n {
		return col.appendPage(p)
	}
	if len(p.RepetitionLevels()) == 0 && len(p.DefinitionLevels()) == 0 {
		if p.NumValues() != n {
			return fmt.Errorf("%w: flat page of %d rows holds %d values", ErrCorrupt, n, p.NumValues())
		}
		return col.appendValues(p, int(skip), int(skip+take))
	}
	q := p.Slice(skip, skip+take)
	err := col.appendPage(q)
	parquet.Release(q) // the slice holds a reference to p's buffers
	return err
}

// appendPage appends a page's levels and values to the column.
func (col *column) appendPage(p parquet.Page) error {
	col.rep = append(col.rep, p.RepetitionLevels()...)
	col.def = append(col.def, p.DefinitionLevels()...)
	return col.appendValues(p, 0, -1)
}

// appendValues appends values [from, to) of a page (to < 0: to its end).
func (col *column) appendValues(p parquet.Page, from, to int) error {
	data := p.Data()
	if d := p.Dictionary(); d != nil {
		if col.dict == nil && col.len() > 0 {
			return fmt.Errorf("%w: column mixes dictionaries", ErrCorrupt)
		}
		col.dict = d
		var err error
		col.idx, err = appendCut(col.idx, data.Int32(), from, to, col.hint)
		return err
	}
	if col.dict != nil {
		return fmt.Errorf("%w: column mixes dictionary and plain pages", ErrCorrupt)
	}
	switch data.Kind() {
	case encoding.Int64:
		var err error
		if col.i64, err = appendCut(col.i64, data.Int64(), from, to, col.hint); err != nil {
			return err
		}
	case encoding.Int32:
		var err error
		if col.i32, err = appendCut(col.i32, data.Int32(), from, to, col.hint); err != nil {
			return err
		}
	case encoding.ByteArray:
		buf, offs := data.ByteArray()
		if len(offs) == 0 {
			if to > 0 {
				return fmt.Errorf("%w: values %d-%d of a page without offsets", ErrCorrupt, from, to)
			}
			break // a page of nulls only: no values, and no offsets to join
		}
		a, b, err := cutValues(from, to, len(offs)-1)
		if err != nil {
			return err
		}
		offs = offs[a : b+1]
		// Only the bytes the offsets cover: a sliced page's buffer may
		// hold more on either side, and the next page's values must
		// start where this page's last one ends.
		lo, hi := offs[0], offs[len(offs)-1]
		if lo > hi || int(hi) > len(buf) {
			return fmt.Errorf("%w: byte array offsets %d-%d of %d bytes", ErrCorrupt, lo, hi, len(buf))
		}
		base := uint32(len(col.data))
		if len(col.offsets) > 0 {
			col.offsets = col.offsets[:len(col.offsets)-1]
		}
		for _, o := range offs {
			col.offsets = append(col.offsets, base+o-lo)
		}
		col.data = append(col.data, buf[lo:hi]...)
	case encoding.FixedLenByteArray:
		buf, size := data.FixedLenByteArray()
		if size <= 0 {
			if to < 0 {
				col.data = append(col.data, buf...)
				col.fixed = size
				break
			}
			return fmt.Errorf("%w: fixed-length values of %d bytes", ErrCorrupt, size)
		}
		a, b, err := cutValues(from, to, len(buf)/size)
		if err != nil {
			return err
		}
		col.data = append(col.data, buf[a*size:b*size]...)
		col.fixed = size
	default:
		return fmt.Errorf("%w: unexpected column kind %v", ErrCorrupt, data.Kind())
	}
	return nil
}

// cutValues bounds [from, to) to a page of n values (to < 0: all of them).
func cutValues(from, to, n int) (int, int, error) {
	if to < 0 {
		return 0, n, nil
	}
	if from > to || to > n {
		return 0, 0, fmt.Errorf("%w: values %d-%d of a %d-value page", ErrCorrupt, from, to, n)
	}
	return from, to, nil
}

// appendCut appends values [from, to) of a page (cutValues) to dst, which
// gets the column's expected size as capacity when it has none yet.
func appendCut[T any](dst, v []T, from, to, hint int) ([]T, error) {
	a, b, err := cutValues(from, to, len(v))
	if err != nil {
		return dst, err
	}
	if len(dst) == 0 && cap(dst) < hint {
		dst = make([]T, 0, hint)
	}
	return append(dst, v[a:b]...), nil
}

func (c *column) len() int {
	switch {
	case c.dict != nil:
		return len(c.idx)
	case len(c.i64) > 0:
		return len(c.i64)
	case len(c.i32) > 0:
		return len(c.i32)
	case c.fixed > 0:
		return len(c.data) / c.fixed
	case len(c.offsets) > 0:
		return len(c.offsets) - 1
	}
	return 0
}

// int64s returns the values of an integer column, resolving dictionaries.
func (c *column) int64s() []int64 {
	switch {
	case c.dict != nil:
		lut := resize(c.lut64, c.dict.Len())
		c.lut64 = lut
		for i := range lut {
			lut[i] = c.dict.Index(int32(i)).Int64()
		}
		out := resize(c.out64, len(c.idx))
		c.out64 = out
		for i, x := range c.idx {
			if x >= 0 && int(x) < len(lut) {
				out[i] = lut[x]
			} else {
				out[i] = 0
			}
		}
		return out
	case len(c.i32) > 0:
		out := resize(c.out64, len(c.i32))
		c.out64 = out
		for i, v := range c.i32 {
			out[i] = int64(v)
		}
		return out
	}
	return c.i64
}

func (c *column) int32s() []int32 {
	if c.dict == nil && len(c.i32) > 0 {
		return c.i32
	}
	if c.dict != nil && c.dict.Type().Kind() == parquet.Int32 {
		// Through a table of the dictionary's values, without widening.
		lut := resize(c.lut32, c.dict.Len())
		c.lut32 = lut
		for i := range lut {
			lut[i] = c.dict.Index(int32(i)).Int32()
		}
		out := resize(c.out32, len(c.idx))
		c.out32 = out
		for i, x := range c.idx {
			if x >= 0 && int(x) < len(lut) {
				out[i] = lut[x]
			} else {
				out[i] = 0
			}
		}
		return out
	}
	v := c.int64s()
	out := resize(c.out32, len(v))
	c.out32 = out
	for i := range v {
		out[i] = int32(v[i])
	}
	return out
}

// dictIndex is the dictionary index of s, or -1 when the chunk's
// dictionary lacks it (or the chunk has none).
func (c *column) dictIndex(s string) int32 {
	if c.dict == nil {
		return -1
	}
	for i := range c.dict.Len() {
		if string(c.dict.Index(int32(i)).ByteArray()) == s {
			return int32(i)
		}
	}
	return -1
}

func (c *column) bytesAt(i int) []byte {
	switch {
	case c.dict != nil:
		if i < len(c.idx) && c.idx[i] >= 0 && int(c.idx[i]) < c.dict.Len() {
			return c.dict.Index(c.idx[i]).ByteArray()
		}
	case c.fixed > 0:
		if (i+1)*c.fixed <= len(c.data) {
			return c.data[i*c.fixed : (i+1)*c.fixed]
		}
	case i+1 < len(c.offsets):
		return c.data[c.offsets[i]:c.offsets[i+1]]
	}
	return nil
}

func (c *column) traceID(i int) model.TraceID {
	var id model.TraceID
	copy(id[:], c.bytesAt(i))
	return id
}

// spanEqual reports whether two spans have the same content, comparing
// resources and scopes by value.
func spanEqual(a, b *model.Span) bool {
	return reflect.DeepEqual(*a, *b)
}
