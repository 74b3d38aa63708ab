package block

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/clewtrace/clew/internal/query/predicate"
)

// RuledOut rules a block out only when no span of it matches: for random
// predicates over values the block holds, values it does not, keys its
// resources hold and error conditions, a block it rules out has no
// matching span, and it is never more eager than MayMatch. It does rule
// out what it is for (absent values of span keys, windows the block is
// outside of) without allocating.
func TestRuledOut(t *testing.T) {
	spans := genSpans(1500, 31)
	bl := writeOpen(t, newBucket(t), slices.Clone(spans))
	matches := func(c *predicate.Compiled) bool {
		for i := range spans {
			if c.Match(&spans[i]) {
				return true
			}
		}
		return false
	}
	rng := rand.New(rand.NewPCG(7, 8))
	value := func() (string, string) {
		switch rng.IntN(5) {
		case 0: // a pair some span holds
			a := spans[rng.IntN(len(spans))].Attributes[rng.IntN(6)]
			return a.Key, a.Value.String()
		case 1: // a resource's pair, or a resource key with a value no resource holds
			if rng.IntN(2) == 0 {
				return "host.name", fmt.Sprintf("node-%d", rng.IntN(12))
			}
			return "deployment.environment", "nowhere"
		case 2:
			return "error", "true"
		default: // a span key with a value no span holds
			return "user.id", fmt.Sprintf("nobody-%d", rng.IntN(1_000_000))
		}
	}
	var ruled, ruledAbsent, absent int
	for range 1000 {
		p := predicate.Predicate{Kind: -1, Attributes: map[string]string{}}
		for range 1 + rng.IntN(3) {
			k, v := value()
			p.Attributes[k] = v
		}
		if rng.IntN(4) == 0 {
			p.StartMin = bl.meta.MinStartUnixNano + rng.Int64N(2*(bl.meta.MaxStartUnixNano-bl.meta.MinStartUnixNano)+1)
		}
		c := predicate.MustCompile(p)
		out := bl.RuledOut(NewProbe(c))
		if out {
			ruled++
			if matches(c) {
				t.Fatalf("%+v: ruled out, but a span matches", p)
			}
			if bl.MayMatch(c) {
				t.Fatalf("%+v: ruled out, but MayMatch says the block may match", p)
			}
		}
		if v := p.Attributes["user.id"]; len(p.Attributes) == 1 && p.StartMin == 0 && strings.HasPrefix(v, "nobody-") {
			absent++
			if out {
				ruledAbsent++
			}
		}
	}
	t.Logf("%d of 1000 predicates ruled out; %d of %d single absent user.id values", ruled, ruledAbsent, absent)
	if absent < 100 || ruledAbsent < absent-1 {
		t.Errorf("%d of %d absent user.id values ruled out, want all (or all but one: a false positive)", ruledAbsent, absent)
	}
	for _, p := range []predicate.Predicate{
		{Kind: -1, Attributes: map[string]string{"deployment.environment": "nowhere"}}, // a resource key: the filter cannot tell
		{Kind: -1, Attributes: map[string]string{"error": "true"}},                     // an error status may satisfy it
		{Kind: -1, Attributes: map[string]string{"http.status_code": "500"}},
	} {
		if bl.RuledOut(NewProbe(predicate.MustCompile(p))) {
			t.Errorf("%+v: ruled out", p)
		}
	}
	late := NewProbe(predicate.MustCompile(predicate.Predicate{Kind: -1, StartMin: bl.meta.MaxStartUnixNano + 1}))
	if !bl.RuledOut(late) {
		t.Error("a search after the block's newest span was not ruled out")
	}
	pr := NewProbe(predicate.MustCompile(predicate.Predicate{Kind: -1, Attributes: map[string]string{"user.id": "nobody", "url.path": "/nowhere"}}))
	if n := testing.AllocsPerRun(100, func() { bl.RuledOut(pr) }); n != 0 {
		t.Errorf("RuledOut allocates %.1f times per call", n)
	}
}

// A key set's summary never says "not in the set" of a key that is.
func TestKeySetHasNoFalseNegatives(t *testing.T) {
	keys := map[string]struct{}{}
	for i := range 40 {
		keys[fmt.Sprintf("resource.key.%d", i)] = struct{}{}
	}
	s := newKeySet(keys)
	for k := range keys {
		if !s.mayHave(keyMask(k)) || !s.has(k) {
			t.Fatalf("%s missing", k)
		}
	}
	few := newKeySet(map[string]struct{}{"service.name": {}, "host.name": {}})
	misses := 0
	for i := range 1000 {
		if !few.mayHave(keyMask(fmt.Sprintf("span.key.%d", i))) {
			misses++
		}
	}
	if misses < 900 {
		t.Errorf("a two-key summary rules out only %d of 1000 other keys", misses)
	}
}
