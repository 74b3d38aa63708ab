package segment

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/objstore"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func meta(id string, minMin, maxMin, count, level int) Meta {
	return Meta{ID: id, MinTime: t0.Add(time.Duration(minMin) * time.Minute).UnixNano(),
		MaxTime: t0.Add(time.Duration(maxMin) * time.Minute).UnixNano(), Count: count, Level: level}
}

func TestPlanCompaction(t *testing.T) {
	opts := PlanOptions{MaxCount: 100, Blocks: 3, MaxAge: 5 * time.Minute}
	now := func(min int) PlanOptions {
		o := opts
		o.Now = t0.Add(time.Duration(min) * time.Minute).UnixNano()
		return o
	}
	tests := []struct {
		name  string
		metas []Meta
		opts  PlanOptions
		group []int
		level int
	}{
		{"too few in an open window", []Meta{meta("a", 0, 1, 10, 0), meta("b", 2, 3, 10, 0)}, now(10), nil, 0},
		{"enough in an open window", []Meta{meta("a", 0, 1, 10, 0), meta("b", 2, 3, 10, 0), meta("c", 4, 5, 10, 0), meta("d", 6, 7, 10, 0)}, now(10), []int{0, 1, 2}, 1},
		{"two once the window is over", []Meta{meta("a", 0, 1, 10, 0), meta("b", 2, 3, 10, 0)}, now(21), []int{0, 1}, 1},
		{"a straddler stays", []Meta{meta("a", 14, 16, 10, 0), meta("b", 16, 17, 10, 0)}, now(40), nil, 0},
		{"full blocks stay", []Meta{meta("a", 0, 1, 50, 0), meta("b", 2, 3, 10, 0)}, now(40), nil, 0},
		{"never above MaxCount", []Meta{meta("a", 0, 1, 45, 0), meta("b", 2, 3, 45, 0), meta("c", 4, 5, 45, 0)}, now(40), []int{0, 1}, 1},
		{"level-1 blocks merge in the 2-hour window", []Meta{meta("a", 0, 10, 10, 1), meta("b", 20, 30, 10, 1)}, now(200), []int{0, 1}, 2},
		{"other windows are separate", []Meta{meta("a", 0, 1, 10, 0), meta("b", 16, 17, 10, 0)}, now(25), nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, l := PlanCompaction(tt.metas, tt.opts)
			if !slices.Equal(g, tt.group) || l != tt.level {
				t.Fatalf("PlanCompaction = %v level %d, want %v level %d", g, l, tt.group, tt.level)
			}
		})
	}
}

func TestHiddenBlocks(t *testing.T) {
	horizon := t0.UnixNano()
	id := func(min int) string { return NewID(t0.Add(time.Duration(min) * time.Minute)) }
	in1, in2, m1, m2, old := id(1), id(2), id(3), id(4), id(-120)
	known := map[string]Meta{
		in1: {ID: in1, End: t0.Add(time.Hour).UnixNano()},
		in2: {ID: in2, End: t0.Add(time.Hour).UnixNano()},
		// Two compactions raced over the same inputs; the lower ID wins.
		m1:  {ID: m1, End: t0.Add(time.Hour).UnixNano(), Compacted: []string{in1, in2}, Created: 1},
		m2:  {ID: m2, End: t0.Add(time.Hour).UnixNano(), Compacted: []string{in1, in2}, Created: 2},
		old: {ID: old, End: t0.Add(-time.Hour).UnixNano()},
	}
	h := HiddenBlocks(known, horizon)
	if h[in1].By != m1 || h[in2].By != m1 {
		t.Errorf("inputs hidden by %q, %q; want the oldest merger %s", h[in1].By, h[in2].By, m1)
	}
	if h[m1].Hidden() {
		t.Errorf("the winning merge is hidden: %+v", h[m1])
	}
	if h[m2].By != m1 {
		t.Errorf("the losing merge is hidden by %q, want %s", h[m2].By, m1)
	}
	if !h[old].Expired || h[old].By != "" {
		t.Errorf("the expired block: %+v", h[old])
	}
}

// A block's records count as ending no later than an hour after the block
// was written, so a far-future timestamp cannot defeat retention.
func TestRetentionEndClampsFutureTimes(t *testing.T) {
	m := Meta{ID: NewID(t0), End: t0.AddDate(158, 0, 0).UnixNano()}
	if got, want := RetentionEnd(m), t0.Add(FutureSkew).UnixNano(); got != want {
		t.Fatalf("RetentionEnd = %d, want %d", got, want)
	}
	m.End = t0.Add(time.Minute).UnixNano()
	if got := RetentionEnd(m); got != m.End {
		t.Fatalf("RetentionEnd = %d, want End %d", got, m.End)
	}
}

func TestIDs(t *testing.T) {
	a, b := NewID(t0), NewID(t0.Add(time.Millisecond))
	if !(a < b) || !ValidID(a) {
		t.Fatalf("IDs %s, %s: want valid and sorted by time", a, b)
	}
	if got, ok := IDTime(a); !ok || !got.Equal(t0) {
		t.Fatalf("IDTime(%s) = %v, %v", a, got, ok)
	}
	for _, bad := range []string{"", "logs", "quarantine", strings.Repeat("Z", 26), strings.Repeat("a", 26), "../" + a[3:]} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

// List sees blocks only: other stores' prefixes and quarantine/ are not
// blocks, and a block without meta.json is incomplete.
func TestList(t *testing.T) {
	ctx := context.Background()
	b := objstore.NewMemory()
	done, partial := NewID(t0), NewID(t0.Add(time.Second))
	for _, n := range []string{done + "/data", done + "/meta.json", partial + "/data",
		"quarantine/" + done + "/meta.json", "logs/" + done + "/meta.json", "lease"} {
		if err := b.Put(ctx, n, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	l, err := List(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l.Complete, []string{done}) || !slices.Equal(l.Incomplete, []string{partial}) {
		t.Fatalf("List = %+v", l)
	}
	if err := Delete(ctx, b, done); err != nil {
		t.Fatal(err)
	}
	if err := Delete(ctx, b, done); err != nil {
		t.Fatalf("deleting a deleted block: %v", err)
	}
	if l, _ := List(ctx, b); len(l.Complete) != 0 {
		t.Fatalf("after Delete: %+v", l)
	}
	if _, err := b.Get(ctx, "logs/"+done+"/meta.json"); err != nil {
		t.Fatalf("Delete reached outside the block: %v", err)
	}
}
