package block

import (
	"context"

	"github.com/clewtrace/clew/internal/query/predicate"
)

// Ruling a block out without preparing a scan. A search over a long window
// visits every block in it, and for a rare value nearly all of them hold no
// match. Preparing a scan (the resource and scope tables evaluated against
// the conditions, the postings compiled, buffers allocated) costs ~10 µs a
// block even when every row group's filter then says no, and at 500 blocks
// that alone is 5 ms a query. MayMatch answers the common case — an
// attribute condition whose key no resource or scope of the block has, so
// only the rows' own attributes (or their events and links) can satisfy
// it — from what Open already holds in memory: the postings' terms, the
// block's key=value filter (v7; before, each row group's), and each row
// group's time and duration ranges. It does not allocate.

// tableKeys lists the attribute keys that some resource or scope of the
// block answers to (see predicate.Compiled.ResourceBits and ScopeBits): a
// condition on any other key can only be satisfied by a span's, event's or
// link's own attributes.
func tableKeys(ix *index) keySet {
	keys := map[string]struct{}{}
	for _, r := range ix.resources {
		for _, a := range r.Attributes {
			keys[a.Key] = struct{}{}
		}
	}
	for _, s := range ix.scopes {
		for _, a := range s.Attributes {
			keys[a.Key] = struct{}{}
		}
		if s.Name != "" {
			keys[predicate.ScopeNameKey] = struct{}{}
		}
		if s.Version != "" {
			keys[predicate.ScopeVersionKey] = struct{}{}
		}
	}
	return newKeySet(keys)
}

// maxQuickHashes bounds the pair hashes MayMatch keeps on its stack; a
// search with more equality conditions checks the first ones only (still
// never a false negative: fewer conditions rule out less).
const maxQuickHashes = 8

// MayMatch reports whether the block may hold a span matching pred: false
// is certain (no span of the block matches), true means the block must be
// scanned. It answers from the meta (time range, services and operations),
// the postings' terms (v5: a value of a key with few values that is a term
// of no span, event or link), the key=value filters (v7: the block's; v2–v6:
// each row group's) for the equality conditions that only the rows' own
// attributes can satisfy, and the row groups' time and duration ranges.
// Scan and ScanSpans ask it, then filters.bin (v7) for the same pairs
// (mayPass).
func (bl *Block) MayMatch(pred *predicate.Compiled) bool {
	var quick [maxQuickHashes]uint64
	_, ok := bl.mayMatch(pred, &quick)
	return ok
}

// mayMatch is MayMatch, leaving in quick the hashes of the pairs a row
// group's filter may rule out (the first n).
func (bl *Block) mayMatch(pred *predicate.Compiled, quick *[maxQuickHashes]uint64) (n int, ok bool) {
	if !MetaMayMatch(&bl.meta, pred) {
		return 0, false
	}
	errBits := pred.ErrorBits()
	hashes := quick[:0]
	for i, a := range pred.Attrs() {
		if errBits&(1<<i) != 0 {
			continue // an error status may satisfy it
		}
		if bl.tableKeys.has(a.Key) {
			continue // a resource or scope may satisfy it
		}
		var h uint64
		if bl.meta.FilterLinks {
			h = pairHash(a.Key, a.Value)
			// The block's filter (v7) before the postings: it holds every
			// pair, and its one probe rules out most blocks for a rare
			// value, where the postings would cost several map lookups.
			if bl.valuesLack(h) {
				return 0, false
			}
		}
		p := bl.ix.postings
		if p != nil && !p.mayHold(a.Key, a.Value) {
			return 0, false
		}
		// A key the postings have every value of is decided by them (above,
		// and per row group in the scan): the row groups' filters are for
		// the others.
		if bl.meta.FilterLinks && len(hashes) < maxQuickHashes && (p == nil || p.dropsKey(a.Key)) {
			hashes = append(hashes, h)
		}
	}
	for g := range bl.ix.rowGroups {
		st := &bl.ix.rowGroups[g]
		if !pred.OverlapsStart(st.minStart, st.maxStart) || !pred.OverlapsDuration(st.minDuration, st.maxDuration) {
			continue
		}
		all := true
		for _, h := range hashes {
			if !st.values.mayContain(h) {
				all = false
				break
			}
		}
		if all {
			return len(hashes), true
		}
	}
	return 0, false
}

// valuesLack reports that the block's key=value filter (v7+) certainly
// lacks the pair: no span, event or link attribute of the block holds it.
// Only for a block whose filter holds link attributes too (FilterLinks),
// and only for a key no resource or scope of the block has: the caller's
// to check (MayMatch, RuledOut).
func (bl *Block) valuesLack(h uint64) bool {
	return bl.ix.values.present() && !bl.ix.values.mayContain(h)
}

// mayPass is MayMatch, then, for a v7 block whose filter let the searched
// pairs through, its row groups' filters in filters.bin: most blocks a
// rare value passes the block filter of (~0.0015 % since v10, ~0.2 % in
// v7–v9) end here, after a 64-byte
// read per row group, before a scanner's work for each of the block's
// resources. first is the first row group that may match: the scan starts
// there rather than asking filters.bin again for those before it.
func (bl *Block) mayPass(ctx context.Context, pred *predicate.Compiled) (first int, ok bool) {
	var quick [maxQuickHashes]uint64
	n, ok := bl.mayMatch(pred, &quick)
	if !ok || n == 0 || !bl.ix.values.present() {
		return 0, ok
	}
	for g := range bl.ix.rowGroups {
		st := &bl.ix.rowGroups[g]
		if pred.OverlapsStart(st.minStart, st.maxStart) && pred.OverlapsDuration(st.minDuration, st.maxDuration) &&
			bl.pairFiltersMayContain(ctx, g, quick[:n]) {
			return g, true
		}
	}
	return 0, false
}

// dropsKey reports whether the key has too many values to have terms, as
// a span, event or link attribute: then only the key=value filters can
// rule its pairs out.
func (p *postings) dropsKey(key string) bool {
	for _, kind := range [...]termKind{termAttr, termEventAttr, termLinkAttr} {
		if p.dropped[term{kind: kind, key: key}] {
			return true
		}
	}
	return false
}

// mayHold reports whether some span, event or link of the block may have
// the attribute key=value: false when, for each of the three, the key has
// all its values as terms (not dropped) and this value is none of them.
func (p *postings) mayHold(key, value string) bool {
	for _, kind := range [...]termKind{termAttr, termEventAttr, termLinkAttr} {
		if p.dropped[term{kind: kind, key: key}] {
			return true
		}
		if _, ok := p.termIDs[term{kind: kind, key: key, value: value}]; ok {
			return true
		}
	}
	return false
}
