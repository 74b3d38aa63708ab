package analysis

import (
	"sort"

	"github.com/clewtrace/clew/internal/model"
)

// tree is a trace's spans linked by parent, built once per analysis. Nodes are
// indexes into the caller's slice so nothing is copied.
type tree struct {
	spans    []model.Span
	children [][]int // per span, children sorted by end time, latest first
	roots    []int   // spans without a (reachable) parent, by start time
}

// buildTree links spans to their parents. A span is a root when it has no
// parent, when its parent is not in the trace (an orphan: the parent was lost
// or not yet received), or when it is where a parent cycle is broken. With
// duplicate span IDs the first span wins as parent; the others are still
// analysed as children of their own parents.
func buildTree(spans []model.Span) *tree {
	t := &tree{spans: spans, children: make([][]int, len(spans))}
	byID := make(map[model.SpanID]int, len(spans))
	for i := range spans {
		if _, dup := byID[spans[i].SpanID]; !dup {
			byID[spans[i].SpanID] = i
		}
	}
	parent := make([]int, len(spans))
	for i := range spans {
		parent[i] = -1
		p, ok := byID[spans[i].ParentSpanID]
		if spans[i].ParentSpanID.IsZero() || !ok || p == i {
			t.roots = append(t.roots, i)
			continue
		}
		parent[i] = p
		t.children[p] = append(t.children[p], i)
	}
	// Spans in a parent cycle are reachable from no root. Break each cycle at
	// its earliest-starting member, which then becomes a root.
	reached := t.reachable()
	for {
		first := -1
		for i := range spans {
			if !reached[i] && (first < 0 || spans[i].StartUnixNano < spans[first].StartUnixNano) {
				first = i
			}
		}
		if first < 0 {
			break
		}
		p := parent[first]
		t.children[p] = removeInt(t.children[p], first)
		parent[first] = -1
		t.roots = append(t.roots, first)
		t.mark(first, reached)
	}
	for i := range t.children {
		c := t.children[i]
		sort.SliceStable(c, func(a, b int) bool { return spans[c[a]].EndUnixNano > spans[c[b]].EndUnixNano })
	}
	sort.SliceStable(t.roots, func(a, b int) bool {
		return spans[t.roots[a]].StartUnixNano < spans[t.roots[b]].StartUnixNano
	})
	return t
}

func (t *tree) reachable() []bool {
	reached := make([]bool, len(t.spans))
	for _, r := range t.roots {
		t.mark(r, reached)
	}
	return reached
}

// mark flags every span under i as reached; iterative because traces can be
// tens of thousands of spans deep in pathological cases.
func (t *tree) mark(i int, reached []bool) {
	stack := []int{i}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if reached[n] {
			continue
		}
		reached[n] = true
		stack = append(stack, t.children[n]...)
	}
}

func removeInt(s []int, v int) []int {
	for i, x := range s {
		if x == v {
			return append(s[:i], s[i+1:]...)
		}
	}
	return s
}

// interval is a half-open time range [start, end) in Unix nanoseconds.
type interval struct{ start, end int64 }

func (iv interval) empty() bool { return iv.end <= iv.start }

// clip returns iv limited to within; empty when they do not overlap.
func (iv interval) clip(within interval) interval {
	out := interval{max(iv.start, within.start), min(iv.end, within.end)}
	if out.end < out.start {
		out.end = out.start
	}
	return out
}

func spanInterval(s *model.Span) interval {
	iv := interval{s.StartUnixNano, s.EndUnixNano}
	if iv.end < iv.start { // a corrupt span; treat it as instantaneous
		iv.end = iv.start
	}
	return iv
}

// uncovered returns the parts of span i not covered by any child, children
// clipped to the span, in time order.
func (t *tree) uncovered(i int) []interval {
	own := spanInterval(&t.spans[i])
	kids := make([]interval, 0, len(t.children[i]))
	for _, c := range t.children[i] {
		if iv := spanInterval(&t.spans[c]).clip(own); !iv.empty() {
			kids = append(kids, iv)
		}
	}
	sort.Slice(kids, func(a, b int) bool { return kids[a].start < kids[b].start })
	var out []interval
	cursor := own.start
	for _, k := range kids {
		if k.start > cursor {
			out = append(out, interval{cursor, k.start})
		}
		cursor = max(cursor, k.end)
	}
	if cursor < own.end {
		out = append(out, interval{cursor, own.end})
	}
	return out
}
