package block

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"

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

// A trace read allocates about what it returns: readRanges cuts the rows
// out of the pages holding them. When parquet-go was asked to seek inside
// a page, it copied the rest of the page into a buffer its pool never got
// back (and a page cut with Page.Slice kept a reference that was never
// released), so each read allocated every page it touched, ~1 MB per trace
// on clewbench data. Garbage collection is off while measuring, so the
// buffer pools are not emptied under the reads.
func TestTraceReadAllocates(t *testing.T) {
	ctx := context.Background()
	bl := writeOpen(t, newBucket(t), genSpans(70_000, 13))
	// The last trace of each granule of row group 0 past its first pages.
	var ids []model.TraceID
	for g := range bl.ix.granules {
		if bl.ix.granules[g].row < 3000 || bl.ix.granules[g].row >= bl.ix.rowGroups[0].rows {
			continue
		}
		_, entries, err := bl.granuleTraces(ctx, bl.ix.granules[g].first)
		if err != nil || len(entries) == 0 {
			t.Fatalf("granule %d: %d entries, err %v", g, len(entries), err)
		}
		ids = append(ids, entries[len(entries)-1].id)
	}
	if len(ids) < 4 {
		t.Fatalf("%d traces to read", len(ids))
	}
	read := func() (spans int) {
		for _, id := range ids {
			got, err := bl.Trace(ctx, id)
			if err != nil || len(got) == 0 {
				t.Fatalf("trace %s: %d spans, err %v", id, len(got), err)
			}
			spans += len(got)
		}
		return spans
	}
	read() // dictionaries and buffer pools warm
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	spans := read()
	runtime.ReadMemStats(&after)
	perSpan := float64(after.TotalAlloc-before.TotalAlloc) / float64(spans)
	t.Logf("%d traces, %d spans: %.0f bytes allocated a span", len(ids), spans, perSpan)
	if perSpan > 24<<10 {
		t.Fatalf("a trace read allocated %.0f bytes a span returned, want under 24 KiB (~74 KiB when whole pages were copied): pages are copied again", perSpan)
	}
}
