package block

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
)

// TestTraceIndexExactRows checks traces.bin: every trace of a block has an
// entry with its exact first row, span count and start, so a trace read
// decodes the trace's rows and nothing else; IDs the block lacks have none.
func TestTraceIndexExactRows(t *testing.T) {
	ctx := context.Background()
	spans := genSpans(70_000, 11) // more than two row groups
	type want struct {
		spans int64
		start int64
	}
	byTrace := map[model.TraceID]*want{}
	for _, s := range spans {
		w := byTrace[s.TraceID]
		if w == nil {
			w = &want{start: s.StartUnixNano}
			byTrace[s.TraceID] = w
		}
		w.spans++
		w.start = min(w.start, s.StartUnixNano)
	}
	bl := writeOpen(t, newBucket(t), slices.Clone(spans))
	defer bl.Close()
	if len(bl.file.RowGroups()) < 2 {
		t.Fatalf("%d row groups, want several", len(bl.file.RowGroups()))
	}
	all, err := bl.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for id, w := range byTrace {
		e, ok, err := bl.lookupTrace(ctx, id)
		if err != nil || !ok {
			t.Fatalf("trace %s: found %v, err %v", id, ok, err)
		}
		if e.id != id || e.spans != w.spans || e.start != w.start {
			t.Fatalf("trace %s: entry %+v, want %d spans from %d", id, e, w.spans, w.start)
		}
		// The rows the entry names hold exactly this trace.
		if all[e.row].TraceID != id || all[e.row+e.spans-1].TraceID != id ||
			e.row > 0 && all[e.row-1].TraceID == id || e.row+e.spans < int64(len(all)) && all[e.row+e.spans].TraceID == id {
			t.Fatalf("trace %s: rows %d+%d are not exactly the trace's", id, e.row, e.spans)
		}
	}
	// Absent IDs: below the first, above the last, and between two stored ones.
	ids := make([]model.TraceID, 0, len(byTrace))
	for id := range byTrace {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b model.TraceID) int { return slices.Compare(a[:], b[:]) })
	between := ids[len(ids)/2]
	between[15]++
	for _, id := range []model.TraceID{{}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, between} {
		if _, ok := byTrace[id]; ok {
			continue
		}
		if _, ok, err := bl.lookupTrace(ctx, id); ok || err != nil {
			t.Errorf("absent trace %s: found %v, err %v", id, ok, err)
		}
		if got, err := bl.Trace(ctx, id); len(got) != 0 || err != nil {
			t.Errorf("absent trace %s: %d spans, err %v", id, len(got), err)
		}
	}
}

// TestTraceIndexDamage: a traces.bin of the wrong size fails Open; one with
// the right size but damaged bytes fails the trace read with ErrCorrupt,
// never a panic or wrong spans.
func TestTraceIndexDamage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	spans := genSpans(3000, 12)
	m, err := Write(ctx, b, slices.Clone(spans), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, m.ID, tracesName)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, good[:len(good)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, b, m.ID); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open with a short %s: %v, want ErrCorrupt", tracesName, err)
	}
	bad := slices.Clone(good)
	for i := len(tracesMagic); i < len(bad); i += 7 {
		bad[i] ^= 0x5a
	}
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	bl, err := Open(ctx, b, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer bl.Close()
	failed := 0
	for _, s := range spans {
		got, err := bl.Trace(ctx, s.TraceID)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("trace %s: %v, want ErrCorrupt", s.TraceID, err)
			}
			failed++
			continue
		}
		for _, g := range got {
			if g.TraceID != s.TraceID {
				t.Fatalf("trace %s: got a span of %s", s.TraceID, g.TraceID)
			}
		}
	}
	if failed == 0 {
		t.Fatal("no trace read noticed the damage")
	}
}

// TestTraceReadSeeks: blocks are opened without parquet-go's page index,
// but Open reads every chunk's offset index (in one read), so reading the
// last trace of a row group reads about as much as reading its first one
// (43 requests and 27 here, as when Open loaded the whole page index) —
// not every page before it (97, without offset indexes), nor the chunks'
// offset indexes one by one (67, had they been left to the first seek).
func TestTraceReadSeeks(t *testing.T) {
	ctx := context.Background()
	local := newBucket(t)
	m, err := Write(ctx, local, genSpans(70_000, 13), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	requests := func(pick func(bl *Block) model.TraceID) int64 {
		counting := objstore.NewCounting(local)
		bl, err := Open(ctx, counting, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer bl.Close()
		id := pick(bl)
		before := counting.Counts().RangeRead
		spans, err := bl.Trace(ctx, id)
		if err != nil || len(spans) == 0 {
			t.Fatalf("trace %s: %d spans, err %v", id, len(spans), err)
		}
		return counting.Counts().RangeRead - before
	}
	// The first trace of row group 0, and the last trace that starts in it.
	first := requests(func(bl *Block) model.TraceID { return bl.ix.granules[0].first })
	last := requests(func(bl *Block) model.TraceID {
		end := bl.ix.rowGroups[0].rows
		g := 0
		for g+1 < len(bl.ix.granules) && bl.ix.granules[g+1].row < end {
			g++
		}
		_, entries, err := bl.granuleTraces(ctx, bl.ix.granules[g].first)
		if err != nil || len(entries) == 0 {
			t.Fatalf("granule %d: %d entries, err %v", g, len(entries), err)
		}
		return entries[len(entries)-1].id
	})
	t.Logf("requests: first trace %d, last trace of the row group %d", first, last)
	if last > 2*first {
		t.Fatalf("reading the last trace of a row group took %d requests, the first %d: the pages before it, or the offset indexes one by one, were read", last, first)
	}
}

// seekRecorder is a column chunk whose page readers record the rows they
// are asked to seek to.
type seekRecorder struct {
	readerChunk
	seeks *[]int64
}

func (c seekRecorder) Pages() parquet.Pages {
	return recordingPages{Pages: c.readerChunk.Pages(), seeks: c.seeks}
}

type recordingPages struct {
	parquet.Pages
	seeks *[]int64
}

func (p recordingPages) SeekToRow(row int64) error {
	*p.seeks = append(*p.seeks, row)
	return p.Pages.SeekToRow(row)
}

// readRanges seeks only to the first row of a page and cuts the rows out
// of the page itself: parquet-go, asked to seek inside a page, copies the
// rest of the page into a buffer its pool never gets back, which made each
// trace read allocate every page it touched (~1 MB a lookup on clewbench
// data; BenchmarkTraceByID reports the allocations). The rows it returns
// are those of the whole chunk, for every column and for ranges that start
// inside a page, span pages, or share one.
func TestReadRangesSeeksToPageStarts(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	// The second block gives most spans a generic attribute (40 keys, each
	// too rare for a column of its own): repeated columns of many pages.
	generic := genSpans(70_000, 13)
	for i := range generic {
		if rng.IntN(4) > 0 {
			k := fmt.Sprintf("g%02d", rng.IntN(40))
			generic[i].Attributes = append(slices.Clip(generic[i].Attributes), model.Attribute{Key: k, Value: model.StringValue(fmt.Sprint(rng.IntN(1000)))})
		}
	}
	inside, repeated := 0, 0
	for _, spans := range [][]model.Span{genSpans(70_000, 13), generic} {
		bl := writeOpen(t, newBucket(t), spans)
		inside += checkReadRanges(t, bl, rng, &repeated)
	}
	if inside < 200 || repeated < 3 {
		t.Fatalf("%d ranges started inside a page, %d repeated columns read: the test lost its cases", inside, repeated)
	}
}

// checkReadRanges reads random row ranges of each column of bl's first row
// group and compares them with the whole chunk; it returns how many ranges
// started inside a page, and counts the repeated columns it read.
func checkReadRanges(t *testing.T, bl *Block, rng *rand.Rand, repeated *int) (inside int) {
	t.Helper()
	ctx := context.Background()
	rows := bl.ix.rowGroups[0].rows
	rg := bl.rowGroup(0, bl.queryReader(ctx))
	leaves := bl.file.Schema().Columns()
	for col, chunk := range rg.ColumnChunks() {
		leaf, _ := bl.file.Schema().Lookup(leaves[col]...)
		index := offsetIndex(chunk)
		if index == nil || index.NumPages() < 2 {
			continue
		}
		starts := map[int64]bool{}
		for i := range index.NumPages() {
			starts[index.FirstRowIndex(i)] = true
		}
		whole, err := readColumn(ctx, chunk)
		if err != nil {
			t.Fatal(err)
		}
		if len(whole.rep) > 0 {
			*repeated++
		}
		for range 20 {
			var ranges []rowRange
			at := rng.Int64N(rows / 2)
			for range 1 + rng.IntN(3) {
				n := 1 + rng.IntN(40)
				if rng.IntN(4) == 0 {
					n += 5000 // across a page boundary
				}
				if at+int64(n) > rows {
					break
				}
				ranges = append(ranges, rowRange{at, n})
				at += int64(n) + rng.Int64N(200) // the next range may share the page
			}
			if len(ranges) == 0 {
				continue
			}
			var seeks []int64
			got, err := readRanges(ctx, seekRecorder{chunk.(readerChunk), &seeks}, ranges)
			if err != nil {
				t.Fatalf("column %v, ranges %v: %v", leaves[col], ranges, err)
			}
			for _, row := range seeks {
				if !starts[row] {
					t.Fatalf("column %v, ranges %v: seek to row %d, inside a page", leaves[col], ranges, row)
				}
			}
			for _, r := range ranges {
				if !starts[r.from] {
					inside++
				}
			}
			want := cutRows(whole, ranges, leaf.MaxDefinitionLevel)
			if g, w := columnText(got), columnText(want); !slices.Equal(g, w) {
				t.Fatalf("column %v, ranges %v:\n got %d values %v\nwant %d values %v", leaves[col], ranges, len(g), head(g), len(w), head(w))
			}
		}
	}
	return inside
}

// cutRows is the part of a whole column chunk that the row ranges hold:
// levels from row to row (a row starts at repetition level 0), values
// where the definition level is the column's maximum.
func cutRows(c *column, ranges []rowRange, maxDef int) *column {
	levels := len(c.def)
	if len(c.rep) > 0 {
		levels = len(c.rep)
	}
	if levels == 0 {
		levels = c.len()
	}
	rowStart := []int{} // level index of each row's start, then levels
	for j := range levels {
		if len(c.rep) == 0 || c.rep[j] == 0 {
			rowStart = append(rowStart, j)
		}
	}
	rowStart = append(rowStart, levels)
	valueAt := func(level int) int { // values before a level index
		if len(c.def) == 0 {
			return level
		}
		n := 0
		for j := range level {
			if int(c.def[j]) == maxDef {
				n++
			}
		}
		return n
	}
	out := &column{dict: c.dict, fixed: c.fixed}
	for _, r := range ranges {
		l0, l1 := rowStart[r.from], rowStart[r.from+int64(r.n)]
		if len(c.rep) > 0 {
			out.rep = append(out.rep, c.rep[l0:l1]...)
		}
		if len(c.def) > 0 {
			out.def = append(out.def, c.def[l0:l1]...)
		}
		v0, v1 := valueAt(l0), valueAt(l1)
		switch {
		case c.dict != nil:
			out.idx = append(out.idx, c.idx[v0:v1]...)
		case c.i64 != nil:
			out.i64 = append(out.i64, c.i64[v0:v1]...)
		case c.i32 != nil:
			out.i32 = append(out.i32, c.i32[v0:v1]...)
		case c.fixed > 0:
			out.data = append(out.data, c.data[v0*c.fixed:v1*c.fixed]...)
		default:
			for i := v0; i < v1; i++ {
				if len(out.offsets) == 0 {
					out.offsets = append(out.offsets, 0)
				}
				out.data = append(out.data, c.bytesAt(i)...)
				out.offsets = append(out.offsets, uint32(len(out.data)))
			}
		}
	}
	return out
}

// columnText is a column's levels and values as text, dictionaries
// resolved.
func columnText(c *column) []string {
	out := []string{fmt.Sprint("rep", c.rep), fmt.Sprint("def", c.def)}
	for i := range c.len() {
		switch {
		case c.dict != nil:
			out = append(out, c.dict.Index(c.idx[i]).String())
		case c.i64 != nil:
			out = append(out, fmt.Sprint(c.i64[i]))
		case c.i32 != nil:
			out = append(out, fmt.Sprint(c.i32[i]))
		default:
			out = append(out, string(c.bytesAt(i)))
		}
	}
	return out
}

func head(s []string) []string { return s[:min(len(s), 6)] }
