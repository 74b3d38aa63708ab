package block

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/query/predicate"
)

// ScanSpans finds, in every block format, exactly the spans that match the
// predicate, with the fields asked for equal to the stored span's, grouped
// only when alike — and, when told a row group's starts count alike,
// the same number of spans.
func TestScanSpansEveryFormat(t *testing.T) {
	ctx := context.Background()
	dirs, err := filepath.Glob(filepath.Join("testdata", "format-v*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no format fixtures (err %v)", err)
	}
	preds := []predicate.Predicate{
		{Kind: -1},
		{Kind: -1, Service: fixtureSpans()[0].Service()},
		{Kind: -1, ErrorStatus: true},
		{Kind: -1, MinDuration: 1000, Compares: []predicate.Compare{{Key: "http.status_code", Op: ">=", Value: "400", Numeric: true}}},
	}
	for _, dir := range dirs {
		bucket := copyFixture(t, dir)
		metas, err := ListMetas(ctx, bucket)
		if err != nil || len(metas) != 1 {
			t.Fatalf("%s: %d metas, err %v", dir, len(metas), err)
		}
		bl, err := Open(ctx, bucket, metas[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		all, err := bl.All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for pi, p := range preds {
			c := predicate.MustCompile(p)
			matching := 0
			for _, fields := range []Fields{FieldName | FieldKind | FieldStatus | FieldResource, AllFields} {
				var want []string
				for i := range all {
					if c.Match(&all[i]) {
						want = append(want, projected(&all[i], fields == AllFields))
					}
				}
				matching = len(want)
				var got []string
				err := bl.ScanSpans(ctx, c, fields, nil, nil, func(spans []model.Span, starts [][]int64) error {
					for i := range spans {
						for _, st := range starts[i] {
							s := spans[i]
							s.StartUnixNano = st
							got = append(got, projected(&s, fields == AllFields))
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				slices.Sort(want)
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Fatalf("%s, predicate %d, fields %b: %d spans, want %d", dir, pi, fields, len(got), len(want))
				}
			}
			n := 0
			err := bl.ScanSpans(ctx, c, FieldResource, func(lo, hi int64) bool { return true }, nil, func(spans []model.Span, starts [][]int64) error {
				for i := range starts {
					n += len(starts[i])
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if n != matching || n == 0 {
				t.Fatalf("%s, predicate %d, starts alike: %d spans, want %d", dir, pi, n, matching)
			}
		}
		_ = bl.Close()
	}
}

// projected prints the fields a column scan fills (and the trace ID and
// attributes for whole rows, whose groups are single spans).
func projected(s *model.Span, whole bool) string {
	out := fmt.Sprint(s.StartUnixNano, s.Name, s.Kind, s.StatusCode, s.Service())
	if whole {
		out += fmt.Sprint(s.TraceID, s.SpanID, s.Attributes)
	}
	return out
}

// Traces reads many traces at once — several per row group, in every block
// format and in a block of several row groups — exactly as Trace reads
// each one; unknown and repeated IDs are skipped.
func TestTracesReadsAsTraceDoes(t *testing.T) {
	ctx := context.Background()
	dirs, err := filepath.Glob(filepath.Join("testdata", "format-v*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no format fixtures (err %v)", err)
	}
	var blocks []*Block
	for _, dir := range dirs {
		bucket := copyFixture(t, dir)
		metas, err := ListMetas(ctx, bucket)
		if err != nil || len(metas) != 1 {
			t.Fatalf("%s: %d metas, err %v", dir, len(metas), err)
		}
		bl, err := Open(ctx, bucket, metas[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, bl)
	}
	b := objstore.NewMemory()
	m, err := Write(ctx, b, genSpans(2*rowGroupRows+2000, 7), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	big, err := Open(ctx, b, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(big.ix.rowGroups) < 3 {
		t.Fatalf("%d row groups; the test needs several", len(big.ix.rowGroups))
	}
	blocks = append(blocks, big)
	for _, bl := range blocks {
		all, err := bl.All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []model.TraceID
		for i := range all {
			if i == 0 || all[i].TraceID != all[i-1].TraceID {
				ids = append(ids, all[i].TraceID)
			}
		}
		// About 60 traces spread over the block (several per row group),
		// in reverse order, one of them twice, and one the block does not
		// hold.
		var ask []model.TraceID
		for i := len(ids) - 1; i >= 0; i -= max(3, len(ids)/60) {
			ask = append(ask, ids[i])
		}
		ask = append(ask, ask[0], model.TraceID{0xff, 1, 2, 3})
		got := map[model.TraceID][]model.Span{}
		if err := bl.Traces(ctx, ask, func(id model.TraceID, spans []model.Span) error {
			if _, dup := got[id]; dup {
				t.Errorf("%s: trace %s given twice", bl.meta.ID, id)
			}
			got[id] = slices.Clone(spans)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(ask)-2 {
			t.Errorf("format v%d: %d traces read, want %d", bl.ix.version, len(got), len(ask)-2)
		}
		for _, id := range ask[:len(ask)-2] {
			want, err := bl.Trace(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 || fmt.Sprint(got[id]) != fmt.Sprint(want) {
				t.Errorf("format v%d: trace %s: Traces gave %d spans, Trace %d (or they differ)", bl.ix.version, id, len(got[id]), len(want))
			}
		}
	}
}
