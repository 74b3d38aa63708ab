package query

import (
	"sort"

	"github.com/clewtrace/clew/internal/model"
)

// Summarize computes the summary of one trace's spans (any order, non-empty).
func Summarize(spans []model.Span) TraceSummary {
	var sum TraceSummary
	if len(spans) == 0 {
		return sum
	}
	sum.TraceID = spans[0].TraceID
	sum.SpanCount = len(spans)
	ids := make(map[model.SpanID]struct{}, len(spans))
	for i := range spans {
		ids[spans[i].SpanID] = struct{}{}
	}
	perService := map[string]*ServiceSummary{}
	var root *model.Span
	for i := range spans {
		s := &spans[i]
		if sum.StartUnixNano == 0 || s.StartUnixNano < sum.StartUnixNano {
			sum.StartUnixNano = s.StartUnixNano
		}
		if s.EndUnixNano > sum.EndUnixNano {
			sum.EndUnixNano = s.EndUnixNano
		}
		svc := perService[s.Service()]
		if svc == nil {
			svc = &ServiceSummary{Name: s.Service()}
			perService[s.Service()] = svc
		}
		svc.SpanCount++
		if s.IsError() {
			svc.ErrorSpanCount++
			sum.ErrorSpanCount++
		}
		// The root is a span without parent, else one whose parent is
		// missing, else any span; the earliest among equals.
		if root == nil || rootRank(s, ids) < rootRank(root, ids) ||
			(rootRank(s, ids) == rootRank(root, ids) && s.StartUnixNano < root.StartUnixNano) {
			root = s
		}
	}
	sum.RootServiceName = root.Service()
	sum.RootOperationName = root.Name
	for _, svc := range perService {
		sum.Services = append(sum.Services, *svc)
	}
	sort.Slice(sum.Services, func(i, j int) bool { return sum.Services[i].Name < sum.Services[j].Name })
	return sum
}

// rootRank orders root candidates: 0 true root, 1 parent missing, 2 not a root.
func rootRank(s *model.Span, ids map[model.SpanID]struct{}) int {
	if s.ParentSpanID.IsZero() {
		return 0
	}
	if _, ok := ids[s.ParentSpanID]; !ok {
		return 1
	}
	return 2
}
