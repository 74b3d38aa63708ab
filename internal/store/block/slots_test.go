package block

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/predicate"
)

// From v8 a block has 16 dedicated attribute columns: spans with 16
// common keys keep them all out of the generic list, and a key beyond
// them still works through it.
func TestSixteenDedicatedSlots(t *testing.T) {
	ctx := context.Background()
	res := &model.Resource{ServiceName: "web"}
	var spans []model.Span
	for i := range 200 {
		s := model.Span{TraceID: tid(byte(i)), SpanID: sid(byte(i)), Resource: res, Scope: &model.Scope{},
			Name: "GET", Kind: model.KindServer, StartUnixNano: int64(1000 + i), EndUnixNano: int64(2000 + i)}
		for k := range 16 {
			s.Attributes = append(s.Attributes, model.Attribute{Key: fmt.Sprintf("k%02d", k), Value: model.StringValue(fmt.Sprintf("v%d-%d", k, i))})
		}
		if i%50 == 7 { // in 2 % of spans: below the bar for a column of its own
			s.Attributes = append(s.Attributes, model.Attribute{Key: "rare", Value: model.IntValue(int64(i))})
		}
		spans = append(spans, s)
	}
	bl := writeOpen(t, newBucket(t), spans)
	if len(bl.ix.dedicated) != 16 || slices.Contains(bl.ix.dedicated, "rare") {
		t.Fatalf("dedicated keys %v, want the 16 common ones", bl.ix.dedicated)
	}
	for _, i := range []int{0, 7, 107, 199} {
		got, err := bl.Trace(ctx, tid(byte(i)))
		if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0].Attributes, spans[i].Attributes) {
			t.Fatalf("trace %d: err %v, attributes\n got %v\nwant %v", i, err, got, spans[i].Attributes)
		}
	}
	scan := func(key, value string) []byte {
		var ids []byte
		err := bl.Scan(ctx, predicate.MustCompile(predicate.Predicate{Kind: -1, Attributes: map[string]string{key: value}}), func(id model.TraceID, _ int64) bool {
			ids = append(ids, id[15])
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	for _, c := range []struct {
		key, value string
		want       []byte
	}{
		{"k15", "v15-42", []byte{42}}, // the last slot
		{"k10", "v10-199", []byte{199}},
		{"k15", "v14-42", nil},
		{"rare", "107", []byte{107}}, // generic
		{"rare", "108", nil},
	} {
		if got := scan(c.key, c.value); !slices.Equal(got, c.want) {
			t.Errorf("%s=%s: traces %v, want %v", c.key, c.value, got, c.want)
		}
	}

	// A v7 index holds at most 10 dedicated keys: more is damage.
	ix := *bl.ix
	ix.version = FormatV7
	// v7 filters are blocked ones (their content does not matter here).
	empty := blockedFilter{k: 1, data: make([]byte, filterBlockBytes)}
	ix.values, ix.traceFilter = memFilter{blocked: empty}, memFilter{blocked: empty}
	data, err := encodeIndex(&ix)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeIndex(data); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("v7 index with 16 dedicated keys: err %v, want ErrCorrupt", err)
	}
	ix.dedicated = ix.dedicated[:10]
	if data, err = encodeIndex(&ix); err != nil {
		t.Fatal(err)
	}
	if _, err := decodeIndex(data); err != nil {
		t.Fatalf("v7 index with 10 dedicated keys: %v", err)
	}
}
