package block

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/predicate"
)

// postingsBlock is a three-row-group block with a rare attribute, an
// absent key, a key just at the cardinality cap and one just over it.
func postingsBlock(t *testing.T) (*Block, []model.Span) {
	t.Helper()
	spans := genSpans(2*rowGroupRows+5000, 21)
	for i := range spans {
		spans[i].Attributes = append(spans[i].Attributes,
			model.Attribute{Key: "capped.at", Value: model.IntValue(int64(i % maxTermValues))},
			model.Attribute{Key: "capped.over", Value: model.IntValue(int64(i % (maxTermValues + 1)))})
	}
	spans[7].Attributes = append(spans[7].Attributes, model.Attribute{Key: "rare.flag", Value: model.BoolValue(true)})
	spans[len(spans)-3].Events = append(spans[len(spans)-3].Events,
		model.Event{Name: "e", Attributes: []model.Attribute{{Key: "event.only", Value: model.StringValue("x")}}})
	spans[40000].Links = append(spans[40000].Links,
		model.Link{TraceID: spans[0].TraceID, SpanID: spans[0].SpanID, Attributes: []model.Attribute{{Key: "link.only", Value: model.StringValue("y")}}})
	bl := writeOpen(t, newBucket(t), spans)
	if len(bl.ix.rowGroups) < 3 || bl.ix.postings == nil {
		t.Fatalf("%d row groups, postings %v", len(bl.ix.rowGroups), bl.ix.postings != nil)
	}
	got, err := bl.All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return bl, got // in row order
}

// The terms of every row group are exactly what its rows hold: spans and
// longest duration per service, operation, kind, status and attribute
// value of the indexed keys; high-cardinality keys are not indexed.
func TestPostingsTermsAreExact(t *testing.T) {
	bl, rows := postingsBlock(t)
	p := bl.ix.postings
	indexed := func(kind termKind, k string) bool { return !p.dropped[term{kind: kind, key: k}] }
	for _, k := range []string{"http.method", "http.status_code", "net.peer.name", "db.system", "capped.at", "rare.flag", "absent.key"} {
		if !indexed(termAttr, k) {
			t.Errorf("span attribute key %q dropped", k)
		}
	}
	for _, k := range []string{"user.id", "url.path", "capped.over"} {
		if indexed(termAttr, k) {
			t.Errorf("span attribute key %q not dropped (high cardinality)", k)
		}
	}
	if !indexed(termEventAttr, "event.only") || !indexed(termEventAttr, "exception.type") || len(p.dropped) != 3 {
		t.Errorf("dropped keys %v", p.dropped)
	}
	for g := range bl.ix.rowGroups {
		want := map[term]termStat{}
		first := bl.rgFirst[g]
		for r := first; r < first+bl.ix.rowGroups[g].rows; r++ {
			s := &rows[r]
			dur := max(s.EndUnixNano-s.StartUnixNano, 0)
			ts := []term{serviceTerm(s.Resource.ServiceName), operationTerm(s.Name), kindTerm(int(s.Kind)), statusTerm(int(s.StatusCode))}
			for _, a := range s.Attributes {
				ts = append(ts, attrTerm(a.Key, a.Value.String()))
			}
			for _, e := range s.Events {
				for _, a := range e.Attributes {
					ts = append(ts, eventTerm(a.Key, a.Value.String()))
				}
			}
			for _, l := range s.Links {
				for _, a := range l.Attributes {
					ts = append(ts, linkTerm(a.Key, a.Value.String()))
				}
			}
			seen := map[term]bool{}
			for _, tm := range ts {
				if isAttrKind(tm.kind) && !indexed(tm.kind, tm.key) || seen[tm] {
					continue
				}
				seen[tm] = true
				st := want[tm]
				st.spans++
				st.maxDuration = max(st.maxDuration, dur)
				want[tm] = st
			}
		}
		if len(want) != len(p.rowGroups[g].stats) {
			t.Errorf("row group %d: %d terms, want %d", g, len(p.rowGroups[g].stats), len(want))
		}
		for tm, w := range want {
			st, ok := p.stat(g, p.termID(tm))
			if !ok || st.spans != w.spans || st.maxDuration != w.maxDuration {
				t.Errorf("row group %d, term %+v: %+v (present %v), want %d spans, max %d", g, tm, st, ok, w.spans, w.maxDuration)
			}
		}
	}
	if p.termID(eventTerm("event.only", "x")) < 0 || p.termID(attrTerm("event.only", "x")) != -1 ||
		p.termID(linkTerm("link.only", "y")) < 0 || p.termID(eventTerm("link.only", "y")) != -1 {
		t.Error("event and link attribute terms apart from span attribute terms")
	}
	if id := p.termID(attrTerm("absent.key", "x")); id != -1 {
		t.Errorf("absent key has term %d", id)
	}
	if id := p.termID(attrTerm("http.method", "BREW")); id != -1 {
		t.Errorf("absent value has term %d", id)
	}
}

// Every row not in a row group's long-span list lasts at most its cut;
// the list's durations are exact and it holds about one row in
// longSpanShare.
func TestPostingsLongSpans(t *testing.T) {
	bl, rows := postingsBlock(t)
	for g, lp := range bl.ix.postings.rowGroups {
		first, n := bl.rgFirst[g], bl.ix.rowGroups[g].rows
		listed := map[int32]longSpan{}
		for l := range lp.long.all() {
			listed[l.row] = l
		}
		if len(listed) == 0 || int64(len(listed)) > n/longSpanShare+1 {
			t.Errorf("row group %d: %d long spans of %d rows", g, len(listed), n)
		}
		for r := range int32(n) {
			s := &rows[first+int64(r)]
			dur := max(s.EndUnixNano-s.StartUnixNano, 0)
			if l, ok := listed[r]; ok {
				if l.duration != dur || dur <= lp.long.cut || l.start != s.StartUnixNano {
					t.Fatalf("row group %d row %d: listed %+v, duration %d, start %d, cut %d", g, r, l, dur, s.StartUnixNano, lp.long.cut)
				}
			} else if dur > lp.long.cut {
				t.Fatalf("row group %d row %d: duration %d above cut %d but not listed", g, r, dur, lp.long.cut)
			}
		}
	}
}

// Searches answered with the postings' help find exactly what the
// predicate matches, and row groups the postings rule out are not read.
func TestScanWithPostings(t *testing.T) {
	ctx := context.Background()
	bl, rows := postingsBlock(t)
	cut := bl.ix.postings.rowGroups[0].long.cut
	preds := []predicate.Predicate{
		{Kind: -1, Service: "checkout", MinDuration: cut + 1},
		{Kind: -1, Service: "checkout", MinDuration: cut + 1, Attributes: map[string]string{"http.method": "POST"}},
		{Kind: -1, MinDuration: cut / 2, Attributes: map[string]string{"http.method": "PUT"}},
		{Kind: -1, MinDuration: cut + 1, MaxDuration: cut + 50e6, Operation: "Charge"},
		{Kind: int(model.KindClient), MinDuration: 400e6},
		{Kind: -1, Attributes: map[string]string{"error": "true"}, MinDuration: cut + 1},
		{Kind: -1, ErrorStatus: true, Service: "payment"},
		{Kind: -1, Attributes: map[string]string{"rare.flag": "true"}},
		{Kind: -1, Attributes: map[string]string{"event.only": "x"}},
		{Kind: -1, Attributes: map[string]string{"link.only": "y"}},
		{Kind: -1, Attributes: map[string]string{"link.only": "y", "http.method": "GET"}},
		{Kind: -1, Attributes: map[string]string{"capped.at": "3", "capped.over": "5"}},
		{Kind: -1, Attributes: map[string]string{"http.method": "BREW"}},
		{Kind: -1, Attributes: map[string]string{"absent.key": "1"}},
		{Kind: -1, Attributes: map[string]string{"host.name": "node-1"}, MinDuration: cut + 1}, // a resource attribute
	}
	for _, p := range preds {
		c := predicate.MustCompile(p)
		type hit struct {
			id    model.TraceID
			start int64
		}
		var got, want []hit
		if err := bl.Scan(ctx, c, func(id model.TraceID, start int64) bool { got = append(got, hit{id, start}); return true }); err != nil {
			t.Fatal(err)
		}
		for i := range rows {
			if c.Match(&rows[i]) {
				want = append(want, hit{rows[i].TraceID, rows[i].StartUnixNano})
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%+v: %d hits, want %d", p, len(got), len(want))
		}
	}
	// Row groups ruled out by the postings alone.
	read := func(p predicate.Predicate) (n int) {
		sc := bl.newScanner(context.Background(), predicate.MustCompile(p))
		if sc == nil {
			return 0
		}
		for g := range bl.ix.rowGroups {
			if sc.post == nil || sc.post.rowGroupMayMatch(g) {
				n++
			}
		}
		return n
	}
	if n := read(predicate.Predicate{Kind: -1, Attributes: map[string]string{"rare.flag": "true"}}); n != 1 {
		t.Errorf("rare indexed value: %d row groups may match, want 1", n)
	}
	if n := read(predicate.Predicate{Kind: -1, Attributes: map[string]string{"link.only": "y"}}); n != 1 {
		t.Errorf("rare link attribute: %d row groups may match, want 1", n)
	}
	if n := read(predicate.Predicate{Kind: -1, Attributes: map[string]string{"http.method": "BREW"}}); n != 0 {
		t.Errorf("absent value of an indexed key: %d row groups may match, want 0", n)
	}
	var longest int64
	for _, s := range rows {
		if s.Resource.ServiceName == "email" {
			longest = max(longest, s.EndUnixNano-s.StartUnixNano)
		}
	}
	if n := read(predicate.Predicate{Kind: -1, Service: "email", MinDuration: longest + 1}); n != 0 {
		t.Errorf("service with no span that long: %d row groups may match, want 0", n)
	}
	if n := read(predicate.Predicate{Kind: -1, Service: "email", MinDuration: longest}); n == 0 {
		t.Error("the longest email span's row group was ruled out")
	}
}

func TestPostingsRoundTripAndRefusals(t *testing.T) {
	bl, _ := postingsBlock(t)
	e := &encoder{}
	bl.ix.postings.encode(e, bl.ix.rowGroups)
	d := &decoder{b: e.b}
	p := decodePostings(d, bl.ix.rowGroups)
	if d.err != nil || len(d.b) != 0 {
		t.Fatalf("decode: %v, %d bytes left", d.err, len(d.b))
	}
	e2 := &encoder{}
	p.encode(e2, bl.ix.rowGroups)
	if string(e2.b) != string(e.b) {
		t.Fatal("re-encoding differs")
	}
	if perSpan := float64(len(e.b)) / float64(bl.meta.SpanCount); perSpan > 1.5 {
		t.Errorf("postings take %.2f bytes/span", perSpan)
	}
	// Each corruption must be refused, never accepted or panicking.
	bad := map[string][]byte{
		"truncated": e.b[:len(e.b)/2],
		"empty":     nil,
	}
	one := []rowGroupStats{{rows: 5, minStart: 100, maxStart: 200}}
	encode := func(p *postings) []byte {
		e := &encoder{}
		p.encode(e, one)
		return e.b
	}
	none := map[term]bool{}
	bad["unsorted terms"] = encode(&postings{terms: []term{attrTerm("b", "1"), attrTerm("a", "1")}, dropped: none, rowGroups: make([]rgPostings, 1)})
	bad["key on a service"] = encode(&postings{terms: []term{{kind: termService, key: "k", value: "a"}}, dropped: none, rowGroups: make([]rgPostings, 1)})
	bad["term of a dropped key"] = encode(&postings{terms: []term{attrTerm("a", "1")}, dropped: map[term]bool{{kind: termAttr, key: "a"}: true}, rowGroups: make([]rgPostings, 1)})
	bad["more spans than rows"] = encode(&postings{terms: []term{serviceTerm("a")}, dropped: none, rowGroups: []rgPostings{{stats: []termStat{{term: 0, spans: 10, maxDuration: 1}}}}})
	bad["long row out of range"] = encode(&postings{dropped: none, rowGroups: []rgPostings{{long: newLongList(5, 100, []longSpan{{row: 9, duration: 6, start: 150}})}}})
	bad["start out of range"] = encode(&postings{dropped: none, rowGroups: []rgPostings{{long: newLongList(5, 100, []longSpan{{row: 2, duration: 6, start: 250}})}}})
	for name, b := range bad {
		rgs := one
		if name == "truncated" || name == "empty" {
			rgs = bl.ix.rowGroups
		}
		d := &decoder{b: b}
		if decodePostings(d, rgs); d.err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// The hand-made encoding itself is sound: a valid long span decodes.
	d = &decoder{b: encode(&postings{dropped: none, rowGroups: []rgPostings{{long: newLongList(5, 120, []longSpan{{row: 2, duration: 6, start: 150}})}}})} // base 120: encode re-bases the starts on the row group's first
	if p := decodePostings(d, one); d.err != nil || slices.Collect(p.rowGroups[0].long.all())[0] != (longSpan{row: 2, duration: 6, start: 150}) {
		t.Errorf("valid long span: %v", d.err)
	}
}

// A key with exactly maxTermValues values is indexed; one more value drops
// it, with its terms, from every row group.
func TestPostingsCardinalityCap(t *testing.T) {
	b := newPostingsBuilder()
	for i := range maxTermValues + 1 {
		b.attr("k.at", fmt.Sprint(i%maxTermValues))
		b.attr("k.over", fmt.Sprint(i))
		b.eventAttr("k.over", "1")
		b.span("svc", "op", 1, 0, int64(i), 0)
	}
	b.endRowGroup()
	p := b.finish()
	if p.dropped[term{kind: termAttr, key: "k.at"}] || !p.dropped[term{kind: termAttr, key: "k.over"}] || len(p.dropped) != 1 {
		t.Fatalf("dropped keys %v", p.dropped)
	}
	for _, tm := range p.terms {
		if tm.kind == termAttr && tm.key == "k.over" {
			t.Fatalf("term of a dropped key kept: %+v", tm)
		}
	}
	if st, ok := p.stat(0, p.termID(eventTerm("k.over", "1"))); !ok || st.spans != maxTermValues+1 {
		t.Fatalf("event attribute of the same key: %+v %v", st, ok)
	}
	st, ok := p.stat(0, p.termID(attrTerm("k.at", "0")))
	if !ok || st.spans != 2 || st.maxDuration != maxTermValues {
		t.Fatalf("k.at=0: %+v %v", st, ok)
	}
}
