package query

import (
	"testing"

	"github.com/clewtrace/clew/internal/model"
)

func span(svc string, id, parent byte, start, end int64, failed bool) model.Span {
	s := model.Span{SpanID: model.SpanID{id}, StartUnixNano: start, EndUnixNano: end, Name: svc + "-op",
		Resource: &model.Resource{ServiceName: svc}}
	if parent != 0 {
		s.ParentSpanID = model.SpanID{parent}
	}
	if failed {
		s.StatusCode = model.StatusError
	}
	return s
}

func TestSummarize(t *testing.T) {
	cases := []struct {
		name       string
		spans      []model.Span
		root       string
		start, end int64
		errors     int
	}{
		{"true root wins over earlier orphan", []model.Span{
			span("orphan", 9, 8, 1, 50, false), span("front", 1, 0, 5, 100, false), span("back", 2, 1, 10, 20, true),
		}, "front", 1, 100, 1},
		{"earliest orphan when the root is missing", []model.Span{
			span("b", 3, 1, 30, 40, false), span("a", 2, 1, 20, 90, false),
		}, "a", 20, 90, 0},
		{"single span", []model.Span{span("solo", 1, 0, 7, 8, true)}, "solo", 7, 8, 1},
	}
	for _, c := range cases {
		sum := Summarize(c.spans)
		if sum.RootServiceName != c.root || sum.RootOperationName != c.root+"-op" || sum.StartUnixNano != c.start ||
			sum.EndUnixNano != c.end || sum.ErrorSpanCount != c.errors || sum.SpanCount != len(c.spans) {
			t.Errorf("%s: %+v", c.name, sum)
		}
		for i := 1; i < len(sum.Services); i++ {
			if sum.Services[i-1].Name >= sum.Services[i].Name {
				t.Errorf("%s: services not sorted: %+v", c.name, sum.Services)
			}
		}
	}
}

func TestPredicate(t *testing.T) {
	p, err := Predicate(TraceQuery{SpanKind: "server"})
	if err != nil || p.Kind != int(model.KindServer) {
		t.Errorf("kind server: %+v %v", p, err)
	}
	if p, _ := Predicate(TraceQuery{}); p.Kind != -1 || p.StartMin != 0 || p.StartMax != 0 {
		t.Errorf("empty query must match any kind and time: %+v", p)
	}
	if _, err := Predicate(TraceQuery{SpanKind: "sideways"}); err == nil {
		t.Error("unknown span kind accepted")
	}
}
