package block

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
)

// readDedupe is what the store does to a trace's spans before anything
// sees them: drop copies (same span ID, kind and start; first kept) and
// sort by start, stably.
func readDedupe(spans []model.Span) []model.Span {
	type key struct {
		id    model.SpanID
		kind  model.SpanKind
		start int64
	}
	seen := map[key]bool{}
	var out []model.Span
	for _, s := range spans {
		k := key{s.SpanID, s.Kind, s.StartUnixNano}
		if !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b model.Span) int { return int(min(max(a.StartUnixNano-b.StartUnixNano, -1), 1)) })
	return out
}

// oddSpans adds to genSpans' realistic traces the cases a summary must get
// right: a trace without its root (orphans only), a trace whose spans all
// have parents in the trace (a cycle), copies of spans (retries, one with
// another kind, which is not a copy), "error"=true attributes, spans
// without a resource, names too long for the string table, and more names
// than the string table takes.
func oddSpans(seed uint64) []model.Span {
	rng := rand.New(rand.NewPCG(seed, 7))
	spans := genSpans(3000, seed)
	res := &model.Resource{ServiceName: "odd"}
	tid := func() (t model.TraceID) {
		for i := range t {
			t[i] = byte(rng.Uint32())
		}
		return t
	}
	sid := func() (s model.SpanID) {
		for i := range s {
			s[i] = byte(rng.Uint32())
		}
		return s
	}
	// Orphans only: the root has not arrived.
	t1 := tid()
	for i := range 4 {
		spans = append(spans, model.Span{TraceID: t1, SpanID: sid(), ParentSpanID: sid(), Name: fmt.Sprint("orphan", i),
			StartUnixNano: 1_760_000_000_000_000_000 + int64(4-i)*1000, EndUnixNano: 1_760_000_000_000_010_000, Resource: res})
	}
	// A cycle: every span's parent is in the trace.
	t2 := tid()
	a, b := sid(), sid()
	spans = append(spans,
		model.Span{TraceID: t2, SpanID: a, ParentSpanID: b, Name: "a", StartUnixNano: 5e18, EndUnixNano: 5e18 + 10, Resource: res},
		model.Span{TraceID: t2, SpanID: b, ParentSpanID: a, Name: "b", StartUnixNano: 5e18 + 1, EndUnixNano: 5e18 + 3})
	// error=true attributes, long names and many names.
	for i := 0; i < 3000; i += 5 {
		s := &spans[i]
		s.Attributes = append(slices.Clone(s.Attributes), model.Attribute{Key: "error", Value: model.BoolValue(i%10 == 0)})
		if i%15 == 0 {
			s.Name = strings.Repeat("long", 100)
		}
		if i%3 == 0 && s.ParentSpanID.IsZero() {
			s.Name = fmt.Sprint("root-", i) // distinct root names
		}
	}
	// Copies of spans, and a span sharing an ID with another kind.
	for i := 0; i < 200; i += 7 {
		c := spans[i]
		spans = append(spans, c)
		if i%2 == 0 {
			c.Kind = model.KindProducer
			spans = append(spans, c)
		}
	}
	// More distinct names than the table takes.
	for i := range maxSummaryStrings + 10 {
		spans = append(spans, model.Span{TraceID: tid(), SpanID: sid(), Name: fmt.Sprint("op-", i),
			StartUnixNano: 6e18 + int64(i), EndUnixNano: 6e18 + int64(2*i), Resource: &model.Resource{ServiceName: fmt.Sprint("svc-", i%5000)}})
	}
	return spans
}

func TestSummariesEqualSpans(t *testing.T) {
	ctx := context.Background()
	for _, seed := range []uint64{1, 2} {
		spans := oddSpans(seed)
		b := newBucket(t)
		m, err := Write(ctx, b, spans, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		bl, err := Open(ctx, b, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		byTrace := map[model.TraceID][]model.Span{}
		for _, s := range spans {
			byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
		}
		n := 0
		for id, trace := range byTrace {
			got, found, err := bl.Summary(ctx, id)
			if err != nil || !found {
				t.Fatalf("trace %s: found %v, err %v", id, found, err)
			}
			// The spans in block order (start, span ID), as a read gives them.
			slices.SortStableFunc(trace, func(a, b model.Span) int { return compareKeys(keyOf(&a, 0), keyOf(&b, 0)) })
			if want := model.Summarize(readDedupe(trace)); !reflect.DeepEqual(got, want) {
				t.Fatalf("trace %s (%d spans):\n got %+v\nwant %+v", id, len(trace), got, want)
			}
			// And what the store would summarise from a trace read.
			if n++; n%40 == 0 || trace[0].Name == "orphan0" || trace[0].Name == "a" {
				read, err := bl.Trace(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if want := model.Summarize(readDedupe(read)); !reflect.DeepEqual(got, want) {
					t.Fatalf("trace %s read back (%d spans):\n got %+v\nwant %+v", id, len(read), got, want)
				}
			}
		}
		if _, found, err := bl.Summary(ctx, model.TraceID{1, 2, 3}); found || err != nil {
			t.Errorf("absent trace: found %v, err %v", found, err)
		}
		bl.Close()
	}
}

func TestSummaryOrphansAndCycles(t *testing.T) {
	ctx := context.Background()
	spans := oddSpans(3)
	b := newBucket(t)
	m, err := Write(ctx, b, spans, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	bl, err := Open(ctx, b, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer bl.Close()
	var orphan, cycle model.TraceID
	for _, s := range spans {
		switch s.Name {
		case "orphan0":
			orphan = s.TraceID
		case "a":
			cycle = s.TraceID
		}
	}
	got, _, err := bl.Summary(ctx, orphan)
	if err != nil || got.HasRoot || got.RootOperationName != "orphan3" || got.SpanCount != 4 || got.RootServiceName != "odd" {
		t.Errorf("orphans: %+v, err %v (want the earliest orphan, no root)", got, err)
	}
	got, _, err = bl.Summary(ctx, cycle)
	if err != nil || got.HasRoot || got.RootOperationName != "a" || len(got.Services) != 2 || got.Services[1].Name != model.UnknownService {
		t.Errorf("cycle: %+v, err %v", got, err)
	}
}

// TestSummaryFallback: a block without summaries.bin, or with it damaged,
// answers ErrNoSummary (the caller reads the trace); its other reads are
// unaffected. A v5 block has none.
func TestSummaryFallback(t *testing.T) {
	ctx := context.Background()
	spans := genSpans(2000, 9)
	id := spans[0].TraceID
	damage := map[string]func(path string) error{
		"missing": os.Remove,
		"chunk": func(p string) error { // a flipped byte in the first chunk
			raw, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			raw[6] ^= 0x40
			return os.WriteFile(p, raw, 0o644)
		},
		"footer": func(p string) error {
			raw, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			raw[len(raw)-14] ^= 0x01
			return os.WriteFile(p, raw, 0o644)
		},
		"truncated": func(p string) error { return os.Truncate(p, 100) },
		"empty":     func(p string) error { return os.Truncate(p, 0) },
	}
	for name, fn := range damage {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			b, err := objstore.NewLocal(dir)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Write(ctx, b, spans, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := fn(filepath.Join(dir, m.ID, summariesName)); err != nil {
				t.Fatal(err)
			}
			bl, err := Open(ctx, b, m.ID)
			if err != nil {
				t.Fatalf("a block whose summaries.bin is %s must open: %v", name, err)
			}
			defer bl.Close()
			// The first granule's first trace: in the damaged chunk.
			ids := []model.TraceID{id}
			if name == "chunk" {
				ids = []model.TraceID{bl.ix.granules[0].first}
			}
			for _, tid := range ids {
				if _, _, err := bl.Summary(ctx, tid); !errors.Is(err, ErrNoSummary) {
					t.Errorf("Summary: err %v, want ErrNoSummary", err)
				}
				if got, err := bl.Trace(ctx, tid); err != nil || len(got) == 0 {
					t.Errorf("Trace: %d spans, err %v", len(got), err)
				}
			}
		})
	}
	t.Run("v5", func(t *testing.T) {
		bucket := copyFixture(t, filepath.Join("testdata", "format-v5"))
		metas, err := ListMetas(ctx, bucket)
		if err != nil || len(metas) != 1 {
			t.Fatal(metas, err)
		}
		bl, err := Open(ctx, bucket, metas[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		defer bl.Close()
		if _, _, err := bl.Summary(ctx, fixtureSpans()[0].TraceID); !errors.Is(err, ErrNoSummary) {
			t.Errorf("v5 block: err %v, want ErrNoSummary", err)
		}
	})
}

// TestSummaryCompaction: a trace split over two blocks has a partial
// summary in each; the block compaction makes from them summarises the
// whole trace, copies counted once.
func TestSummaryCompaction(t *testing.T) {
	ctx := context.Background()
	spans := genSpans(1000, 11)
	id := spans[0].TraceID
	var trace []model.Span
	for _, s := range spans {
		if s.TraceID == id {
			trace = append(trace, s)
		}
	}
	if len(trace) < 4 {
		t.Fatalf("trace has %d spans", len(trace))
	}
	b := newBucket(t)
	// The first half (and a copy of the third span) in one block, the rest
	// in another: a trace cut by a head boundary, and a retried span.
	var one, two []model.Span
	for _, s := range spans {
		if s.TraceID != id {
			one = append(one, s)
		}
	}
	one = append(one, trace[:len(trace)/2]...)
	two = append(two, trace[len(trace)/2:]...)
	two = append(two, trace[2])
	var blocks []*Block
	for _, part := range [][]model.Span{one, two} {
		m, err := Write(ctx, b, part, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		bl, err := Open(ctx, b, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer bl.Close()
		blocks = append(blocks, bl)
	}
	for i, bl := range blocks {
		got, found, err := bl.Summary(ctx, id)
		if err != nil || !found {
			t.Fatalf("block %d: found %v err %v", i, found, err)
		}
		read, _ := bl.Trace(ctx, id)
		if want := model.Summarize(readDedupe(read)); !reflect.DeepEqual(got, want) || got.SpanCount == len(trace) {
			t.Errorf("block %d holds part of the trace: got %+v, want %+v", i, got, want)
		}
	}
	m, err := Compact(ctx, b, blocks, 1)
	if err != nil {
		t.Fatal(err)
	}
	merged, err := Open(ctx, b, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer merged.Close()
	got, found, err := merged.Summary(ctx, id)
	if err != nil || !found {
		t.Fatalf("merged: found %v err %v", found, err)
	}
	if want := model.Summarize(trace); !reflect.DeepEqual(got, want) || got.SpanCount != len(trace) || !got.HasRoot {
		t.Errorf("merged block:\n got %+v\nwant %+v", got, want)
	}
}

// TestSummaryChunkDecoder checks what the decoder refuses.
func TestSummaryChunkDecoder(t *testing.T) {
	entries := []traceEntry{{id: model.TraceID{1}, spans: 3, start: 100}}
	// Rows are written without a string table (as if it were full), so
	// every string is inline.
	row := func(fn func(w *summaryWriter)) []byte {
		w := &summaryWriter{strs: map[string]int{}, table: make([]string, maxSummaryStrings)}
		fn(w)
		return binary.LittleEndian.AppendUint32(w.b, crc32.Checksum(w.b, castagnoli))
	}
	good := model.TraceSummary{TraceID: model.TraceID{1}, RootServiceName: "a", RootOperationName: "op", HasRoot: true,
		StartUnixNano: 100, EndUnixNano: 90, SpanCount: 3, ErrorSpanCount: 1,
		Services: []model.ServiceSummary{{Name: "a", SpanCount: 1}, {Name: "b", SpanCount: 2, ErrorSpanCount: 1}}}
	b := row(func(w *summaryWriter) { w.appendRow(good) })
	got, err := decodeSummaryChunk(b, nil, entries)
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], good) {
		t.Fatalf("round trip: %+v, err %v", got, err)
	}
	bad := map[string]model.TraceSummary{}
	mod := func(name string, fn func(s *model.TraceSummary)) {
		s := good
		s.Services = slices.Clone(good.Services)
		fn(&s)
		bad[name] = s
	}
	mod("unsorted services", func(s *model.TraceSummary) { s.Services[0].Name = "c"; s.RootServiceName = "c" })
	mod("more errors than spans", func(s *model.TraceSummary) { s.Services[0].ErrorSpanCount = 2 })
	mod("more spans than rows", func(s *model.TraceSummary) { s.Services[1].SpanCount = 3 })
	mod("no spans", func(s *model.TraceSummary) { s.Services[0].SpanCount = 0 })
	mod("root not listed", func(s *model.TraceSummary) { s.RootServiceName = "z" })
	mod("no services", func(s *model.TraceSummary) { s.Services = nil; s.RootServiceName = "" })
	for name, s := range bad {
		if _, err := decodeSummaryChunk(row(func(w *summaryWriter) { w.appendRow(s) }), nil, entries); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err %v, want ErrCorrupt", name, err)
		}
	}
	for name, raw := range map[string][]byte{
		"checksum":       append(slices.Clone(b[:len(b)-1]), b[len(b)-1]^1),
		"trailing bytes": row(func(w *summaryWriter) { w.appendRow(good); w.b = append(w.b, 0) }),
		"two rows":       row(func(w *summaryWriter) { w.appendRow(good); w.appendRow(good) }),
		"table ref":      row(func(w *summaryWriter) { w.strs["a"] = 5; w.appendRow(good) }),
		"short":          {1, 2},
	} {
		if _, err := decodeSummaryChunk(raw, nil, entries); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err %v, want ErrCorrupt", name, err)
		}
	}
	if _, err := decodeSummaryChunk(row(func(w *summaryWriter) {}), nil, entries); !errors.Is(err, ErrCorrupt) {
		t.Errorf("no row for an entry: err %v", err)
	}
}

func TestSummaryFooterDecoder(t *testing.T) {
	w := newSummaryWriter()
	for range 3 {
		w.startGranule()
		w.appendRow(model.TraceSummary{RootServiceName: "a", Services: []model.ServiceSummary{{Name: "a", SpanCount: 1}}})
	}
	raw := w.finish()
	f, err := decodeSummaryFooter(raw, int64(len(raw)), 3)
	if err != nil || len(f.chunks) != 4 || f.chunks[0] != 4 || !reflect.DeepEqual(f.strs, []string{"a", ""}) {
		t.Fatalf("footer: %+v, err %v", f, err)
	}
	if _, err := decodeSummaryFooter(raw, int64(len(raw)), 4); !errors.Is(err, ErrCorrupt) {
		t.Errorf("granule count mismatch: err %v", err)
	}
	for i := len(raw) - 20; i < len(raw); i++ {
		bad := slices.Clone(raw)
		bad[i] ^= 0x10
		if _, err := decodeSummaryFooter(bad, int64(len(bad)), 3); err == nil {
			t.Errorf("byte %d flipped: no error", i)
		}
	}
}

// FuzzDecodeSummaries feeds arbitrary bytes to the summaries.bin footer
// decoder and, with a valid checksum, to the chunk decoder. Neither may
// panic or allocate without bound; an accepted chunk is consistent.
func FuzzDecodeSummaries(f *testing.F) {
	w := newSummaryWriter()
	w.startGranule()
	spans := genSpans(40, 3)
	keys := make([]sortKey, len(spans))
	for i := range spans {
		keys[i] = keyOf(&spans[i], i)
	}
	slices.SortFunc(keys, compareKeys)
	w.addTrace(spans, keys[:5])
	chunk := slices.Clone(w.b[4:])
	f.Add(chunk, uint8(5))
	f.Add(w.finish(), uint8(1))
	f.Add([]byte("CLWS"), uint8(0))
	f.Fuzz(func(t *testing.T, raw []byte, n uint8) {
		if fo, err := decodeSummaryFooter(raw, int64(len(raw)), int(n)); err == nil {
			if len(fo.chunks) != int(n)+1 || fo.chunks[n] > int64(len(raw)) {
				t.Fatalf("footer: %+v", fo)
			}
		}
		entries := []traceEntry{{id: model.TraceID{1}, spans: int64(n), start: 7}, {id: model.TraceID{2}, spans: 2}}
		body := binary.LittleEndian.AppendUint32(slices.Clone(raw), crc32.Checksum(raw, castagnoli))
		rows, err := decodeSummaryChunk(body, []string{"x", "y"}, entries)
		if err != nil {
			return
		}
		for i, s := range rows {
			if s.SpanCount < 1 || int64(s.SpanCount) > entries[i].spans || s.ErrorSpanCount > s.SpanCount || len(s.Services) == 0 {
				t.Fatalf("accepted an inconsistent row: %+v", s)
			}
		}
	})
}
