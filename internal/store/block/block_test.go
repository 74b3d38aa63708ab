package block

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
)

func newBucket(t testing.TB) objstore.Bucket {
	b, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeOpen(t testing.TB, b objstore.Bucket, spans []model.Span) *Block {
	t.Helper()
	ctx := context.Background()
	m, err := Write(ctx, b, spans, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	bl, err := Open(ctx, b, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	return bl
}

func tid(b byte) model.TraceID { return model.TraceID{15: b} }
func sid(b byte) model.SpanID  { return model.SpanID{7: b} }

func TestRoundTripLossless(t *testing.T) {
	res := &model.Resource{ServiceName: "svc", SchemaURL: "https://schema/1", DroppedAttributesCount: 3,
		Attributes: []model.Attribute{{Key: "service.name", Value: model.StringValue("svc")}, {Key: "bin", Value: model.Value{Type: model.ValueBytes, Str: "\xff\x00"}}}}
	res2 := &model.Resource{ServiceName: ""} // unknown service
	scope := &model.Scope{Name: "lib", Version: "1.2", SchemaURL: "s", DroppedAttributesCount: 1,
		Attributes: []model.Attribute{{Key: "k", Value: model.BoolValue(true)}}}
	allValues := []model.Attribute{
		{Key: "s", Value: model.StringValue("hello")},
		{Key: "empty-string", Value: model.StringValue("")},
		{Key: "b", Value: model.BoolValue(false)},
		{Key: "t", Value: model.BoolValue(true)},
		{Key: "i", Value: model.IntValue(math.MinInt64)},
		{Key: "f", Value: model.DoubleValue(-0.1)},
		{Key: "inf", Value: model.DoubleValue(math.Inf(-1))},
		{Key: "bytes", Value: model.Value{Type: model.ValueBytes, Str: "\x00\x01\xfe"}},
		{Key: "arr", Value: model.Value{Type: model.ValueArray, Str: `[1,"a"]`}},
		{Key: "map", Value: model.Value{Type: model.ValueMap, Str: `{"a":1}`}},
		{Key: "none", Value: model.Value{}},
		{Key: "", Value: model.StringValue("empty key")},
		{Key: "s", Value: model.StringValue("duplicate key kept")},
	}
	tests := []struct {
		name string
		span model.Span
	}{
		{"minimal root", model.Span{TraceID: tid(1), SpanID: sid(1), Resource: res, Scope: scope}},
		{"all fields", model.Span{
			TraceID: tid(2), SpanID: sid(2), ParentSpanID: sid(99), TraceState: "a=b,c=d", Flags: 0x301,
			Name: "GET /x", Kind: model.KindServer, StartUnixNano: 1e18, EndUnixNano: 1e18 + 12345,
			StatusCode: model.StatusError, StatusMessage: "boom",
			Attributes: allValues, DroppedAttributesCount: 7,
			Events: []model.Event{
				{TimeUnixNano: 1e18 + 5, Name: "exception", Attributes: allValues[:3], DroppedAttributesCount: 2},
				{TimeUnixNano: 5, Name: "before start"},
			},
			DroppedEventsCount: 4,
			Links:              []model.Link{{TraceID: tid(9), SpanID: sid(9), TraceState: "x=y", Flags: 1, Attributes: allValues[4:6], DroppedAttributesCount: 1}, {}},
			DroppedLinksCount:  math.MaxUint32,
			Resource:           res, Scope: scope,
		}},
		{"end before start", model.Span{TraceID: tid(3), SpanID: sid(3), StartUnixNano: 100, EndUnixNano: 50, Resource: res2, Scope: scope}},
		{"extreme times", model.Span{TraceID: tid(4), SpanID: sid(4), StartUnixNano: math.MinInt64, EndUnixNano: math.MaxInt64, Resource: res, Scope: scope}},
		{"zero trace ID", model.Span{SpanID: sid(5), Resource: res, Scope: scope}},
		{"max kind status", model.Span{TraceID: tid(6), SpanID: sid(6), Kind: model.KindConsumer, StatusCode: model.StatusOK, Resource: res, Scope: scope}},
	}
	// A trace (in stored order: start, then span ID) whose parent references resolve inside the block, one
	// pointing at a duplicate span ID, and a self-parent.
	family := []model.Span{
		{TraceID: tid(7), SpanID: sid(1), StartUnixNano: 10, EndUnixNano: 20, Resource: res, Scope: scope},
		{TraceID: tid(7), SpanID: sid(2), ParentSpanID: sid(1), StartUnixNano: 11, EndUnixNano: 19, Resource: res, Scope: scope},
		{TraceID: tid(7), SpanID: sid(2), ParentSpanID: sid(2), StartUnixNano: 12, EndUnixNano: 14, Resource: res, Scope: scope},
		{TraceID: tid(7), SpanID: sid(3), ParentSpanID: sid(3), StartUnixNano: 12, EndUnixNano: 13, Resource: res2, Scope: scope},
	}
	var spans []model.Span
	for _, tc := range tests {
		spans = append(spans, tc.span)
	}
	spans = append(spans, family...)
	want := slices.Clone(spans)
	bl := writeOpen(t, newBucket(t), spans)
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := bl.Trace(ctx, tc.span.TraceID)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], tc.span) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, tc.span)
			}
		})
	}
	t.Run("family", func(t *testing.T) {
		got, err := bl.Trace(ctx, tid(7))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, family) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, family)
		}
		if got[0].Resource != got[1].Resource || got[0].Scope != got[2].Scope {
			t.Error("spans that shared a resource/scope do not share it after reading")
		}
	})
	t.Run("all", func(t *testing.T) {
		got, err := bl.All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("All: %d spans, want %d", len(got), len(want))
		}
	})
	t.Run("nan", func(t *testing.T) {
		s := model.Span{TraceID: tid(8), SpanID: sid(8), Resource: res, Scope: scope,
			Attributes: []model.Attribute{{Key: "nan", Value: model.DoubleValue(math.NaN())}}}
		bl := writeOpen(t, newBucket(t), []model.Span{s})
		got, err := bl.Trace(ctx, tid(8))
		if err != nil || len(got) != 1 || !math.IsNaN(got[0].Attributes[0].Value.Float) {
			t.Errorf("NaN round trip: %+v %v", got, err)
		}
	})
}

func TestTraceByID(t *testing.T) {
	ctx := context.Background()
	spans := genSpans(20000, 1)
	byTrace := map[model.TraceID][]model.Span{}
	for _, s := range spans {
		byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
	}
	bl := writeOpen(t, newBucket(t), slices.Clone(spans))
	if bl.Meta().TraceCount != len(byTrace) || bl.Meta().SpanCount != len(spans) {
		t.Errorf("meta counts %d/%d, want %d/%d", bl.Meta().TraceCount, bl.Meta().SpanCount, len(byTrace), len(spans))
	}
	for id, want := range byTrace {
		if !bl.MayContain(id) {
			t.Fatalf("bloom false negative for %s", id)
		}
		got, err := bl.Trace(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("trace %s: %d spans, want %d", id, len(got), len(want))
		}
		for _, g := range got {
			i := slices.IndexFunc(want, func(w model.Span) bool { return w.SpanID == g.SpanID })
			if i < 0 || !reflect.DeepEqual(g, want[i]) {
				t.Fatalf("trace %s: span %s differs:\n got %+v\nwant %+v", id, g.SpanID, g, want[max(i, 0)])
			}
		}
	}
	misses := []model.TraceID{{}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {1, 2, 3}}
	for _, id := range misses {
		if _, ok := byTrace[id]; ok {
			continue
		}
		got, err := bl.Trace(ctx, id)
		if err != nil || got != nil {
			t.Errorf("Trace(%s) = %d spans, %v; want nil", id, len(got), err)
		}
	}
}

func TestBloomNoFalseNegatives(t *testing.T) {
	spans := genSpans(50000, 2)
	bl := writeOpen(t, newBucket(t), slices.Clone(spans))
	for _, s := range spans {
		if !bl.MayContain(s.TraceID) {
			t.Fatalf("false negative for %s", s.TraceID)
		}
	}
	if len(bl.ix.traceFilter.fuse.Fingerprints) == 0 {
		t.Fatal("the trace filter is not a fuse filter")
	}
	fp := 0
	for i := range 200_000 {
		id := model.TraceID{0: 0xAB, 1: byte(i), 2: byte(i >> 8), 3: byte(i >> 16), 15: 0xCD}
		if bl.MayContain(id) {
			fp++
		}
	}
	// The fuse filter (v10): ~0.0015 %, 3 expected here (v7–v9's blocked
	// filter: ~0.1 %, before 2026-12-01 ~0.45 %; the Bloom filter of
	// earlier versions: ~1 %).
	t.Logf("trace filter: %d false positives in 200,000", fp)
	if fp > 20 {
		t.Errorf("false positive rate %d/200000, want about 0.0015%%", fp)
	}
}

// TestSparseExtraAcrossPages: when few spans have an extra value (here one
// span in 400 has a non-default flag), whole pages of the extra column are
// null; values after such a page must still belong to their rows.
func TestSparseExtraAcrossPages(t *testing.T) {
	ctx := context.Background()
	spans := genSpans(60000, 21)
	for i := range spans {
		spans[i].Flags, spans[i].StatusMessage, spans[i].Events = 257, "", nil
		if i%400 == 0 {
			spans[i].Flags = 1
			spans[i].TraceState = fmt.Sprintf("k=%d", i)
		}
	}
	bl := writeOpen(t, newBucket(t), slices.Clone(spans))
	defer bl.Close()
	byID := map[[24]byte]*model.Span{}
	for i := range spans {
		var k [24]byte
		copy(k[:], spans[i].TraceID[:])
		copy(k[16:], spans[i].SpanID[:])
		byID[k] = &spans[i]
	}
	all, err := bl.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range all {
		var k [24]byte
		copy(k[:], g.TraceID[:])
		copy(k[16:], g.SpanID[:])
		if w := byID[k]; w == nil || !reflect.DeepEqual(g, *w) {
			t.Fatalf("span %s differs", g.SpanID)
		}
	}
	for i := 0; i < len(spans); i += 400 {
		got, err := bl.Trace(ctx, spans[i].TraceID)
		if err != nil || len(got) == 0 {
			t.Fatalf("trace %s: %d spans, err %v", spans[i].TraceID, len(got), err)
		}
	}
}
