package store

import (
	"sort"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/store/block"
)

// edgeTracker derives service dependencies from parent/child pairs as spans
// arrive, in whatever order: a child whose parent has not arrived yet waits
// in pending until it does. It only sees the spans of one head, so a pair
// split across two heads is not counted (rare: heads live for minutes).
type edgeTracker struct {
	services map[model.SpanID]string        // span -> its service
	pending  map[model.SpanID][]pendingEdge // parent span -> children waiting for it
	counts   map[[2]string]*block.Edge
}

type pendingEdge struct {
	service string
	err     bool
}

func newEdgeTracker() edgeTracker {
	return edgeTracker{
		services: map[model.SpanID]string{},
		pending:  map[model.SpanID][]pendingEdge{},
		counts:   map[[2]string]*block.Edge{},
	}
}

func (t *edgeTracker) add(s *model.Span) {
	svc := s.Service()
	t.services[s.SpanID] = svc
	if !s.ParentSpanID.IsZero() {
		if parent, ok := t.services[s.ParentSpanID]; ok {
			t.count(parent, svc, s.IsError())
		} else {
			t.pending[s.ParentSpanID] = append(t.pending[s.ParentSpanID], pendingEdge{svc, s.IsError()})
		}
	}
	if waiting, ok := t.pending[s.SpanID]; ok {
		for _, c := range waiting {
			t.count(svc, c.service, c.err)
		}
		delete(t.pending, s.SpanID)
	}
}

func (t *edgeTracker) count(parent, child string, failed bool) {
	if parent == child {
		return
	}
	k := [2]string{parent, child}
	e := t.counts[k]
	if e == nil {
		e = &block.Edge{Parent: parent, Child: child}
		t.counts[k] = e
	}
	e.Calls++
	if failed {
		e.Errors++
	}
}

func (t *edgeTracker) list() []block.Edge {
	out := make([]block.Edge, 0, len(t.counts))
	for _, e := range t.counts {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Parent != out[j].Parent {
			return out[i].Parent < out[j].Parent
		}
		return out[i].Child < out[j].Child
	})
	return out
}

// windowEdges counts the service edges of spans whose start lies in
// [lo, hi], looking their parents up among all of spans (a parent may
// start before the window). Same rules as edgeTracker: a pair only counts
// if both spans are in spans, and calls within one service do not count.
func windowEdges(spans []model.Span, lo, hi int64) []block.Edge {
	services := make(map[model.SpanID]string, len(spans))
	for i := range spans {
		services[spans[i].SpanID] = spans[i].Service()
	}
	t := newEdgeTracker()
	for i := range spans {
		s := &spans[i]
		if s.ParentSpanID.IsZero() || s.StartUnixNano < lo || s.StartUnixNano > hi {
			continue
		}
		if parent, ok := services[s.ParentSpanID]; ok {
			t.count(parent, s.Service(), s.IsError())
		}
	}
	return t.list()
}
