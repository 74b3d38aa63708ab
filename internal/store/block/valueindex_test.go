package block

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/predicate"
)

func TestValueFilterHasNoFalseNegativesAndFewFalsePositives(t *testing.T) {
	var hashes []uint64
	for i := range 20000 { // a high-cardinality key
		hashes = append(hashes, pairHash("enduser.id", fmt.Sprintf("user-%05d", i)))
	}
	hashes = append(hashes, pairHash("http.method", "GET"), pairHash("http.method", "GET")) // duplicates are fine
	// What the writer writes, read back through the decoder: k and size
	// come from the filter itself.
	type filter interface{ mayContain(uint64) bool }
	type roundTrip func([]uint64) (filter, error)
	for name, c := range map[string]struct {
		build     roundTrip
		fpMax     float64 // false positives, of 40,000 absent pairs
		fpAtLeast int
	}{
		"v10 block": {func(hashes []uint64) (filter, error) {
			f := newBlockValueFilter(hashes)
			if len(f.fuse.Fingerprints) == 0 {
				return nil, fmt.Errorf("no fuse filter was built")
			}
			var e encoder
			e.memFilter(f)
			d := decoder{b: e.b}
			back := d.memFilter("value filter", seedRowGroup)
			if d.err == nil && len(d.b) != 0 {
				return nil, fmt.Errorf("%d bytes left", len(d.b))
			}
			return &back, d.err
		}, 0.0002, 0}, // ~0.0015 %: most runs see none
		"v10 block, blocked fallback": {func(hashes []uint64) (filter, error) {
			slices.Sort(hashes)
			f := memFilter{blocked: newBlockedFilter(slices.Compact(hashes), blockFilterBitsPerValue, blockFilterK, seedRowGroup)}
			var e encoder
			e.memFilter(f)
			d := decoder{b: e.b}
			back := d.memFilter("value filter", seedRowGroup)
			if d.err == nil && (len(back.fuse.Fingerprints) != 0 || back.blocked.k != blockFilterK) {
				return nil, fmt.Errorf("read back as another filter")
			}
			return &back, d.err
		}, 0.005, 1},
		"v7 block": {func(hashes []uint64) (filter, error) {
			slices.Sort(hashes)
			var e encoder
			e.blockedFilter(newBlockedFilter(slices.Compact(hashes), blockFilterBitsPerValue, blockFilterK, seedRowGroup))
			d := decoder{b: e.b}
			back := d.blockedFilter("value filter", seedRowGroup)
			return back, d.err
		}, 0.005, 1},
		"v2 row group": {func(hashes []uint64) (filter, error) {
			f := newValueFilter(hashes)
			var e encoder
			e.filter(f)
			d := decoder{b: e.b}
			back := d.filter()
			if d.err == nil && (back.k != filterK || len(back.words) != len(f.words)) {
				return &back, fmt.Errorf("k %d, %d words", back.k, len(back.words))
			}
			return &back, d.err
		}, 0.02, 1},
	} {
		t.Run(name, func(t *testing.T) {
			f, err := c.build(slices.Clone(hashes))
			if err != nil {
				t.Fatalf("filter did not round-trip: %v", err)
			}
			for i := range 20000 {
				if !f.mayContain(pairHash("enduser.id", fmt.Sprintf("user-%05d", i))) {
					t.Fatalf("user-%05d missing", i)
				}
			}
			if !f.mayContain(pairHash("http.method", "GET")) {
				t.Fatal("GET missing")
			}
			fp := 0
			for i := range 20000 {
				if f.mayContain(pairHash("enduser.id", fmt.Sprintf("other-%05d", i))) {
					fp++
				}
				if f.mayContain(pairHash("absent.key", fmt.Sprintf("user-%05d", i))) { // a value of another key
					fp++
				}
			}
			if rate := float64(fp) / 40000; rate > c.fpMax || fp < c.fpAtLeast {
				t.Errorf("false-positive rate %.5f, want at most %.5f (and %d or more false positives)", rate, c.fpMax, c.fpAtLeast)
			}
		})
	}
	if (&valueFilter{}).mayContain(1) != true {
		t.Error("an empty (pre-v2) filter must admit everything")
	}
}

// A search for a value held by one row group reads only that row group;
// values on resources or errors are not ruled out by span-attribute filters.
func TestScanSkipsRowGroupsByValueFilter(t *testing.T) {
	ctx := context.Background()
	spans := genSpans(2*rowGroupRows+5000, 11)
	// The row groups' filters let ~0.1 % of absent values through, so a
	// value may cost one more row group; this one (on this data) does not.
	const rare = "needle-user-7"
	spans[100].Attributes = append(spans[100].Attributes, model.Attribute{Key: "user.id", Value: model.StringValue(rare)})
	spans[len(spans)-1].Events = append(spans[len(spans)-1].Events,
		model.Event{Name: "e", Attributes: []model.Attribute{{Key: "event.only", Value: model.StringValue("x")}}})
	spans[200].Links = append(spans[200].Links, model.Link{TraceID: spans[0].TraceID, SpanID: spans[0].SpanID,
		Attributes: []model.Attribute{{Key: "link.only", Value: model.IntValue(7)}}})
	spans[300].Scope = &model.Scope{Name: "scope-300", Version: "3.0",
		Attributes: []model.Attribute{{Key: "scope.only", Value: model.BoolValue(true)}}}
	bl := writeOpen(t, newBucket(t), spans)
	if len(bl.ix.rowGroups) < 3 {
		t.Fatalf("%d row groups, want at least 3", len(bl.ix.rowGroups))
	}
	candidates := func(p predicate.Predicate) (n int) {
		sc := bl.newScanner(context.Background(), predicate.MustCompile(p))
		if sc == nil {
			return 0
		}
		for g := range bl.ix.rowGroups {
			if sc.rowGroupPasses(context.Background(), g) {
				n++
			}
		}
		return n
	}
	count := func(p predicate.Predicate) (n int) {
		if err := bl.Scan(ctx, predicate.MustCompile(p), func(model.TraceID, int64) bool { n++; return true }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	all := len(bl.ix.rowGroups)
	tests := []struct {
		name    string
		p       predicate.Predicate
		maxRead int
		matches int
	}{
		{"rare span value", predicate.Predicate{Kind: -1, Attributes: map[string]string{"user.id": rare}}, 1, 1},
		{"event value", predicate.Predicate{Kind: -1, Attributes: map[string]string{"event.only": "x"}}, 1, 1},
		{"absent key", predicate.Predicate{Kind: -1, Attributes: map[string]string{"no.such.key": "v"}}, 0, 0},
		{"absent value of a present key", predicate.Predicate{Kind: -1, Attributes: map[string]string{"user.id": "nobody"}}, 0, 0},
		{"resource value", predicate.Predicate{Kind: -1, Service: "cart", Attributes: map[string]string{"deployment.environment": "production"}}, all, -1},
		{"error status", predicate.Predicate{Kind: -1, Attributes: map[string]string{"error": "true"}}, all, -1},
		{"link value", predicate.Predicate{Kind: -1, Attributes: map[string]string{"link.only": "7"}}, 1, 1},
		// Scopes are a block table, like resources: a row group filter
		// cannot rule their values out.
		{"scope attribute", predicate.Predicate{Kind: -1, Attributes: map[string]string{"scope.only": "true"}}, all, 1},
		{"scope name and version", predicate.Predicate{Kind: -1, Attributes: map[string]string{"otel.scope.name": "scope-300", "otel.scope.version": "3.0"}}, all, 1},
		{"scope and link value", predicate.Predicate{Kind: -1, Attributes: map[string]string{"scope.only": "true", "link.only": "7"}}, 1, 0},
	}
	if !bl.meta.FilterLinks {
		t.Fatal("a new block's meta lacks FilterLinks")
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if n := candidates(tc.p); n > tc.maxRead || (tc.maxRead == all && n != all) {
				t.Errorf("%d of %d row groups to read, want %d", n, all, tc.maxRead)
			}
			want := 0
			c := predicate.MustCompile(tc.p)
			for i := range spans {
				if c.Match(&spans[i]) {
					want++
				}
			}
			if got := count(tc.p); got != want || (tc.matches >= 0 && got != tc.matches) {
				t.Errorf("%d matches, want %d", got, want)
			}
		})
	}
}

// A block written before link attributes were searchable has no link pairs
// in its value filters (no FilterLinks in its meta): its row groups are all
// read, so a link attribute in it is still found.
func TestScanReadsEveryRowGroupOfBlocksWithoutLinkPairs(t *testing.T) {
	spans := genSpans(2*rowGroupRows+5000, 12)
	bl := writeOpen(t, newBucket(t), spans)
	bl.meta.FilterLinks = false
	sc := bl.newScanner(context.Background(), predicate.MustCompile(predicate.Predicate{Kind: -1, Attributes: map[string]string{"user.id": "nobody"}}))
	for g := range bl.ix.rowGroups {
		if !sc.rowGroupMayMatch(&bl.ix.rowGroups[g]) {
			t.Fatalf("row group %d skipped by a filter that may lack link attributes", g)
		}
	}
}
