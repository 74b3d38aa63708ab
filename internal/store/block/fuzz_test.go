package block

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/clewtrace/clew/internal/model"
)

// FuzzDecodeIndex feeds arbitrary bodies (with a valid checksum, so the
// fuzzer gets past it) to the index decoder, and arbitrary bytes to the
// meta decoder. Neither may panic or allocate without bound.
func FuzzDecodeIndex(f *testing.F) {
	b := newBucket(f)
	m, err := Write(context.Background(), b, genSpans(50, 1), nil, 0)
	if err != nil {
		f.Fatal(err)
	}
	bl, err := Open(context.Background(), b, m.ID)
	if err != nil {
		f.Fatal(err)
	}
	good, err := encodeIndex(bl.ix)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good[:len(good)-4])
	// An index of every older format version (see fixture_test.go).
	olds, _ := filepath.Glob(filepath.Join("testdata", "format-v*", "*", indexName))
	for _, path := range olds {
		if raw, err := os.ReadFile(path); err == nil && len(raw) > 4 {
			f.Add(raw[:len(raw)-4])
		}
	}
	f.Add([]byte("CLWI"))
	f.Fuzz(func(t *testing.T, body []byte) {
		data := binary.LittleEndian.AppendUint32(append([]byte(nil), body...), crc32.Checksum(body, castagnoli))
		ix, err := decodeIndex(data)
		if err == nil {
			if _, err := encodeIndex(ix); err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			// Probes of what was accepted stay inside its filters.
			for i := range uint64(64) {
				h := i * 0x9E3779B97F4A7C15
				ix.mayContain(model.TraceID{0: byte(i), 15: byte(h)})
				if ix.values.present() {
					ix.values.mayContain(h)
				}
			}
		}
		_, _ = decodeMeta(body)
	})
}

// FuzzDecodeExtra feeds arbitrary bytes to the decoders of the v3 extra
// column (the full decoder and the event-attribute walk a search uses).
// Neither may panic or allocate without bound, and they must agree on what
// is well-formed: a value the full decoder accepts re-encodes to itself.
func FuzzDecodeExtra(f *testing.F) {
	for _, s := range genSpans(200, 5) {
		if b, ok := encodeExtra(nil, &s, 0, true); ok {
			f.Add(b)
		}
	}
	f.Add([]byte{0xff, 0xff, 0x03})
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := decodeExtra(b, 1)
		if walkErr := extraAttrs(b, func(string, []byte) {}); err == nil && walkErr != nil {
			t.Fatalf("full decode accepted what the walk refused: %v", walkErr)
		}
		if err != nil {
			return
		}
		s := model.Span{Flags: x.flags, TraceState: x.traceState, DroppedAttributesCount: x.droppedAttrs,
			DroppedEventsCount: x.droppedEvents, DroppedLinksCount: x.dropped, ParentSpanID: x.parentID,
			StatusMessage: x.statusMessage, Events: x.events, Links: x.links}
		again, ok := encodeExtra(nil, &s, 1, x.hasParentID)
		if !ok {
			t.Fatalf("accepted a value with nothing in it: %+v", x)
		}
		y, err := decodeExtra(again, 1)
		if err != nil || !reflect.DeepEqual(x, y) {
			t.Fatalf("re-encoded value decodes differently: %v\n%+v\n%+v", err, x, y)
		}
	})
}

// FuzzDecodeTraceEntries feeds arbitrary granules of traces.bin to its
// decoder: no panic, and whatever it accepts covers exactly the rows asked
// for, in trace ID order.
func FuzzDecodeTraceEntries(f *testing.F) {
	var good []byte
	for i := range 5 {
		good = appendTraceEntry(good, model.TraceID{0: byte(i)}, i+1, int64(1000+i), 1000)
	}
	f.Add(good, int64(15))
	f.Add([]byte{1, 2, 3}, int64(1))
	f.Fuzz(func(t *testing.T, b []byte, rows int64) {
		rows = max(0, min(rows, 1<<20))
		entries, err := decodeTraceEntries(b, 100, 100+rows, -5)
		if err != nil {
			return
		}
		next := int64(100)
		for i, e := range entries {
			if e.row != next || e.spans <= 0 || i > 0 && string(entries[i-1].id[:]) >= string(e.id[:]) {
				t.Fatalf("entry %d: %+v", i, e)
			}
			next += e.spans
		}
		if next != 100+rows {
			t.Fatalf("entries cover up to %d, want %d", next, 100+rows)
		}
	})
}

// FuzzDecodePostings: the postings decoder refuses or accepts, never
// panics, and what it accepts re-encodes to postings that decode the same.
func FuzzDecodePostings(f *testing.F) {
	b := newPostingsBuilder()
	for i := range 300 {
		b.attr("http.method", []string{"GET", "POST"}[i%2])
		b.attr("user.id", fmt.Sprint(i))
		b.eventAttr("exception.type", "E")
		b.span([]string{"a", "b"}[i%2], "op", i%3, i%2*2, int64(i*1000), 1000+int64(i))
		if i == 150 {
			b.endRowGroup()
		}
	}
	b.endRowGroup()
	e := &encoder{}
	b.finish().encode(e, []rowGroupStats{{rows: 151, minStart: 1000, maxStart: 1150}, {rows: 149, minStart: 1151, maxStart: 1299}})
	f.Add(e.b, int64(151), int64(149), int64(1000), int64(150))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0}, int64(1), int64(1), int64(0), int64(0))
	f.Fuzz(func(t *testing.T, data []byte, rows0, rows1, minStart, span int64) {
		span = max(0, min(span, 1<<40))
		rgs := []rowGroupStats{
			{rows: max(0, min(rows0, 1<<20)), minStart: minStart, maxStart: minStart + span},
			{rows: max(0, min(rows1, 1<<20)), minStart: minStart + span, maxStart: minStart + 2*span},
		}
		d := &decoder{b: data}
		p := decodePostings(d, rgs)
		if d.err != nil {
			return
		}
		for g, rg := range p.rowGroups {
			for _, st := range rg.stats {
				if st.spans > rgs[g].rows || int(st.term) >= len(p.terms) {
					t.Fatalf("accepted stat %+v", st)
				}
			}
			for l := range rg.long.all() {
				if int64(l.row) >= rgs[g].rows || l.duration <= rg.long.cut || l.start < rgs[g].minStart || l.start > rgs[g].maxStart {
					t.Fatalf("accepted long span %+v", l)
				}
			}
		}
		// Varints may come overlong, so compare what the bytes mean.
		e := &encoder{}
		p.encode(e, rgs)
		d2 := &decoder{b: e.b}
		if p2 := decodePostings(d2, rgs); d2.err != nil || len(d2.b) != 0 || !reflect.DeepEqual(p, p2) {
			t.Fatalf("re-encoding does not decode to the same postings (err %v)", d2.err)
		}
	})
}
