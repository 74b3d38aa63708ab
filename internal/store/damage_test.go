package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/query/partial"
	"github.com/clewtrace/clew/internal/query/predicate"
	"github.com/clewtrace/clew/internal/store/block"
)

// flipDataBytes flips one byte in the middle of each of the first n
// column chunks of a block's data.parquet (its column data; the footer and
// page index stay intact, so the block still opens), as a failing disk or a
// bad copy would.
func flipDataBytes(t *testing.T, dir, id string, n int) {
	t.Helper()
	path := filepath.Join(dir, "blocks", id, "data.parquet")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)), parquet.SkipPageIndex(true))
	if err != nil {
		t.Fatal(err)
	}
	flipped := 0
	for _, c := range f.Metadata().RowGroups[0].Columns {
		if flipped == n {
			break
		}
		m := c.MetaData
		if m.TotalCompressedSize < 8 {
			continue
		}
		start := m.DataPageOffset
		if m.DictionaryPageOffset > 0 && m.DictionaryPageOffset < start {
			start = m.DictionaryPageOffset
		}
		data[start+m.TotalCompressedSize/2] ^= 0x5a
		flipped++
	}
	if flipped != n {
		t.Fatalf("flipped %d bytes, want %d", flipped, n)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// damageRowGroup flips a byte in every 64 of every column chunk of row
// group rg of a block's data.parquet, so that every page of it is damaged
// and the other row groups, the footer and the page index are not.
func damageRowGroup(t *testing.T, dir, id string, rg int) {
	t.Helper()
	path := filepath.Join(dir, "blocks", id, "data.parquet")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)), parquet.SkipPageIndex(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range f.Metadata().RowGroups[rg].Columns {
		m := c.MetaData
		start := m.DataPageOffset
		if m.DictionaryPageOffset > 0 && m.DictionaryPageOffset < start {
			start = m.DictionaryPageOffset
		}
		for off := start + 16; off < start+m.TotalCompressedSize; off += 64 {
			data[off] ^= 0x5a
		}
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Issue 16, item 3: one damaged block used to answer 500 for its own traces,
// for healthy traces elsewhere (bloom-filter false positives) and for every
// search that reached it. Now a read error in a block is logged, counted,
// reported as partial, and the query answers from the other blocks; the
// block is verified and, being damaged, quarantined with exactly its spans
// lost.
func TestDamagedBlockDoesNotPoisonOtherReads(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{now: t0}
	noCompaction := func(o *Options) { o.CompactBlocks = 1000 }
	s := openStore(t, dir, clk, noCompaction)
	// Three blocks of five traces (two spans each): 1-5, 6-10, 11-15.
	var blockIDs []string
	for b := range 3 {
		for tr := 1 + 5*b; tr <= 5+5*b; tr++ {
			mustConsume(t, s, batch(tr, spanSpec{service: "gateway", name: "GET /", idx: 1, parent: -1, startMs: tr, durMs: 3},
				spanSpec{service: "orders", name: "list", idx: 2, parent: 1, startMs: tr + 1, durMs: 1}))
		}
		if err := s.flush(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		m := blockMetas(s)
		blockIDs = append(blockIDs, m[len(m)-1].ID)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	damaged := blockIDs[0]
	flipDataBytes(t, dir, damaged, 16)

	reg := prometheus.NewRegistry()
	s2 := openStore(t, dir, clk, noCompaction, func(o *Options) { o.Registerer = reg })
	defer s2.Close(context.Background())
	if n := len(blockMetas(s2)); n != 3 {
		t.Fatalf("%d blocks open, want 3 (the damage is in column data, not the footer)", n)
	}

	// A trace of the damaged block: no spans, no error, a partial answer.
	ctx, rep := partial.With(context.Background())
	spans, err := s2.Trace(ctx, traceID(3))
	if err != nil || len(spans) != 0 {
		t.Fatalf("trace in the damaged block: %d spans, err %v; want 0 and no error", len(spans), err)
	}
	if r := rep.Reasons(); len(r) != 1 || !strings.Contains(r[0], damaged) {
		t.Fatalf("partial reasons %q, want one naming block %s", r, damaged)
	}
	// Healthy traces answer whole.
	for _, tr := range []int{6, 10, 11, 15} {
		ctx, rep := partial.With(context.Background())
		spans, err := s2.Trace(ctx, traceID(tr))
		if err != nil || len(spans) != 2 {
			t.Errorf("healthy trace %d: %d spans, err %v; want 2", tr, len(spans), err)
		}
		if rep.Partial() {
			t.Errorf("healthy trace %d marked partial: %q", tr, rep.Reasons())
		}
	}
	// A search reaching every block answers the ten healthy traces, partial.
	all := predicate.MustCompile(anyKind(predicate.Predicate{Service: "gateway"}))
	ctx, rep = partial.With(context.Background())
	ids, err := s2.FindTraceIDs(ctx, all, 200)
	if err != nil {
		t.Fatal(err)
	}
	if want := traceRange(6, 15); !sameIDs(ids, want) {
		t.Errorf("search found %d traces %v, want traces 6-15", len(ids), ids)
	}
	if !rep.Partial() {
		t.Error("search over the damaged block not marked partial")
	}
	if got := counterValue(s2.metrics.blockReadErrors); got != 2 {
		t.Errorf("clew_store_block_read_errors_total = %v, want 2 (one trace read, one search)", got)
	}

	// Verification finds the damage: the block moves to quarantine with its
	// ten spans (its only row group), and the rest is untouched.
	if err := s2.Maintain(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(s2.metrics.blocksQuarantined); got != 1 {
		t.Errorf("clew_store_blocks_quarantined_total = %v, want 1", got)
	}
	if got := counterValue(s2.metrics.spansLost); got != 10 {
		t.Errorf("clew_store_damaged_spans_total = %v, want 10", got)
	}
	if m := blockMetas(s2); len(m) != 2 || m[0].ID != blockIDs[1] || m[1].ID != blockIDs[2] {
		t.Errorf("blocks after verification: %+v, want the two healthy ones", m)
	}
	if _, err := os.Stat(filepath.Join(dir, "blocks", "quarantine", damaged, "data.parquet")); err != nil {
		t.Errorf("damaged data not in quarantine: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "blocks", damaged)); !os.IsNotExist(err) {
		t.Errorf("damaged block still in blocks/ (stat: %v)", err)
	}
	ctx, rep = partial.With(context.Background())
	ids, err = s2.FindTraceIDs(ctx, all, 200)
	if err != nil || !sameIDs(ids, traceRange(6, 15)) || rep.Partial() {
		t.Errorf("search after quarantine: %d traces, err %v, partial %q; want traces 6-15, complete", len(ids), err, rep.Reasons())
	}
}

// Damage in one row group of a block of several loses exactly that row
// group's spans: before verification its traces answer empty (partial)
// while traces of the other row groups answer whole; verification rebuilds
// the other row groups as a new block, counts exactly the damaged row
// group's spans as lost and quarantines the block.
func TestDamagedRowGroupLosesOnlyItsSpans(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{now: t0}
	const traces, perTrace = 6000, 12 // three row groups of whole traces
	spans := make([]model.Span, 0, traces*perTrace)
	res := &model.Resource{ServiceName: "gateway"}
	for tr := range traces {
		for i := range perTrace {
			start := t0.Add(time.Duration(tr) * time.Millisecond).UnixNano()
			s := model.Span{TraceID: traceID(tr), SpanID: spanID(tr, i), Name: "op", Kind: model.KindServer,
				StartUnixNano: start, EndUnixNano: start + 1000, Resource: res, Scope: &model.Scope{},
				Attributes: []model.Attribute{{Key: "trace", Value: model.IntValue(int64(tr))}}}
			if i > 0 {
				s.ParentSpanID = spanID(tr, 0)
			}
			spans = append(spans, s)
		}
	}
	bucket, err := objstore.NewLocal(filepath.Join(dir, "blocks"))
	if err != nil {
		t.Fatal(err)
	}
	meta, err := block.Write(context.Background(), bucket, spans, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	bl, err := block.Open(context.Background(), bucket, meta.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Rows are in trace ID order (traceID(n) sorts by n), row groups hold
	// whole traces: row group g holds the next RowGroupRows(g)/perTrace.
	var firstTrace []int // of each row group, and one past the end
	var rows []int64
	next := 0
	for g := range bl.RowGroups() {
		firstTrace = append(firstTrace, next)
		rows = append(rows, bl.RowGroupRows(g))
		next += int(bl.RowGroupRows(g)) / perTrace
	}
	firstTrace = append(firstTrace, next)
	_ = bl.Close()
	if len(rows) != 3 || next != traces {
		t.Fatalf("row groups of %v spans covering %d traces; want three covering %d", rows, next, traces)
	}
	const damaged = 1
	damageRowGroup(t, dir, meta.ID, damaged)

	reg := prometheus.NewRegistry()
	s := openStore(t, dir, clk, func(o *Options) { o.Registerer = reg; o.CompactBlocks = 1000 })
	defer s.Close(context.Background())
	inDamaged := func(tr int) bool { return tr >= firstTrace[damaged] && tr < firstTrace[damaged+1] }
	samples := []int{0, firstTrace[1] - 1, firstTrace[1], firstTrace[2] - 1, firstTrace[2], traces - 1}
	for _, tr := range samples {
		ctx, rep := partial.With(context.Background())
		got, err := s.Trace(ctx, traceID(tr))
		switch {
		case err != nil:
			t.Fatalf("trace %d: %v", tr, err)
		case inDamaged(tr) && (len(got) != 0 || !rep.Partial()):
			t.Errorf("trace %d of the damaged row group: %d spans, partial %v; want none, partial", tr, len(got), rep.Partial())
		case !inDamaged(tr) && (len(got) != perTrace || rep.Partial()):
			t.Errorf("trace %d of an intact row group: %d spans, partial %q; want %d, complete", tr, len(got), rep.Reasons(), perTrace)
		}
	}

	if err := s.Maintain(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(s.metrics.spansLost); got != float64(rows[damaged]) {
		t.Errorf("clew_store_damaged_spans_total = %v, want %d (the damaged row group)", got, rows[damaged])
	}
	if got := counterValue(s.metrics.blocksQuarantined); got != 1 {
		t.Errorf("clew_store_blocks_quarantined_total = %v, want 1", got)
	}
	if m := blockMetas(s); len(m) != 1 || int64(m[0].SpanCount) != rows[0]+rows[2] {
		t.Fatalf("blocks after verification: %+v, want one of the %d intact spans", m, rows[0]+rows[2])
	}
	want := append(traceRange(0, firstTrace[1]-1), traceRange(firstTrace[2], traces-1)...)
	ctx, rep := partial.With(context.Background())
	ids, err := s.FindTraceIDs(ctx, predicate.MustCompile(anyKind(predicate.Predicate{Service: "gateway"})), traces)
	if err != nil || !sameIDs(ids, want) || rep.Partial() {
		t.Errorf("search after verification: %d traces, err %v, partial %q; want the %d of the intact row groups, complete",
			len(ids), err, rep.Reasons(), len(want))
	}
	for _, tr := range samples {
		got, err := s.Trace(context.Background(), traceID(tr))
		if err != nil || (inDamaged(tr) && len(got) != 0) || (!inDamaged(tr) && len(got) != perTrace) {
			t.Errorf("trace %d after verification: %d spans, err %v", tr, len(got), err)
		}
	}
}

func traceRange(from, to int) []model.TraceID {
	var out []model.TraceID
	for i := from; i <= to; i++ {
		out = append(out, traceID(i))
	}
	return out
}

func sameIDs(got, want []model.TraceID) bool {
	if len(got) != len(want) {
		return false
	}
	set := map[model.TraceID]bool{}
	for _, id := range got {
		set[id] = true
	}
	for _, id := range want {
		if !set[id] {
			return false
		}
	}
	return true
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// A block damaged where every read needs it (here its Parquet footer's
// metadata, which Open decodes) cannot be opened: it moves to quarantine
// at start-up, counted with its spans, and the other blocks are served.
// (Damage to the page index no longer does: Open skips it, the column
// indexes are never read, and an offset index that does not decode only
// makes seeks read from the chunk's start.)
func TestUnopenableBlockIsQuarantinedAtOpen(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{now: t0}
	noCompaction := func(o *Options) { o.CompactBlocks = 1000 }
	s := openStore(t, dir, clk, noCompaction)
	for tr := 1; tr <= 2; tr++ {
		mustConsume(t, s, batch(tr, spanSpec{service: "gateway", name: "GET /", idx: 1, parent: -1, startMs: tr, durMs: 3}))
		if err := s.flush(context.Background(), true); err != nil {
			t.Fatal(err)
		}
	}
	damaged := blockMetas(s)[0].ID
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "blocks", damaged, "data.parquet")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)), parquet.SkipPageIndex(true)); err != nil {
		t.Fatal(err)
	}
	// The footer is the last footerLen+8 bytes (metadata, its length,
	// "PAR1"): its first 16 bytes are the metadata's first fields.
	footerLen := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	start := len(data) - 8 - footerLen
	for i := range 16 {
		data[start+i] ^= 0xff
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}

	s2 := openStore(t, dir, clk, noCompaction, func(o *Options) { o.Registerer = prometheus.NewRegistry() })
	defer s2.Close(context.Background())
	if n1, n2 := traceLen(t, s2, 1), traceLen(t, s2, 2); n1 != 0 || n2 != 1 {
		t.Errorf("traces after open: %d and %d spans, want 0 (damaged block) and 1", n1, n2)
	}
	if got := counterValue(s2.metrics.blocksQuarantined); got != 1 {
		t.Errorf("clew_store_blocks_quarantined_total = %v, want 1", got)
	}
	if got := counterValue(s2.metrics.spansLost); got != 1 {
		t.Errorf("clew_store_damaged_spans_total = %v, want 1", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "blocks", "quarantine", damaged, "meta.json")); err != nil {
		t.Errorf("damaged block not in quarantine: %v", err)
	}
}

// A meta.json that does not decode used to stop the store from opening at
// all. Now it is copied to quarantine and the block rebuilt from its data
// and index, like a block without meta.json; the other blocks are served.
func TestDamagedMetaIsRebuilt(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{now: t0}
	noCompaction := func(o *Options) { o.CompactBlocks = 1000 }
	s := openStore(t, dir, clk, noCompaction)
	for tr := 1; tr <= 2; tr++ {
		mustConsume(t, s, batch(tr, spanSpec{service: "gateway", name: "GET /", idx: 1, parent: -1, startMs: tr, durMs: 3},
			spanSpec{service: "orders", name: "list", idx: 2, parent: 1, startMs: tr, durMs: 1}))
		if err := s.flush(context.Background(), true); err != nil {
			t.Fatal(err)
		}
	}
	damaged := blockMetas(s)[0].ID
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "blocks", damaged, "meta.json"), []byte(`{"version": 2, "id": "trunc`), 0o644); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, dir, clk, noCompaction)
	defer s2.Close(context.Background())
	if n1, n2 := traceLen(t, s2, 1), traceLen(t, s2, 2); n1 != 2 || n2 != 2 {
		t.Errorf("traces after open: %d and %d spans, want 2 and 2", n1, n2)
	}
	m := blockMetas(s2)
	if len(m) != 2 || m[0].ID == damaged || m[1].ID == damaged {
		t.Errorf("blocks after open: %+v, want two, the damaged one rebuilt under a new ID", m)
	}
	q, err := os.ReadFile(filepath.Join(dir, "blocks", "quarantine", damaged, "meta.json"))
	if err != nil || string(q) != `{"version": 2, "id": "trunc` {
		t.Errorf("quarantined meta.json = %q, %v", q, err)
	}
}
