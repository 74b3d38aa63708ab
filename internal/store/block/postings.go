package block

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"iter"
	"math"
	"slices"
	"strconv"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/predicate"
)

// Postings (format v5) tell a scan, before it reads any column, which row
// groups can hold a match and, for a minimum-duration search, which rows.
// They live in index.bin, so an opened block has them in memory.
//
// Two parts:
//
//   - Terms: every service, operation (span name), span kind, status code,
//     and attribute key=value — span and event attributes apart — of the
//     keys with at most maxTermValues distinct values in the block. Per row
//     group, each term present gets its number of spans and the longest
//     duration among them. A row group without a term a search needs, or
//     whose longest span with it is shorter than the search's minimum
//     duration, is skipped unread; event attributes are decoded only in row
//     groups whose events may hold a searched pair. A key with more values
//     (user, session or order IDs, URLs) is listed as dropped and left to
//     the row groups' key=value bloom filters.
//   - Long spans: per row group, the rows of its longest spans (about one in
//     longSpanShare) with their exact durations and starts, and the cut:
//     every other span of the row group lasts at most cut. A search whose
//     minimum duration exceeds the cut takes its candidate rows from this
//     list and reads neither the duration nor the start column.
//
// Row-level postings for services or operations are not kept: rows are
// sorted by trace ID, so a common value is spread over every page of every
// row group, and a row list of a value with k roughly equal siblings costs
// at least log2(k) bits a span, as much as the column it would replace. The
// column's dictionary already answers "this row group lacks the value".
type postings struct {
	terms   []term // sorted, unique
	termIDs map[term]int32
	// dropped are the attribute keys (an attribute kind and a key, no
	// value) with too many values to have terms. Every other key has all
	// its values as terms: a pair that is not a term is in no span.
	dropped   map[term]bool
	rowGroups []rgPostings
}

type termKind byte

const (
	termService termKind = iota
	termOperation
	termSpanKind
	termStatus
	termAttr      // span attribute
	termEventAttr // attribute of one of the span's events
	termLinkAttr  // attribute of one of the span's links
	termKinds
)

// term is one searchable value. key is set for attributes only.
type term struct {
	kind       termKind
	key, value string
}

func compareTerms(a, b term) int {
	return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.key, b.key), cmp.Compare(a.value, b.value))
}

func isAttrKind(k termKind) bool { return k >= termAttr && k <= termLinkAttr }

// termStat is a term's presence in one row group.
type termStat struct {
	term        int32
	spans       int64
	maxDuration int64 // ≥ 0: negative durations count as zero, as search does
}

type rgPostings struct {
	stats []termStat // sorted by term
	long  longList
}

type longSpan struct {
	row      int32
	duration int64 // > cut
	start    int64 // Unix ns
}

// longList is a row group's long spans, by ascending row (within the row
// group): every row not listed lasts at most cut. An opened block keeps
// them encoded as index.bin has them — per span, uvarints of the row less
// the previous row (from -1), the duration less cut+1, and the start less
// base — and a search decodes the list of each row group it reads.
// Decoded, they took 24 bytes a listed span, a third of an opened block's
// index memory (172 MB at 100 M stored spans); encoded, about 7.
type longList struct {
	cut  int64
	base int64 // the row group's first start
	n    int
	enc  []byte
}

// newLongList encodes spans (by ascending row, each longer than cut, none
// starting before base).
func newLongList(cut, base int64, spans []longSpan) longList {
	l := longList{cut: cut, base: base, n: len(spans)}
	prev := int32(-1)
	for _, s := range spans {
		l.enc = binary.AppendUvarint(l.enc, uint64(s.row-prev))
		l.enc = binary.AppendUvarint(l.enc, uint64(s.duration-cut-1))
		l.enc = binary.AppendUvarint(l.enc, uint64(s.start-base))
		prev = s.row
	}
	return l
}

// all yields the long spans in row order. The encoding was checked when
// it was built or decoded (decodePostings), so it is not checked again.
func (l *longList) all() iter.Seq[longSpan] {
	return func(yield func(longSpan) bool) {
		b, row := l.enc, int64(-1)
		next := func() uint64 {
			v, n := binary.Uvarint(b)
			b = b[max(n, 0):]
			return v
		}
		for range l.n {
			row += int64(next())
			dur := l.cut + 1 + int64(next())
			start := l.base + int64(next())
			if !yield(longSpan{row: int32(row), duration: dur, start: start}) {
				return
			}
		}
	}
}

// stat returns the term's statistics in row group rg.
func (p *postings) stat(rg int, t int32) (termStat, bool) {
	if t < 0 {
		return termStat{}, false
	}
	st := p.rowGroups[rg].stats
	i, ok := slices.BinarySearchFunc(st, t, func(s termStat, t int32) int { return cmp.Compare(s.term, t) })
	if !ok {
		return termStat{}, false
	}
	return st[i], true
}

// termID returns the term's number, or -1 when no span of the block has it.
func (p *postings) termID(t term) int32 {
	if id, ok := p.termIDs[t]; ok {
		return id
	}
	return -1
}

const (
	// maxTermValues caps the values of one attribute key that become
	// terms; a key with more is left to the bloom filters.
	maxTermValues = 64
	// longSpanShare: about one row in this many is listed as a long span.
	longSpanShare = 16
)

func numberValue(k int) string { return strconv.Itoa(k) }

func serviceTerm(svc string) term  { return term{kind: termService, value: svc} }
func operationTerm(op string) term { return term{kind: termOperation, value: op} }
func kindTerm(k int) term          { return term{kind: termSpanKind, value: numberValue(k)} }
func statusTerm(c int) term        { return term{kind: termStatus, value: numberValue(c)} }
func attrTerm(k, v string) term    { return term{kind: termAttr, key: k, value: v} }
func eventTerm(k, v string) term   { return term{kind: termEventAttr, key: k, value: v} }
func linkTerm(k, v string) term    { return term{kind: termLinkAttr, key: k, value: v} }

// postingsBuilder collects the postings while the writer adds rows.
type postingsBuilder struct {
	termIDs map[term]int32
	terms   []term
	keys    map[term]map[string]int32 // attribute key (kind, key) → value → term
	dropped map[term]bool
	cur     []int32 // terms of the span being added
	stats   map[int32]*builderStat
	long    []longSpan // every row of the row group, in row order
	done    []rgPostings
}

type builderStat struct {
	spans, maxDur int64
	lastRow       int64 // a span may note a term twice (a repeated key); it counts once
}

func newPostingsBuilder() *postingsBuilder {
	return &postingsBuilder{
		termIDs: map[term]int32{},
		keys:    map[term]map[string]int32{},
		dropped: map[term]bool{},
		stats:   map[int32]*builderStat{},
	}
}

func (b *postingsBuilder) id(t term) int32 {
	id, ok := b.termIDs[t]
	if !ok {
		id = int32(len(b.terms))
		b.terms = append(b.terms, t)
		b.termIDs[t] = id
	}
	return id
}

// attr notes a span attribute of the span being added; eventAttr and
// linkAttr an attribute of one of its events or links.
func (b *postingsBuilder) attr(key, text string)      { b.attrOf(termAttr, key, text) }
func (b *postingsBuilder) eventAttr(key, text string) { b.attrOf(termEventAttr, key, text) }
func (b *postingsBuilder) linkAttr(key, text string)  { b.attrOf(termLinkAttr, key, text) }

func (b *postingsBuilder) attrOf(kind termKind, key, text string) {
	k := term{kind: kind, key: key}
	vals, ok := b.keys[k]
	if !ok {
		if b.dropped[k] {
			return
		}
		vals = map[string]int32{}
		b.keys[k] = vals
	}
	id, ok := vals[text]
	if !ok {
		if len(vals) == maxTermValues {
			delete(b.keys, k)
			b.dropped[k] = true
			return
		}
		id = b.id(term{kind: kind, key: key, value: text})
		vals[text] = id
	}
	b.cur = append(b.cur, id)
}

// span ends the span being added: its service, name, kind, status,
// duration and start, with the attributes noted before.
func (b *postingsBuilder) span(service, name string, kind, status int, dur, start int64) {
	dur = max(dur, 0)
	b.cur = append(b.cur,
		b.id(serviceTerm(service)),
		b.id(operationTerm(name)),
		b.id(kindTerm(kind)),
		b.id(statusTerm(status)))
	row := int64(len(b.long))
	for _, t := range b.cur {
		st, ok := b.stats[t]
		if !ok {
			st = &builderStat{lastRow: -1}
			b.stats[t] = st
		}
		if st.lastRow != row {
			st.spans++
			st.lastRow = row
		}
		st.maxDur = max(st.maxDur, dur)
	}
	b.cur = b.cur[:0]
	b.long = append(b.long, longSpan{row: int32(row), duration: dur, start: start})
}

// endRowGroup closes the row group's postings.
func (b *postingsBuilder) endRowGroup() {
	rg := rgPostings{}
	for t, st := range b.stats {
		rg.stats = append(rg.stats, termStat{term: t, spans: st.spans, maxDuration: st.maxDur})
	}
	slices.SortFunc(rg.stats, func(a, b termStat) int { return cmp.Compare(a.term, b.term) })
	clear(b.stats)
	rg.long = longSpans(b.long)
	b.long = b.long[:0]
	b.done = append(b.done, rg)
}

// longSpans picks the rows of the longest durations (at most one in
// longSpanShare) and the cut that every other row stays at or below.
func longSpans(rows []longSpan) longList {
	if len(rows) == 0 {
		return longList{}
	}
	durs := make([]int64, len(rows))
	base := rows[0].start
	for i, r := range rows {
		durs[i] = r.duration
		base = min(base, r.start)
	}
	slices.SortFunc(durs, func(a, b int64) int { return cmp.Compare(b, a) })
	cut := durs[min(len(durs)/longSpanShare, len(durs)-1)]
	var long []longSpan
	for _, r := range rows {
		if r.duration > cut {
			long = append(long, r)
		}
	}
	return newLongList(cut, base, long)
}

// finish renumbers the terms in sorted order, drops the terms of keys that
// overflowed, and returns the postings.
func (b *postingsBuilder) finish() *postings {
	order := make([]int32, len(b.terms))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(x, y int32) int { return compareTerms(b.terms[x], b.terms[y]) })
	renum := make([]int32, len(b.terms))
	p := &postings{dropped: b.dropped}
	for _, old := range order {
		t := b.terms[old]
		if isAttrKind(t.kind) && b.dropped[term{kind: t.kind, key: t.key}] {
			renum[old] = -1
			continue
		}
		renum[old] = int32(len(p.terms))
		p.terms = append(p.terms, t)
	}
	for _, rg := range b.done {
		out := rgPostings{long: rg.long}
		for _, st := range rg.stats {
			if n := renum[st.term]; n >= 0 {
				out.stats = append(out.stats, termStat{term: n, spans: st.spans, maxDuration: st.maxDuration})
			}
		}
		slices.SortFunc(out.stats, func(a, b termStat) int { return cmp.Compare(a.term, b.term) })
		p.rowGroups = append(p.rowGroups, out)
	}
	p.index()
	return p
}

func (p *postings) index() {
	p.termIDs = make(map[term]int32, len(p.terms))
	for i, t := range p.terms {
		p.termIDs[t] = int32(i)
	}
}

// encode appends the postings (see docs/format-block.md, "Postings (v5)").
// Long spans' starts are offsets from their row group's first start.
func (p *postings) encode(e *encoder, rgs []rowGroupStats) {
	e.uvarint(uint64(len(p.terms)))
	for _, t := range p.terms {
		e.b = append(e.b, byte(t.kind))
		e.str(t.key)
		e.str(t.value)
	}
	dropped := make([]term, 0, len(p.dropped))
	for k := range p.dropped {
		dropped = append(dropped, k)
	}
	slices.SortFunc(dropped, compareTerms)
	e.uvarint(uint64(len(dropped)))
	for _, k := range dropped {
		e.b = append(e.b, byte(k.kind))
		e.str(k.key)
	}
	for g, rg := range p.rowGroups {
		e.uvarint(uint64(len(rg.stats)))
		prev := int32(-1)
		for _, st := range rg.stats {
			e.uvarint(uint64(st.term - prev))
			prev = st.term
			e.uvarint(uint64(st.spans))
			e.uvarint(uint64(st.maxDuration))
		}
		e.varint(rg.long.cut)
		e.uvarint(uint64(rg.long.n))
		if rg.long.base == rgs[g].minStart {
			e.b = append(e.b, rg.long.enc...)
			continue
		}
		prevRow := int32(-1)
		for l := range rg.long.all() {
			e.uvarint(uint64(l.row - prevRow))
			prevRow = l.row
			e.uvarint(uint64(l.duration - rg.long.cut - 1))
			e.uvarint(uint64(l.start - rgs[g].minStart))
		}
	}
}

// decodePostings reads the postings of a block with the given row groups.
// It refuses anything the encoder cannot have written: unsorted or
// duplicate terms or dropped keys, unknown kinds, a key on a
// non-attribute term, a dropped key that still has terms, term numbers
// out of range or out of order, span counts of 0 or above the row group's
// rows, long rows out of order or range, durations not above the cut,
// starts outside the row group's start range.
func decodePostings(d *decoder, rgs []rowGroupStats) *postings {
	p := &postings{dropped: map[term]bool{}}
	n := d.count("terms", 3)
	p.terms = make([]term, 0, n)
	for i := range n {
		kb := d.bytes("term kind", 1)
		if d.err != nil {
			return nil
		}
		t := term{kind: termKind(kb[0]), key: d.str("term key"), value: d.str("term value")}
		if t.kind >= termKinds {
			d.fail("term kind")
		}
		if !isAttrKind(t.kind) && t.key != "" {
			d.fail("term key")
		}
		if i > 0 && compareTerms(p.terms[i-1], t) >= 0 {
			d.fail("term order")
		}
		if d.err != nil {
			return nil
		}
		p.terms = append(p.terms, t)
	}
	p.index()
	nd := d.count("dropped keys", 2)
	var prevKey term
	for i := range nd {
		kb := d.bytes("dropped key kind", 1)
		if d.err != nil {
			return nil
		}
		k := term{kind: termKind(kb[0]), key: d.str("dropped key")}
		if !isAttrKind(k.kind) || i > 0 && compareTerms(prevKey, k) >= 0 {
			d.fail("dropped key")
		}
		prevKey = k
		p.dropped[k] = true
	}
	for _, t := range p.terms {
		if isAttrKind(t.kind) && p.dropped[term{kind: t.kind, key: t.key}] {
			d.fail("term of a dropped key")
			break
		}
	}
	p.rowGroups = make([]rgPostings, len(rgs))
	for g := range rgs {
		rows, rg := rgs[g].rows, &p.rowGroups[g]
		ns := d.count("term stats", 3)
		if d.err != nil {
			return nil
		}
		rg.stats = make([]termStat, 0, ns)
		prev := int64(-1)
		for range ns {
			t := prev + int64(d.uvarint("term number")&math.MaxInt32)
			if t <= prev || t >= int64(len(p.terms)) {
				d.fail("term number")
			}
			prev = t
			spans := int64(d.uvarint("term spans") & math.MaxInt32)
			if spans == 0 || spans > rows {
				d.fail("term spans")
			}
			md := d.uvarint("term duration")
			if md > math.MaxInt64 {
				d.fail("term duration")
			}
			if d.err != nil {
				return nil
			}
			rg.stats = append(rg.stats, termStat{term: int32(t), spans: spans, maxDuration: int64(md)})
		}
		cut := d.varint("long cut")
		nl := d.count("long spans", 3)
		if int64(nl) > rows {
			d.fail("long span count")
		}
		if d.err != nil {
			return nil
		}
		enc := d.b
		prevRow := int64(-1)
		span := uint64(rgs[g].maxStart - rgs[g].minStart)
		for range nl {
			r := prevRow + int64(d.uvarint("long row")&math.MaxInt32)
			if r <= prevRow || r >= rows {
				d.fail("long row")
			}
			prevRow = r
			extra := d.uvarint("long duration")
			dur := cut + 1 + int64(extra)
			if extra > math.MaxInt64/2 || dur <= cut {
				d.fail("long duration")
			}
			off := d.uvarint("long start")
			if off > span {
				d.fail("long start")
			}
			if d.err != nil {
				return nil
			}
		}
		// Checked: kept encoded (a copy, so the index object's bytes are
		// not held).
		rg.long = longList{cut: cut, base: rgs[g].minStart, n: nl, enc: bytes.Clone(enc[:len(enc)-len(d.b)])}
	}
	if d.err != nil {
		return nil
	}
	return p
}

// postingFilter is a search compiled against one block's postings.
type postingFilter struct {
	p           *postings
	minDuration int64
	// needs: for each condition that only terms can satisfy, the terms
	// that would (any one is enough).
	needs [][]int32
	// extra[i]: the event- and link-attribute terms of attribute
	// condition i (what the extra column holds); -1 when no event or link
	// of the block has it, -2 when the key is dropped.
	extra [][2]int32
}

// newPostingFilter compiles a search's conditions against the block's
// terms. byTables has the bits of the attribute conditions that a
// resource or a scope of the block may satisfy (those tell nothing about
// rows). It returns ok=false when the postings prove that no span of the
// block can match. Conditions other than equality (Compares) have no
// terms and prune nothing.
func newPostingFilter(p *postings, pred *predicate.Compiled, byTables uint64) (f *postingFilter, ok bool) {
	pr := pred.Predicate()
	f = &postingFilter{p: p, minDuration: pr.MinDuration}
	need := func(alts ...int32) bool {
		var keep []int32
		for _, a := range alts {
			if a >= 0 {
				keep = append(keep, a)
			}
		}
		if len(keep) == 0 {
			return false
		}
		f.needs = append(f.needs, keep)
		return true
	}
	if pr.Service != "" && !need(p.termID(serviceTerm(pr.Service))) {
		return nil, false
	}
	if pr.Operation != "" && !need(p.termID(operationTerm(pr.Operation))) {
		return nil, false
	}
	if pr.Kind >= 0 && !need(p.termID(kindTerm(pr.Kind))) {
		return nil, false
	}
	if pr.ErrorStatus && !need(p.termID(statusTerm(int(model.StatusError)))) {
		return nil, false
	}
	errBits := pred.ErrorBits()
	termOf := func(kind termKind, k, v string) int32 {
		if p.dropped[term{kind: kind, key: k}] {
			return -2
		}
		return p.termID(term{kind: kind, key: k, value: v})
	}
	for i, a := range pred.Attrs() {
		alts := []int32{termOf(termAttr, a.Key, a.Value), termOf(termEventAttr, a.Key, a.Value), termOf(termLinkAttr, a.Key, a.Value)}
		f.extra = append(f.extra, [2]int32{alts[1], alts[2]})
		bit := uint64(1) << i
		if byTables&bit != 0 || slices.Contains(alts, -2) {
			continue // a resource or scope may satisfy it, or the bloom filters speak for it
		}
		if errBits&bit != 0 {
			alts = append(alts, p.termID(statusTerm(int(model.StatusError))))
		}
		if !need(alts...) {
			return nil, false
		}
	}
	return f, true
}

// rowGroupMayMatch reports whether row group rg holds, for every need, a
// term long enough for the minimum duration.
func (f *postingFilter) rowGroupMayMatch(rg int) bool {
	for _, alts := range f.needs {
		found := false
		for _, t := range alts {
			if st, ok := f.p.stat(rg, t); ok && (f.minDuration <= 0 || st.maxDuration >= f.minDuration) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// extraBits are the attribute conditions that an event or a link of row
// group rg may satisfy.
func (f *postingFilter) extraBits(rg int) uint64 {
	var bits uint64
	for i, ts := range f.extra {
		for _, t := range ts {
			if _, ok := f.p.stat(rg, t); ok || t == -2 {
				bits |= 1 << i
			}
		}
	}
	return bits
}
