package analysis

import (
	"slices"
	"sort"
	"time"

	"github.com/clewtrace/clew/internal/model"
)

// Options tunes gap detection. The zero value is not useful; start from
// DefaultOptions.
type Options struct {
	// A gap is reported only when it is at least GapMinFraction of its span's
	// duration and at least GapMinDuration long: short pauses between calls
	// are normal in-process work, not missing instrumentation.
	GapMinFraction float64
	GapMinDuration time.Duration
}

// DefaultOptions reports gaps of at least 10% of the span and 1 ms.
func DefaultOptions() Options {
	return Options{GapMinFraction: 0.10, GapMinDuration: time.Millisecond}
}

// Segment is a stretch of time during which SpanID was on the critical path.
type Segment struct {
	SpanID        model.SpanID
	StartUnixNano int64
	EndUnixNano   int64
}

// Gap is an interval inside SpanID that none of its children covers.
type Gap struct {
	SpanID        model.SpanID
	StartUnixNano int64
	EndUnixNano   int64
}

// Duration is the length of the gap.
func (g Gap) Duration() time.Duration { return time.Duration(g.EndUnixNano - g.StartUnixNano) }

// Result is everything Analyze finds in one trace.
type Result struct {
	CriticalPath []Segment                      // in time order, non-overlapping
	Gaps         []Gap                          // in time order
	SelfTime     map[model.SpanID]time.Duration // span duration minus time covered by its children
}

// Analyze computes the critical path, the gaps and the self times of one
// trace's spans (in any order).
func Analyze(spans []model.Span, opt Options) Result {
	t := buildTree(spans)
	return Result{
		CriticalPath: t.criticalPath(),
		Gaps:         t.gaps(opt),
		SelfTime:     t.selfTimes(),
	}
}

// CriticalPath returns the segments of the spans that determined the trace's
// end-to-end duration, in time order. It uses Jaeger UI's algorithm: start at
// the root's end; repeatedly descend into the child that finished last before
// the current point, and when a span has no such child, the span itself was
// busy back to its start and control returns to its parent at that start.
//
// Children are first clipped to their parent, so an async child that
// outlives its parent, or a child whose clock is skewed outside it, only
// counts for the time it overlaps the parent; a child wholly outside its
// parent is ignored. Several roots (orphans whose parent is missing) are
// treated as children of one virtual root covering all of them; time no root
// covers is on no span's path and is left out.
func CriticalPath(spans []model.Span) []Segment { return buildTree(spans).criticalPath() }

// Gaps returns, for every span with children, the intervals no child covers
// that pass opt's thresholds, in time order. A root whose first child starts
// 1.4 s after it (say a browser span waiting on something uninstrumented)
// yields a 1.4 s gap at its start.
func Gaps(spans []model.Span, opt Options) []Gap { return buildTree(spans).gaps(opt) }

// SelfTimes returns each span's duration minus the union of its children's
// intervals (clipped to the span). With duplicate span IDs the last wins.
func SelfTimes(spans []model.Span) map[model.SpanID]time.Duration {
	return buildTree(spans).selfTimes()
}

const virtualRoot = -1

func (t *tree) criticalPath() []Segment {
	if len(t.spans) == 0 {
		return nil
	}
	// Clip every span to its (clipped) parent, top-down.
	clipped := make([]interval, len(t.spans))
	var all interval
	stack := make([]int, 0, len(t.roots))
	for k, r := range t.roots {
		clipped[r] = spanInterval(&t.spans[r])
		if k == 0 {
			all = clipped[r]
		}
		all = interval{min(all.start, clipped[r].start), max(all.end, clipped[r].end)}
		stack = append(stack, r)
	}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range t.children[n] {
			clipped[c] = spanInterval(&t.spans[c]).clip(clipped[n])
			stack = append(stack, c)
		}
	}
	kids := func(n int) []int {
		src := t.roots
		if n != virtualRoot {
			src = t.children[n]
		}
		out := make([]int, 0, len(src))
		for _, c := range src {
			if !clipped[c].empty() {
				out = append(out, c)
			}
		}
		sort.SliceStable(out, func(a, b int) bool { return clipped[out[a]].end > clipped[out[b]].end })
		return out
	}
	ivOf := func(n int) interval {
		if n == virtualRoot {
			return all
		}
		return clipped[n]
	}

	// Walk backwards in time. Each frame remembers which of its children
	// (latest-finishing first) are still candidates, so every span is
	// entered at most once and zero-length children cannot loop.
	type frame struct {
		node int
		kids []int
		next int
	}
	var path []Segment
	emit := func(n int, start, end int64) {
		if n != virtualRoot && start < end {
			path = append(path, Segment{SpanID: t.spans[n].SpanID, StartUnixNano: start, EndUnixNano: end})
		}
	}
	frames := []frame{{node: virtualRoot, kids: kids(virtualRoot)}}
	bound := all.end
	for len(frames) > 0 {
		f := &frames[len(frames)-1]
		picked := -1
		for f.next < len(f.kids) {
			c := f.kids[f.next]
			f.next++
			if clipped[c].end <= bound {
				picked = c
				break
			}
		}
		if picked >= 0 {
			emit(f.node, clipped[picked].end, bound)
			bound = clipped[picked].end
			frames = append(frames, frame{node: picked, kids: kids(picked)})
			continue
		}
		start := ivOf(f.node).start
		emit(f.node, start, bound)
		bound = min(bound, start)
		frames = frames[:len(frames)-1]
	}
	slices.Reverse(path)
	return path
}

func (t *tree) gaps(opt Options) []Gap {
	var out []Gap
	for i := range t.spans {
		if len(t.children[i]) == 0 {
			continue // a leaf's own time is its work, not a gap
		}
		dur := spanInterval(&t.spans[i])
		total := dur.end - dur.start
		for _, iv := range t.uncovered(i) {
			d := iv.end - iv.start
			if d < int64(opt.GapMinDuration) || float64(d) < opt.GapMinFraction*float64(total) {
				continue
			}
			out = append(out, Gap{SpanID: t.spans[i].SpanID, StartUnixNano: iv.start, EndUnixNano: iv.end})
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].StartUnixNano < out[b].StartUnixNano })
	return out
}

func (t *tree) selfTimes() map[model.SpanID]time.Duration {
	out := make(map[model.SpanID]time.Duration, len(t.spans))
	for i := range t.spans {
		var self int64
		for _, iv := range t.uncovered(i) {
			self += iv.end - iv.start
		}
		out[t.spans[i].SpanID] = time.Duration(self)
	}
	return out
}
