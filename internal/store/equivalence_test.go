package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/query/predicate"
	"github.com/clewtrace/clew/internal/store/block"
)

// randomSpans draws spans from small value sets, so random predicates hit
// often, with the awkward cases on purpose: repeated attribute keys, empty
// values, non-string values, negative durations, attributes on resources,
// scopes, events and links, scope names and versions, error statuses.
func randomSpans(rng *rand.Rand, n int) []model.Span {
	base := t0.UnixNano()
	resources := make([]*model.Resource, 4)
	for i := range resources {
		resources[i] = &model.Resource{ServiceName: []string{"web", "db", "cart", ""}[i],
			Attributes: []model.Attribute{{Key: "region", Value: model.StringValue([]string{"eu", "us"}[i%2])}}}
	}
	scopes := []*model.Scope{
		{},
		{Name: "otelhttp", Version: "1"},
		{Name: "otelsql", Attributes: []model.Attribute{randomAttr(rng), randomAttr(rng)}},
		{Name: "otelhttp", Version: "2", Attributes: []model.Attribute{randomAttr(rng)}},
	}
	spans := make([]model.Span, n)
	for i := range spans {
		s := &spans[i]
		s.TraceID[0], s.TraceID[15] = byte(rng.IntN(256)), byte(rng.IntN(40))
		s.SpanID[0], s.SpanID[1] = byte(i), byte(i>>8)
		s.Resource = resources[rng.IntN(len(resources))]
		s.Name = []string{"GET", "POST", "query"}[rng.IntN(3)]
		s.Kind = model.SpanKind(rng.IntN(4))
		s.StartUnixNano = base + rng.Int64N(1000)
		s.EndUnixNano = s.StartUnixNano + rng.Int64N(300) - 20
		if rng.IntN(5) == 0 {
			s.StatusCode = model.StatusError
		}
		for range rng.IntN(5) {
			s.Attributes = append(s.Attributes, randomAttr(rng))
		}
		if rng.IntN(4) == 0 {
			s.Events = []model.Event{{Name: "e", TimeUnixNano: s.StartUnixNano, Attributes: []model.Attribute{randomAttr(rng), rareAttr(rng, "ev")}}}
		}
		s.Scope = scopes[rng.IntN(len(scopes))]
		for range rng.IntN(3) / 2 * (1 + rng.IntN(2)) { // mostly none, sometimes one or two links
			l := model.Link{TraceID: s.TraceID, SpanID: model.SpanID{9, byte(rng.IntN(256))}}
			for range rng.IntN(3) {
				l.Attributes = append(l.Attributes, randomAttr(rng))
			}
			if rng.IntN(2) == 0 {
				l.Attributes = append(l.Attributes, rareAttr(rng, "ref"))
			}
			s.Links = append(s.Links, l)
		}
	}
	return spans
}

func randomAttr(rng *rand.Rand) model.Attribute {
	key := []string{"user", "code", "flag", "region", "error", "lib"}[rng.IntN(6)]
	switch rng.IntN(4) {
	case 0:
		return model.Attribute{Key: key, Value: model.IntValue(int64(rng.IntN(3)))}
	case 1:
		return model.Attribute{Key: key, Value: model.BoolValue(rng.IntN(2) == 0)}
	}
	return model.Attribute{Key: key, Value: model.StringValue([]string{"", "a", "b", "1", "true"}[rng.IntN(5)])}
}

// rareAttr is an attribute only events ("ev") or links ("ref") have, with
// values rare enough that a batch or row group filter rules most out.
func rareAttr(rng *rand.Rand, key string) model.Attribute {
	return model.Attribute{Key: key, Value: model.StringValue(fmt.Sprint(rng.IntN(30)))}
}

func randomPredicate(rng *rand.Rand) predicate.Predicate {
	base := t0.UnixNano()
	p := predicate.Predicate{Kind: -1}
	if rng.IntN(3) == 0 {
		p.Service = []string{"web", "db", "cart", model.UnknownService, "nope"}[rng.IntN(5)]
	}
	if rng.IntN(3) == 0 {
		p.Operation = []string{"GET", "POST", "query", "nope"}[rng.IntN(4)]
	}
	if rng.IntN(4) == 0 {
		p.Kind = rng.IntN(5)
	}
	p.ErrorStatus = rng.IntN(5) == 0
	if rng.IntN(3) == 0 {
		p.MinDuration = rng.Int64N(300) // above ~260 only the blocks' long-span lists answer
	}
	if rng.IntN(3) == 0 {
		p.MaxDuration = rng.Int64N(300)
	}
	if rng.IntN(3) == 0 {
		p.StartMin = base + rng.Int64N(1000)
	}
	if rng.IntN(3) == 0 {
		p.StartMax = base + rng.Int64N(1000)
	}
	for range rng.IntN(3) {
		if p.Attributes == nil {
			p.Attributes = map[string]string{}
		}
		a := randomAttr(rng)
		switch rng.IntN(10) {
		case 0:
			a = model.Attribute{Key: predicate.ScopeNameKey, Value: model.StringValue([]string{"otelhttp", "otelsql", "", "nope"}[rng.IntN(4)])}
		case 1:
			a = model.Attribute{Key: predicate.ScopeVersionKey, Value: model.StringValue([]string{"1", "2", ""}[rng.IntN(3)])}
		case 2:
			a = rareAttr(rng, "ev")
		case 3, 4:
			a = rareAttr(rng, "ref")
		}
		p.Attributes[a.Key] = a.Value.String()
	}
	for range rng.IntN(3) {
		p.Compares = append(p.Compares, randomCompare(rng))
	}
	return p
}

// randomCompare draws a comparison on the attributes randomAttr draws:
// numeric ones against integers and a float, textual ones against the
// strings (the empty one included, which absent dedicated values also hold)
// and patterns.
func randomCompare(rng *rand.Rand) predicate.Compare {
	c := predicate.Compare{Key: []string{"user", "code", "flag", "region", "error", "lib", "ev", "ref", "otel.scope.name"}[rng.IntN(9)]}
	if rng.IntN(2) == 0 {
		c.Numeric = true
		c.Op = []string{"=", "!=", "<", "<=", ">", ">="}[rng.IntN(6)]
		c.Value = []string{"0", "1", "2", "1.5", "-1"}[rng.IntN(5)]
		return c
	}
	c.Op = []string{"=", "!=", "<", "<=", ">", ">=", "=~", "!~"}[rng.IntN(8)]
	c.Value = []string{"", "a", "b", "1", "true"}[rng.IntN(5)]
	if c.Op == "=~" || c.Op == "!~" {
		c.Value = []string{"", "a|b", "t.*", "[0-9]+", ".*"}[rng.IntN(5)]
	}
	return c
}

type hit struct {
	id    model.TraceID
	start int64
}

// The head and a block answer every predicate alike: both evaluate the one
// compiled predicate, the head span by span and the block column by column.
func TestHeadAndBlockAgreeOnRandomPredicates(t *testing.T) {
	ctx := context.Background()
	for round := range 8 {
		rng := rand.New(rand.NewPCG(uint64(round), 42))
		spans := randomSpans(rng, 200+rng.IntN(400))
		bucket, err := objstore.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		meta, err := block.Write(ctx, bucket, slices.Clone(spans), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		bl, err := block.Open(ctx, bucket, meta.ID)
		if err != nil {
			t.Fatal(err)
		}
		// The head gets the spans in batches of up to 50, so its batch
		// filters rule batches out.
		h := newHead(time.Now())
		for rest := slices.Clone(spans); len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(50))
			h.add(rest[:n:n])
			rest = rest[n:]
		}
		for q := range 100 {
			p := randomPredicate(rng)
			c := predicate.MustCompile(p)
			var fromHead, fromBlock, want []hit
			h.scan(c, func(id model.TraceID, start int64) bool { fromHead = append(fromHead, hit{id, start}); return true })
			if err := bl.Scan(ctx, c, func(id model.TraceID, start int64) bool {
				fromBlock = append(fromBlock, hit{id, start})
				return true
			}); err != nil {
				t.Fatal(err)
			}
			for i := range spans {
				if c.Match(&spans[i]) {
					want = append(want, hit{spans[i].TraceID, spans[i].StartUnixNano})
				}
			}
			sortHits(fromHead)
			sortHits(fromBlock)
			sortHits(want)
			if !slices.Equal(fromHead, want) || !slices.Equal(fromBlock, want) {
				t.Fatalf("round %d query %d %+v: head %d hits, block %d hits, spans matching %d\n%s",
					round, q, p, len(fromHead), len(fromBlock), len(want), firstDiff(fromHead, fromBlock))
			}
		}
		_ = bl.Close()
	}
}

func sortHits(h []hit) {
	slices.SortFunc(h, func(a, b hit) int {
		if c := slices.Compare(a.id[:], b.id[:]); c != 0 {
			return c
		}
		return int(a.start - b.start)
	})
}

func firstDiff(a, b []hit) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("first difference at %d: head %x@%d, block %x@%d", i, a[i].id, a[i].start, b[i].id, b[i].start)
		}
	}
	return "one is a prefix of the other"
}

// Search over many blocks, read in parallel with early termination and
// trimmed candidate sets, gives exactly the newest-N answer that reading
// every span would.
func TestFindTraceIDsMatchesBruteForce(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir(), &clock{now: t0}, func(o *Options) { o.CompactBlocks = 1000 })
	defer s.Close(ctx)
	rng := rand.New(rand.NewPCG(3, 3))
	var all []model.Span
	for blk := range 12 {
		spans := randomSpans(rng, 150)
		for i := range spans {
			spans[i].TraceID[1] = byte(blk) // traces of each block are its own
			spans[i].StartUnixNano += int64(blk) * 700
			spans[i].EndUnixNano += int64(blk) * 700
		}
		all = append(all, spans...)
		s.core.Head().Add(slices.Clone(spans))
		if blk < 11 { // the last stays in the head
			if err := s.flush(ctx, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	for q := range 40 {
		p := randomPredicate(rng)
		p.StartMin, p.StartMax = 0, 0
		c := predicate.MustCompile(p)
		limit := []int{1, 3, 20, 1000}[q%4]
		want := newNewest(1 << 30) // never trimmed
		for i := range all {
			if c.Match(&all[i]) {
				want.add(all[i].TraceID, all[i].StartUnixNano)
			}
		}
		got, err := s.FindTraceIDs(ctx, c, limit)
		if err != nil {
			t.Fatal(err)
		}
		w := want.ids()
		w = w[:min(limit, len(w))]
		if !slices.Equal(got, w) {
			t.Fatalf("query %d %+v limit %d: got %d IDs, want %d\n got %x\nwant %x", q, p, limit, len(got), len(w), got, w)
		}
	}
}
