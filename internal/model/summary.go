package model

import (
	"slices"
	"strings"
	"time"
)

// TraceSummary describes one trace the way a search result lists it: what
// Jaeger's api_v3 trace summaries and Tempo's search answer (serviceStats)
// show without the spans. The store keeps one per trace in each block
// (format v6), so a search answer's summaries do not need the traces read.
type TraceSummary struct {
	TraceID TraceID
	// RootServiceName and RootOperationName name the root span: the
	// earliest span without parent; without one, the earliest span whose
	// parent is not in the trace; else the earliest span.
	RootServiceName   string
	RootOperationName string
	// HasRoot says the root is a span without parent (false: the trace's
	// root span has not arrived, as Tempo puts it).
	HasRoot        bool
	StartUnixNano  int64 // earliest span start
	EndUnixNano    int64 // latest span end
	SpanCount      int
	ErrorSpanCount int
	Services       []ServiceSummary // sorted by name
}

// ServiceSummary counts one service's spans in a trace.
type ServiceSummary struct {
	Name           string
	SpanCount      int
	ErrorSpanCount int
}

// Summarize computes the summary of one trace's spans (any order; ties
// between root candidates of the same start go to the first given). It
// counts every span it is given: de-duplicate first.
func Summarize(spans []Span) TraceSummary {
	ptrs := make([]*Span, len(spans))
	for i := range spans {
		ptrs[i] = &spans[i]
	}
	return SummarizePtrs(ptrs)
}

// SummarizePtrs is Summarize over pointers, for callers whose spans of one
// trace are not contiguous (the block writer).
func SummarizePtrs(spans []*Span) TraceSummary {
	var sum TraceSummary
	if len(spans) == 0 {
		return sum
	}
	sum.TraceID = spans[0].TraceID
	sum.SpanCount = len(spans)
	sum.StartUnixNano, sum.EndUnixNano = spans[0].StartUnixNano, spans[0].EndUnixNano
	// Which spans' parents are in the trace: a linear search is cheapest
	// for the usual handful of spans.
	var ids map[SpanID]struct{}
	if len(spans) > 32 {
		ids = make(map[SpanID]struct{}, len(spans))
		for _, s := range spans {
			ids[s.SpanID] = struct{}{}
		}
	}
	rank := func(s *Span) int { // 0 true root, 1 parent missing, 2 not a root
		if s.ParentSpanID.IsZero() {
			return 0
		}
		if ids != nil {
			if _, ok := ids[s.ParentSpanID]; ok {
				return 2
			}
			return 1
		}
		for _, o := range spans {
			if o.SpanID == s.ParentSpanID {
				return 2
			}
		}
		return 1
	}
	var root *Span
	rootRank := 3
	for _, s := range spans {
		sum.StartUnixNano = min(sum.StartUnixNano, s.StartUnixNano)
		sum.EndUnixNano = max(sum.EndUnixNano, s.EndUnixNano)
		svc := s.Service()
		i, found := slices.BinarySearchFunc(sum.Services, svc, func(a ServiceSummary, name string) int { return strings.Compare(a.Name, name) })
		if !found {
			sum.Services = slices.Insert(sum.Services, i, ServiceSummary{Name: svc})
		}
		sum.Services[i].SpanCount++
		if s.IsError() {
			sum.Services[i].ErrorSpanCount++
			sum.ErrorSpanCount++
		}
		if r := rank(s); r < rootRank || (r == rootRank && s.StartUnixNano < root.StartUnixNano) {
			root, rootRank = s, r
		}
	}
	sum.RootServiceName = root.Service()
	sum.RootOperationName = root.Name
	sum.HasRoot = rootRank == 0
	return sum
}

// Duration is the trace's end-to-end duration.
func (t TraceSummary) Duration() time.Duration { return time.Duration(t.EndUnixNano - t.StartUnixNano) }
