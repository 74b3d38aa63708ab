package block

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/query/predicate"
	"github.com/clewtrace/clew/internal/segment"
)

func TestScanPredicates(t *testing.T) {
	web := &model.Resource{ServiceName: "web", Attributes: []model.Attribute{{Key: "region", Value: model.StringValue("eu")}}}
	db := &model.Resource{ServiceName: "db", Attributes: []model.Attribute{{Key: "region", Value: model.StringValue("us")}}}
	sc := &model.Scope{Name: "s"}
	mk := func(n byte, res *model.Resource, name string, kind model.SpanKind, start, dur int64, attrs ...model.Attribute) model.Span {
		return model.Span{TraceID: tid(n), SpanID: sid(n), Resource: res, Scope: sc, Name: name, Kind: kind,
			StartUnixNano: start, EndUnixNano: start + dur, Attributes: attrs}
	}
	spans := []model.Span{
		mk(1, web, "GET", model.KindServer, 1000, 50, model.Attribute{Key: "http.status_code", Value: model.IntValue(200)}, model.Attribute{Key: "user", Value: model.StringValue("alice")}),
		mk(2, web, "POST", model.KindServer, 2000, 500, model.Attribute{Key: "http.status_code", Value: model.IntValue(500)}, model.Attribute{Key: "user", Value: model.StringValue("bob")}),
		mk(3, db, "query", model.KindClient, 3000, 5000, model.Attribute{Key: "flag", Value: model.BoolValue(true)}),
		mk(4, db, "query", model.KindClient, 4000, 10, model.Attribute{Key: "error", Value: model.StringValue("true")}),
		mk(5, web, "GET", model.KindServer, 5000, 70, model.Attribute{Key: "user", Value: model.StringValue("alice")}),
		mk(6, web, "GET", model.KindServer, 6000, -5), // negative duration counts as 0
	}
	spans[1].StatusCode = model.StatusError
	spans[4].Events = []model.Event{{Name: "log", Attributes: []model.Attribute{{Key: "http.status_code", Value: model.IntValue(200)}}}}
	// Many spans so "user"/"http.status_code" become dedicated columns in one
	// block; the other block keeps them generic.
	ctx := context.Background()
	dedicated := slices.Clone(spans)
	for i := range 100 {
		dedicated = append(dedicated, mk(byte(100+i), db, "filler", model.KindInternal, 9000, 1,
			model.Attribute{Key: "user", Value: model.StringValue("zed")}, model.Attribute{Key: "http.status_code", Value: model.IntValue(1)}))
	}
	blocks := map[string]*Block{
		"generic":   writeOpen(t, newBucket(t), spans),
		"dedicated": writeOpen(t, newBucket(t), dedicated),
	}
	tests := []struct {
		name string
		p    predicate.Predicate
		want []byte // trace ID last bytes
	}{
		{"any", predicate.Predicate{Kind: -1, StartMax: 8000}, []byte{1, 2, 3, 4, 5, 6}},
		{"service", predicate.Predicate{Service: "db", Kind: -1, StartMax: 8000}, []byte{3, 4}},
		{"unknown service", predicate.Predicate{Service: "nope", Kind: -1}, nil},
		{"operation", predicate.Predicate{Service: "web", Operation: "GET", Kind: -1}, []byte{1, 5, 6}},
		{"kind", predicate.Predicate{Kind: int(model.KindClient)}, []byte{3, 4}},
		{"kind unspecified", predicate.Predicate{Kind: 0}, nil},
		{"min duration", predicate.Predicate{Kind: -1, MinDuration: 100}, []byte{2, 3}},
		{"max duration", predicate.Predicate{Kind: -1, MaxDuration: 50, StartMax: 8000}, []byte{1, 4, 6}},
		{"duration range", predicate.Predicate{Kind: -1, MinDuration: 60, MaxDuration: 500}, []byte{2, 5}},
		{"start range", predicate.Predicate{Kind: -1, StartMin: 2000, StartMax: 4000}, []byte{2, 3, 4}},
		{"int attribute as text", predicate.Predicate{Kind: -1, Attributes: map[string]string{"http.status_code": "500"}}, []byte{2}},
		{"bool attribute", predicate.Predicate{Kind: -1, Attributes: map[string]string{"flag": "true"}}, []byte{3}},
		{"resource attribute", predicate.Predicate{Kind: -1, Attributes: map[string]string{"region": "us"}}, []byte{3, 4}},
		{"event attribute", predicate.Predicate{Kind: -1, Attributes: map[string]string{"http.status_code": "200"}}, []byte{1, 5}},
		{"error status", predicate.Predicate{Kind: -1, Attributes: map[string]string{"error": "true"}}, []byte{2, 4}},
		{"same span", predicate.Predicate{Kind: -1, Attributes: map[string]string{"user": "alice", "http.status_code": "500"}}, nil},
		{"two on one span", predicate.Predicate{Kind: -1, Attributes: map[string]string{"user": "bob", "http.status_code": "500"}}, []byte{2}},
		{"resource and span", predicate.Predicate{Service: "web", Kind: -1, Attributes: map[string]string{"region": "eu", "user": "alice"}}, []byte{1, 5}},
		{"absent value", predicate.Predicate{Kind: -1, Attributes: map[string]string{"user": "carol"}}, nil},
		{"empty value does not match absent key", predicate.Predicate{Kind: -1, Attributes: map[string]string{"user": ""}}, nil},
		{"everything", predicate.Predicate{Service: "web", Operation: "POST", Kind: int(model.KindServer), MinDuration: 100, MaxDuration: 1000, StartMin: 1, StartMax: 3000,
			Attributes: map[string]string{"error": "true", "user": "bob", "region": "eu"}}, []byte{2}},
	}
	for bname, bl := range blocks {
		for _, tc := range tests {
			t.Run(bname+"/"+tc.name, func(t *testing.T) {
				var got []byte
				err := bl.Scan(ctx, predicate.MustCompile(tc.p), func(id model.TraceID, start int64) bool {
					if id[15] < 100 {
						got = append(got, id[15])
						if start != spans[id[15]-1].StartUnixNano {
							t.Errorf("start %d for trace %d", start, id[15])
						}
					}
					return true
				})
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(tc.want) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			})
		}
	}
	t.Run("stop early", func(t *testing.T) {
		n := 0
		_ = blocks["generic"].Scan(ctx, predicate.MustCompile(predicate.Predicate{Kind: -1}), func(model.TraceID, int64) bool { n++; return false })
		if n != 1 {
			t.Errorf("fn called %d times after returning false", n)
		}
	})
	if len(blocks["dedicated"].ix.dedicated) == 0 {
		t.Error("dedicated block has no dedicated columns")
	}
}

func TestCompactDeduplicates(t *testing.T) {
	ctx := context.Background()
	b := newBucket(t)
	spans := genSpans(3000, 5)
	a := slices.Clone(spans[:2000])
	c := slices.Clone(spans[1000:])
	changed := spans[1500]
	changed.Name = "different content, same IDs"
	c = append(c, changed)
	ma, err := Write(ctx, b, a, []Edge{{Parent: "x", Child: "y", Calls: 2, Errors: 1}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := Write(ctx, b, c, []Edge{{Parent: "x", Child: "y", Calls: 3}, {Parent: "y", Child: "z", Calls: 1}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	ba, _ := Open(ctx, b, ma.ID)
	bc, _ := Open(ctx, b, mc.ID)
	m, err := Compact(ctx, b, []*Block{ba, bc}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if m.SpanCount != 3001 || m.CompactionLevel != 2 {
		t.Errorf("compacted: %d spans level %d, want 3001 level 2", m.SpanCount, m.CompactionLevel)
	}
	want := []Edge{{Parent: "x", Child: "y", Calls: 5, Errors: 1}, {Parent: "y", Child: "z", Calls: 1}}
	if !slices.Equal(m.Edges, want) {
		t.Errorf("edges %v, want %v", m.Edges, want)
	}
	out, err := Open(ctx, b, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := out.Trace(ctx, spans[1500].TraceID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range got {
		if s.SpanID == spans[1500].SpanID {
			n++
		}
	}
	if n != 2 {
		t.Errorf("span with differing duplicate: %d copies, want 2", n)
	}
}

func TestListMetasIgnoresIncomplete(t *testing.T) {
	ctx := context.Background()
	b := newBucket(t)
	m, err := Write(ctx, b, genSpans(100, 1), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A crashed write: data and index, no meta.
	broken := segment.NewID(timeZero())
	for _, obj := range []string{dataName, indexName} {
		if err := b.Put(ctx, broken+"/"+obj, strings.NewReader("partial")); err != nil {
			t.Fatal(err)
		}
	}
	metas, err := ListMetas(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(metas) != 1 || metas[0].ID != m.ID {
		t.Errorf("ListMetas = %v, want only %s", metas, m.ID)
	}
	// Objects other parts keep in a bucket shared with blocks (the span
	// metrics journal, quarantine) are not blocks, complete or not.
	for _, name := range []string{"minutes/spanmetrics/20261121T1000Z.n.clsm", "quarantine/" + broken + "/meta.json"} {
		if err := b.Put(ctx, name, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	l, err := segment.List(ctx, b)
	if err != nil || len(l.Complete) != 1 || l.Complete[0] != m.ID || len(l.Incomplete) != 1 || l.Incomplete[0] != broken {
		t.Errorf("List = %+v, %v; want complete [%s], incomplete [%s]", l, err, m.ID, broken)
	}
	if _, err := Open(ctx, b, broken); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open incomplete: %v", err)
	}
	if err := segment.Delete(ctx, b, m.ID); err != nil {
		t.Fatal(err)
	}
	metas, _ = ListMetas(ctx, b)
	if len(metas) != 0 {
		t.Errorf("after Delete: %v", metas)
	}
	var left []string
	_ = b.List(ctx, m.ID+"/", func(n string) error { left = append(left, n); return nil })
	if len(left) != 0 {
		t.Errorf("objects left after Delete: %v", left)
	}
	var _ objstore.Bucket = b
}

// A Scratch handed from scan to scan, over blocks of different row-group
// sizes, gives every scan the answer it gives alone.
func TestScanWithSharedScratch(t *testing.T) {
	ctx := context.Background()
	var blocks []*Block
	for i, n := range []int{70_000, 3_000, 30_000} {
		blocks = append(blocks, writeOpen(t, newBucket(t), genSpans(n, uint64(40+i))))
	}
	type hit struct {
		id    model.TraceID
		start int64
	}
	preds := []predicate.Predicate{
		{Kind: -1, MinDuration: 50_000_000},
		{Service: "cart", Kind: -1, Attributes: map[string]string{"http.method": "POST"}},
		{Kind: -1, Attributes: map[string]string{"db.system": "redis"}},
		{Kind: -1, Attributes: map[string]string{"http.status_code": "503"}},
		{Kind: -1, StartMin: 1, StartMax: 1 << 62, Attributes: map[string]string{"app.attr3": "7"}},
		// The first columns a scan reads are by turns integers (duration,
		// kind), resource numbers and span names: each reads into a
		// column the one before left values of another kind in.
		{Operation: "GetCart", Kind: int(model.KindServer), MinDuration: 1_000_000},
		{Kind: int(model.KindClient), Attributes: map[string]string{"user.id": "u-000042"}},
		{Service: "cart", Operation: "HTTP GET", Kind: -1},
	}
	var scratch Scratch
	total := 0
	for _, p := range preds {
		pred := predicate.MustCompile(p)
		for _, bl := range blocks {
			var alone, shared []hit
			if err := bl.Scan(ctx, pred, func(id model.TraceID, s int64) bool { alone = append(alone, hit{id, s}); return true }); err != nil {
				t.Fatal(err)
			}
			if err := bl.ScanWith(ctx, pred, &scratch, func(id model.TraceID, s int64) bool { shared = append(shared, hit{id, s}); return true }); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(alone, shared) {
				t.Fatalf("%+v on a %d-span block: %d hits with a shared scratch, %d alone", p, bl.Meta().SpanCount, len(shared), len(alone))
			}
			total += len(alone)
		}
	}
	if total < 100 {
		t.Fatalf("%d hits in all: the predicates lost their matches", total)
	}
	if cap(scratch.alive) == 0 || cap(scratch.bits) == 0 || len(scratch.columns) == 0 {
		t.Fatal("the scans left no buffers in the scratch")
	}
}
