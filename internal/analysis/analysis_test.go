package analysis

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/model"
)

const ms = int64(time.Millisecond)

// sp builds a span with ID id, parent parent (0: root) and times in ms.
func sp(id, parent uint64, startMs, endMs int64) model.Span {
	return model.Span{
		SpanID:        sid(id),
		ParentSpanID:  sid(parent),
		StartUnixNano: startMs * ms,
		EndUnixNano:   endMs * ms,
		Name:          "op",
	}
}

func sid(n uint64) model.SpanID {
	var s model.SpanID
	for i := 7; i >= 0; i-- {
		s[i] = byte(n)
		n >>= 8
	}
	return s
}

func seg(id uint64, startMs, endMs int64) Segment {
	return Segment{SpanID: sid(id), StartUnixNano: startMs * ms, EndUnixNano: endMs * ms}
}

func gap(id uint64, startMs, endMs int64) Gap {
	return Gap{SpanID: sid(id), StartUnixNano: startMs * ms, EndUnixNano: endMs * ms}
}

func TestCriticalPath(t *testing.T) {
	tests := []struct {
		name  string
		spans []model.Span
		want  []Segment
	}{
		{
			name:  "single span",
			spans: []model.Span{sp(1, 0, 0, 100)},
			want:  []Segment{seg(1, 0, 100)},
		},
		{
			name:  "sequential children",
			spans: []model.Span{sp(1, 0, 0, 100), sp(2, 1, 10, 40), sp(3, 1, 50, 90)},
			want:  []Segment{seg(1, 0, 10), seg(2, 10, 40), seg(1, 40, 50), seg(3, 50, 90), seg(1, 90, 100)},
		},
		{
			name:  "back-to-back children hand over directly",
			spans: []model.Span{sp(1, 0, 0, 100), sp(2, 1, 0, 50), sp(3, 1, 50, 100)},
			want:  []Segment{seg(2, 0, 50), seg(3, 50, 100)},
		},
		{
			name: "overlapping children: the one finishing last wins, the parallel one is off the path",
			spans: []model.Span{
				sp(1, 0, 0, 100), sp(2, 1, 10, 80), sp(3, 1, 20, 60),
			},
			want: []Segment{seg(1, 0, 10), seg(2, 10, 80), seg(1, 80, 100)},
		},
		{
			name: "after the last child, the latest child finishing before its start",
			spans: []model.Span{
				sp(1, 0, 0, 100), sp(2, 1, 50, 90), sp(3, 1, 10, 60), sp(4, 1, 5, 20),
			},
			want: []Segment{seg(1, 0, 5), seg(4, 5, 20), seg(1, 20, 50), seg(2, 50, 90), seg(1, 90, 100)},
		},
		{
			name: "nested chain",
			spans: []model.Span{
				sp(1, 0, 0, 100), sp(2, 1, 10, 90), sp(3, 2, 20, 70), sp(4, 3, 30, 60),
			},
			want: []Segment{seg(1, 0, 10), seg(2, 10, 20), seg(3, 20, 30), seg(4, 30, 60), seg(3, 60, 70), seg(2, 70, 90), seg(1, 90, 100)},
		},
		{
			name: "async child outliving its parent is clipped to the parent's end",
			spans: []model.Span{
				sp(1, 0, 0, 100), sp(2, 1, 50, 300), sp(3, 2, 200, 300),
			},
			want: []Segment{seg(1, 0, 50), seg(2, 50, 100)},
		},
		{
			name: "clock skew: child starting before its parent is clipped to the parent's start",
			spans: []model.Span{
				sp(1, 0, 100, 200), sp(2, 1, 50, 150),
			},
			want: []Segment{seg(2, 100, 150), seg(1, 150, 200)},
		},
		{
			name: "clock skew: child wholly before its parent is ignored",
			spans: []model.Span{
				sp(1, 0, 100, 200), sp(2, 1, 0, 50), sp(3, 2, 10, 20),
			},
			want: []Segment{seg(1, 100, 200)},
		},
		{
			name: "orphan with a missing parent is a root of its own",
			spans: []model.Span{
				sp(1, 0, 0, 100), sp(2, 1, 10, 50), sp(3, 99, 120, 150),
			},
			want: []Segment{seg(1, 0, 10), seg(2, 10, 50), seg(1, 50, 100), seg(3, 120, 150)},
		},
		{
			name: "only orphans",
			spans: []model.Span{
				sp(2, 98, 0, 40), sp(3, 99, 50, 90),
			},
			want: []Segment{seg(2, 0, 40), seg(3, 50, 90)},
		},
		{
			name:  "zero-length child does not loop",
			spans: []model.Span{sp(1, 0, 0, 100), sp(2, 1, 50, 50), sp(3, 1, 50, 50)},
			want:  []Segment{seg(1, 0, 100)},
		},
		{
			name:  "no spans",
			spans: nil,
			want:  nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Input order must not matter.
			for _, spans := range [][]model.Span{tt.spans, reversed(tt.spans)} {
				got := CriticalPath(spans)
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("CriticalPath =\n  %v\nwant\n  %v", fmtSegs(got), fmtSegs(tt.want))
				}
			}
		})
	}
}

func TestCriticalPathSurvivesBrokenTraces(t *testing.T) {
	cases := map[string][]model.Span{
		"parent cycle":         {sp(1, 2, 0, 100), sp(2, 1, 10, 50)},
		"self parent":          {sp(1, 1, 0, 100)},
		"duplicate span IDs":   {sp(1, 0, 0, 100), sp(2, 1, 10, 50), sp(2, 1, 20, 90)},
		"end before start":     {sp(1, 0, 100, 0), sp(2, 1, 10, 50)},
		"cycle below a root":   {sp(1, 0, 0, 100), sp(2, 3, 10, 50), sp(3, 2, 20, 40)},
		"duplicate root spans": {sp(1, 0, 0, 100), sp(1, 0, 0, 100)},
	}
	for name, spans := range cases {
		t.Run(name, func(t *testing.T) {
			r := Analyze(spans, DefaultOptions())
			checkPathInvariants(t, spans, r.CriticalPath)
		})
	}
}

// TestCriticalPathRandom checks invariants on random trees: segments are in
// order, do not overlap, lie inside their span, and (one root) cover the root
// exactly, since every instant of the root is attributed to some span.
func TestCriticalPathRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 300; n++ {
		size := 1 + rng.IntN(40)
		spans := []model.Span{sp(1, 0, 0, 1000)}
		for i := 2; i <= size; i++ {
			p := spans[rng.IntN(len(spans))]
			ps, pe := p.StartUnixNano/ms, p.EndUnixNano/ms
			// Mostly inside the parent, sometimes skewed or async.
			s := ps + rng.Int64N(pe-ps+1) - rng.Int64N(20)
			e := s + rng.Int64N(pe-ps+50)
			parent := uint64(0)
			for k := range 8 {
				parent = parent<<8 | uint64(p.SpanID[k])
			}
			spans = append(spans, sp(uint64(i), parent, s, e))
		}
		path := CriticalPath(spans)
		checkPathInvariants(t, spans, path)
		var total int64
		for _, s := range path {
			total += s.EndUnixNano - s.StartUnixNano
		}
		if total != 1000*ms {
			t.Fatalf("trace %d: path covers %v of a 1s root: %v", n, time.Duration(total), fmtSegs(path))
		}
	}
}

func checkPathInvariants(t *testing.T, spans []model.Span, path []Segment) {
	t.Helper()
	byID := map[model.SpanID][]model.Span{}
	for _, s := range spans {
		byID[s.SpanID] = append(byID[s.SpanID], s)
	}
	for i, s := range path {
		if s.EndUnixNano <= s.StartUnixNano {
			t.Fatalf("segment %d empty or inverted: %v", i, fmtSegs(path))
		}
		if i > 0 && s.StartUnixNano < path[i-1].EndUnixNano {
			t.Fatalf("segments %d and %d overlap or are out of order: %v", i-1, i, fmtSegs(path))
		}
		inside := false
		for _, sp := range byID[s.SpanID] {
			if s.StartUnixNano >= sp.StartUnixNano && s.EndUnixNano <= sp.EndUnixNano {
				inside = true
			}
		}
		if !inside {
			t.Fatalf("segment %d lies outside its span: %v", i, fmtSegs(path))
		}
	}
}

func TestGaps(t *testing.T) {
	tests := []struct {
		name  string
		spans []model.Span
		opt   Options
		want  []Gap
	}{
		{
			name: "browser root whose first child starts 1.4 s late",
			spans: []model.Span{
				sp(1, 0, 0, 2000), sp(2, 1, 1400, 1900), sp(3, 2, 1450, 1850),
			},
			opt: DefaultOptions(),
			// 1900..2000 is 5% of the root: below the 10% threshold.
			// Inside span 2, 1400..1450 and 1850..1900 are 10% each, 50 ms: reported.
			want: []Gap{gap(1, 0, 1400), gap(2, 1400, 1450), gap(2, 1850, 1900)},
		},
		{
			name:  "sequential children leave gaps between and around them",
			spans: []model.Span{sp(1, 0, 0, 100), sp(2, 1, 10, 40), sp(3, 1, 50, 90)},
			opt:   DefaultOptions(),
			want:  []Gap{gap(1, 0, 10), gap(1, 40, 50), gap(1, 90, 100)},
		},
		{
			name:  "overlapping children cover each other",
			spans: []model.Span{sp(1, 0, 0, 100), sp(2, 1, 0, 60), sp(3, 1, 50, 100)},
			opt:   DefaultOptions(),
			want:  nil,
		},
		{
			name:  "absolute threshold",
			spans: []model.Span{sp(1, 0, 0, 100), sp(2, 1, 0, 90)},
			opt:   Options{GapMinFraction: 0.01, GapMinDuration: 20 * time.Millisecond},
			want:  nil,
		},
		{
			name:  "relative threshold",
			spans: []model.Span{sp(1, 0, 0, 100), sp(2, 1, 0, 90)},
			opt:   Options{GapMinFraction: 0.2, GapMinDuration: time.Millisecond},
			want:  nil,
		},
		{
			name:  "leaf spans have no gaps",
			spans: []model.Span{sp(1, 0, 0, 100)},
			opt:   DefaultOptions(),
			want:  nil,
		},
		{
			name: "async and skewed children count only inside the parent",
			spans: []model.Span{
				sp(1, 0, 100, 200), sp(2, 1, 50, 120), sp(3, 1, 180, 400),
			},
			opt:  DefaultOptions(),
			want: []Gap{gap(1, 120, 180)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Gaps(tt.spans, tt.opt)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Gaps = %v, want %v", got, tt.want)
			}
		})
	}
	if d := gap(1, 0, 1400).Duration(); d != 1400*time.Millisecond {
		t.Errorf("Gap.Duration = %v", d)
	}
}

func TestSelfTimes(t *testing.T) {
	spans := []model.Span{
		sp(1, 0, 0, 100),
		sp(2, 1, 10, 40), sp(3, 1, 30, 60), // overlap: union 10..60
		sp(4, 1, 90, 150), // async: only 90..100 counts against the parent
		sp(5, 99, 0, 7),   // orphan leaf
	}
	got := SelfTimes(spans)
	want := map[model.SpanID]time.Duration{
		sid(1): 40 * time.Millisecond,
		sid(2): 30 * time.Millisecond,
		sid(3): 30 * time.Millisecond,
		sid(4): 60 * time.Millisecond,
		sid(5): 7 * time.Millisecond,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SelfTimes = %v, want %v", got, want)
	}
}

func TestAnalyzeDoesNotModifySpans(t *testing.T) {
	spans := []model.Span{sp(3, 1, 50, 90), sp(1, 0, 0, 100), sp(2, 1, 10, 40)}
	before := append([]model.Span(nil), spans...)
	Analyze(spans, DefaultOptions())
	if !reflect.DeepEqual(spans, before) {
		t.Error("Analyze reordered or changed its input")
	}
}

// TestDeepTrace guards against recursion: a 100,000-deep chain must work.
func TestDeepTrace(t *testing.T) {
	const n = 100_000
	spans := make([]model.Span, n)
	for i := range spans {
		spans[i] = sp(uint64(i+1), uint64(i), int64(i), int64(2*n-i))
	}
	r := Analyze(spans, DefaultOptions())
	if len(r.CriticalPath) != 2*n-1 {
		t.Errorf("deep chain: %d segments, want %d", len(r.CriticalPath), 2*n-1)
	}
}

func BenchmarkAnalyze10k(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	spans := []model.Span{sp(1, 0, 0, 100_000)}
	for i := 2; i <= 10_000; i++ {
		pi := rng.IntN(len(spans))
		ps, pe := spans[pi].StartUnixNano/ms, spans[pi].EndUnixNano/ms
		s := ps + rng.Int64N(pe-ps+1)
		spans = append(spans, sp(uint64(i), uint64(pi+1), s, s+rng.Int64N(pe-s+1)))
	}
	b.ResetTimer()
	for b.Loop() {
		Analyze(spans, DefaultOptions())
	}
}

func reversed(s []model.Span) []model.Span {
	out := make([]model.Span, len(s))
	for i := range s {
		out[len(s)-1-i] = s[i]
	}
	return out
}

func fmtSegs(segs []Segment) []string {
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = time.Duration(s.StartUnixNano).String() + ".." + time.Duration(s.EndUnixNano).String() + "@" + s.SpanID.String()[14:]
	}
	return out
}
