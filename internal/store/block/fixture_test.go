package block

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/query/predicate"
)

// Fixtures of every block format version Clew has written live under
// testdata/format-v<N>/, each written by the code of its time:
//
//	go test ./internal/store/block/ -run TestFormatFixtures -update-fixtures
//
// writes the fixture of FormatLatest (only when it does not exist yet: old
// fixtures must never be rewritten by newer code). The test then checks that
// today's reader still reads every one of them exactly.
var updateFixtures = flag.Bool("update-fixtures", false, "write the fixture of the current block format under testdata/")

func fixtureSpans() []model.Span { return genSpans(600, 20261130) }

func TestFormatFixtures(t *testing.T) {
	ctx := context.Background()
	if *updateFixtures {
		dir := filepath.Join("testdata", fmt.Sprintf("format-v%d", FormatLatest))
		if _, err := os.Stat(dir); err == nil {
			t.Fatalf("%s exists: fixtures of a released format are never rewritten", dir)
		}
		b, err := objstore.NewLocal(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Write(ctx, b, fixtureSpans(), []Edge{{Parent: "frontend", Child: "cart", Calls: 3, Errors: 1}}, 0); err != nil {
			t.Fatal(err)
		}
	}
	dirs, err := filepath.Glob(filepath.Join("testdata", "format-v*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no format fixtures under testdata/ (err %v)", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			version := strings.TrimPrefix(filepath.Base(dir), "format-v")
			bucket := copyFixture(t, dir)
			metas, err := ListMetas(ctx, bucket)
			if err != nil || len(metas) != 1 {
				t.Fatalf("ListMetas: %d metas, err %v", len(metas), err)
			}
			if fmt.Sprint(metas[0].Version) != version {
				t.Fatalf("fixture %s holds a version %d block", dir, metas[0].Version)
			}
			bl, err := Open(ctx, bucket, metas[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			defer bl.Close()
			checkFixture(t, bl)
		})
	}
}

func copyFixture(t *testing.T, dir string) objstore.Bucket {
	t.Helper()
	tmp := t.TempDir()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(tmp, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(tmp, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := objstore.NewLocal(tmp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkFixture reads a fixture block every way a query does and compares
// with the spans it was written from.
func checkFixture(t *testing.T, bl *Block) {
	ctx := context.Background()
	want := fixtureSpans()
	slices.SortStableFunc(want, func(a, b model.Span) int { return compareKeys(keyOf(&a, 0), keyOf(&b, 0)) })
	got, err := bl.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d spans, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("span %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	for _, i := range []int{0, len(want) / 2, len(want) - 1} {
		id := want[i].TraceID
		spans, err := bl.Trace(ctx, id)
		if err != nil || len(spans) == 0 || spans[0].TraceID != id {
			t.Fatalf("trace %s: %d spans, err %v", id, len(spans), err)
		}
	}
	// The in-memory filters (v7+) hold every trace and every span
	// attribute pair: their probes (for v10, the xorfilter library's
	// hashing) still find what the writer of the time put in.
	if bl.Meta().Version >= FormatV7 {
		for i := range want {
			if !bl.MayContain(want[i].TraceID) {
				t.Fatalf("trace filter: trace %s missing", want[i].TraceID)
			}
			for _, a := range want[i].Attributes {
				if !bl.ix.values.mayContain(pairHash(a.Key, a.Value.String())) {
					t.Fatalf("block filter: %s=%s missing", a.Key, a.Value.String())
				}
			}
		}
	}
	// Trace summaries (v6): each equals the summary of the trace's spans;
	// an older block has none, and says so.
	for _, i := range []int{0, len(want) / 2, len(want) - 1} {
		id := want[i].TraceID
		sum, found, err := bl.Summary(ctx, id)
		if bl.Meta().Version < FormatV6 {
			if !errors.Is(err, ErrNoSummary) {
				t.Errorf("v%d block: Summary err %v, want ErrNoSummary", bl.Meta().Version, err)
			}
			continue
		}
		spans, _ := bl.Trace(ctx, id)
		if w := model.Summarize(readDedupe(spans)); err != nil || !found || !reflect.DeepEqual(sum, w) {
			t.Errorf("trace %s: summary %+v (found %v, err %v), want %+v", id, sum, found, err, w)
		}
	}
	// Verification reads every row group in the block's own format: an
	// intact block has no damaged row group, and what it salvages is all.
	if damaged, err := bl.Verify(ctx); err != nil || len(damaged) != 0 {
		t.Fatalf("Verify of an intact block: damaged row groups %v, err %v", damaged, err)
	}
	if rest, err := bl.SpansExcept(ctx, nil); err != nil || !reflect.DeepEqual(rest, got) {
		t.Fatalf("SpansExcept(none): %d spans, err %v; want the %d of All", len(rest), err, len(got))
	}
	m := bl.Meta()
	if len(m.Edges) != 1 || m.Edges[0].Calls != 3 || m.SpanCount != len(want) {
		t.Errorf("meta: %+v", m)
	}
	preds := []predicate.Predicate{
		{Kind: -1, Service: "checkout", MinDuration: 50e6},
		{Kind: -1, Attributes: map[string]string{"error": "true"}},
		{Kind: -1, Attributes: map[string]string{"http.status_code": "500"}},
		{Kind: int(model.KindServer), Operation: "Charge"},
		{Kind: -1, Attributes: map[string]string{"otel.scope.version": "0.60.0", "http.status_code": "500"}}, // the scope table
	}
	for _, p := range preds {
		c := predicate.MustCompile(p)
		var n, wantN int
		if err := bl.Scan(ctx, c, func(model.TraceID, int64) bool { n++; return true }); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if c.Match(&want[i]) {
				wantN++
			}
		}
		if n != wantN || wantN == 0 {
			t.Errorf("scan %+v: %d matches, want %d (> 0)", p, n, wantN)
		}
	}
}
