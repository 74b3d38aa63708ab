package block

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/predicate"
)

// One block of several row groups (postingsBlock) serves every MayMatch
// test: writing it is most of their cost.
func TestMayMatch(t *testing.T) {
	bl, spans := postingsBlock(t)
	t.Run("no false negatives", func(t *testing.T) { testMayMatchHasNoFalseNegatives(t, bl, spans) })
	t.Run("absent values ruled out", func(t *testing.T) { testMayMatchRulesOutAbsentValues(t, bl, spans) })
	t.Run("without indexes", func(t *testing.T) { testMayMatchWithoutIndexes(t, bl) })
	t.Run("plain dedicated equality", func(t *testing.T) { testScanPlainDedicatedEquality(t, bl, spans) })
}

// MayMatch never rules out a block that holds a match: random searches —
// values that spans hold (high-cardinality user IDs and URL paths among
// them), absent values of present keys, absent keys, resource and scope
// attributes, event- and link-only attributes, error=true, time windows,
// durations, services and operations — against brute force over every
// span of a block of several row groups.
func testMayMatchHasNoFalseNegatives(t *testing.T, bl *Block, spans []model.Span) {
	rng := rand.New(rand.NewPCG(10, 10))
	lo, hi := bl.meta.MinStartUnixNano, bl.meta.MaxStartUnixNano
	randomPair := func() (string, string) {
		switch rng.IntN(12) {
		case 0:
			return "user.id", fmt.Sprintf("nobody-%d", rng.IntN(1000)) // absent value of a dropped key
		case 1:
			return "capped.at", fmt.Sprint(maxTermValues + rng.IntN(5)) // absent value of a key with terms
		case 2:
			return "no.such.key", "v"
		case 3:
			return "host.name", fmt.Sprintf("node-%d", rng.IntN(10)) // resource attribute
		case 4:
			return predicate.ScopeNameKey, []string{"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", "other"}[rng.IntN(2)]
		case 5:
			return "error", "true"
		case 6:
			return []string{"event.only", "link.only", "rare.flag"}[rng.IntN(3)], []string{"x", "y", "true"}[rng.IntN(3)]
		}
		// A pair some span holds: its own attributes, high-cardinality
		// ones included.
		s := &spans[rng.IntN(len(spans))]
		a := s.Attributes[rng.IntN(len(s.Attributes))]
		return a.Key, a.Value.String()
	}
	matched, ruledOut := 0, 0
	for q := range 120 {
		p := predicate.Predicate{Kind: -1, Attributes: map[string]string{}}
		for range 1 + rng.IntN(2) {
			k, v := randomPair()
			p.Attributes[k] = v
		}
		if rng.IntN(3) == 0 {
			p.StartMin = lo + rng.Int64N(hi-lo+1)
			p.StartMax = p.StartMin + rng.Int64N((hi-lo)/4+1)
		}
		if rng.IntN(4) == 0 {
			p.MinDuration = rng.Int64N(600e6)
		}
		if rng.IntN(5) == 0 {
			p.Service = []string{"cart", "payment", "nope"}[rng.IntN(3)]
		}
		if rng.IntN(6) == 0 {
			p.Operation = []string{"GetCart", "Charge", "nope"}[rng.IntN(3)]
		}
		c := predicate.MustCompile(p)
		want := false
		for i := range spans {
			if c.Match(&spans[i]) {
				want = true
				break
			}
		}
		got := bl.MayMatch(c)
		if want && !got {
			t.Fatalf("query %d %+v: a span matches, MayMatch ruled the block out", q, p)
		}
		if want {
			matched++
		} else if !got {
			ruledOut++
		}
	}
	if matched < 12 || ruledOut < 25 {
		t.Fatalf("the searches were not varied enough: %d matched, %d ruled out", matched, ruledOut)
	}
}

// Values no span holds are ruled out by MayMatch for nearly every block —
// a high-cardinality key's by the row groups' filters (about 1 % false
// positives each), a key with terms and an absent key exactly — without
// allocating, while a present value, a resource attribute and error=true
// are never ruled out.
func testMayMatchRulesOutAbsentValues(t *testing.T, bl *Block, spans []model.Span) {
	maybe := 0
	for i := range 300 {
		if bl.MayMatch(predicate.MustCompile(predicate.Predicate{Kind: -1, Attributes: map[string]string{"user.id": fmt.Sprintf("nobody-%d", i)}})) {
			maybe++
		}
	}
	// 3 row groups at ~1 % each: about 9 of 300 expected.
	if maybe > 30 {
		t.Errorf("%d of 300 absent user IDs not ruled out", maybe)
	}
	for _, attrs := range []map[string]string{
		{"capped.at": "999"},
		{"no.such.key": "x"},
		{"rare.flag": "false"},
		{"event.only": "y"},
	} {
		if bl.MayMatch(predicate.MustCompile(predicate.Predicate{Kind: -1, Attributes: attrs})) {
			t.Errorf("%v: not ruled out, yet the postings have every value of the key (or no such key)", attrs)
		}
	}
	for _, attrs := range []map[string]string{
		{"user.id": spans[5].Attributes[5].Value.String()},
		{"host.name": "nobody"}, // a resource attribute: the tables decide, in the scan
		{"error": "true"},
		{"event.only": "x"},
		{"link.only": "y"},
		{"rare.flag": "true"},
	} {
		if !bl.MayMatch(predicate.MustCompile(predicate.Predicate{Kind: -1, Attributes: attrs})) {
			t.Errorf("%v: ruled out", attrs)
		}
	}
	if spans[5].Attributes[5].Key != "user.id" {
		t.Fatalf("generator changed: attribute 5 is %q", spans[5].Attributes[5].Key)
	}
	absent := predicate.MustCompile(predicate.Predicate{Kind: -1, Attributes: map[string]string{"user.id": "nobody", "url.path": "/nowhere"}})
	if n := testing.AllocsPerRun(100, func() { bl.MayMatch(absent) }); n != 0 {
		t.Errorf("MayMatch allocates %.1f times per call", n)
	}
}

// A block without postings or filters (format v1) is never ruled out by
// an attribute condition; its meta still rules it out by time.
func testMayMatchWithoutIndexes(t *testing.T, bl *Block) {
	ix := *bl.ix
	ix.postings = nil
	ix.values = memFilter{}
	ix.rowGroups = append([]rowGroupStats(nil), ix.rowGroups...)
	for g := range ix.rowGroups {
		ix.rowGroups[g].values = valueFilter{}
	}
	bare := &Block{meta: bl.meta, ix: &ix, tableKeys: bl.tableKeys}
	if !bare.MayMatch(predicate.MustCompile(predicate.Predicate{Kind: -1, Attributes: map[string]string{"user.id": "nobody", "capped.at": "999"}})) {
		t.Error("a block without filters or postings was ruled out by attribute values")
	}
	late := predicate.Predicate{Kind: -1, StartMin: bl.meta.MaxStartUnixNano + 1, Attributes: map[string]string{"user.id": "nobody"}}
	if bare.MayMatch(predicate.MustCompile(late)) {
		t.Error("a search after the block's newest span was not ruled out")
	}
}

// Equality on a plain (high-cardinality) dedicated column: a value that is
// only part of a row's value, or that spans two rows' bytes, matches
// nothing; a held value matches exactly the spans that hold it.
func testScanPlainDedicatedEquality(t *testing.T, bl *Block, spans []model.Span) {
	slot := slices.Index(bl.ix.dedicated, "user.id")
	if slot < 0 {
		t.Fatalf("user.id is not dedicated: %v", bl.ix.dedicated)
	}
	held := spans[9].Attributes[5].Value.String() // u-NNNNNN
	next := spans[10].Attributes[5].Value.String()
	for _, v := range []string{held, held[:len(held)-1], held[2:] + next[:3], "nobody"} {
		c := predicate.MustCompile(predicate.Predicate{Kind: -1, Attributes: map[string]string{"user.id": v}})
		want := 0
		for i := range spans {
			if c.Match(&spans[i]) {
				want++
			}
		}
		got := 0
		if err := bl.Scan(context.Background(), c, func(model.TraceID, int64) bool { got++; return true }); err != nil {
			t.Fatal(err)
		}
		if got != want || v == held && got == 0 {
			t.Errorf("user.id=%q: %d matches, want %d", v, got, want)
		}
	}
}
