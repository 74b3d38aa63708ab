package tempo

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/traceql"
)

// A search result built from a trace's summary (the store's summary rows)
// is the one built from its spans: root (or "not yet received"), start,
// duration and serviceStats, whatever the trace's shape — roots missing,
// several roots, equal starts, errors by status or by attribute.
func TestFromSummaryEqualsSummarize(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	resources := []*model.Resource{{ServiceName: "a"}, {ServiceName: "b"}, nil}
	for range 500 {
		spans := make([]model.Span, 1+rng.IntN(8))
		for i := range spans {
			s := &spans[i]
			s.TraceID = model.TraceID{1}
			s.SpanID = model.SpanID{byte(i + 1)}
			switch rng.IntN(4) {
			case 0: // a root
			case 1:
				s.ParentSpanID = model.SpanID{99} // missing
			default:
				s.ParentSpanID = model.SpanID{byte(1 + rng.IntN(len(spans)))}
			}
			s.Resource = resources[rng.IntN(len(resources))]
			s.Name = []string{"x", "y"}[rng.IntN(2)]
			s.StartUnixNano = 1e18 + int64(rng.IntN(4))*1e6
			s.EndUnixNano = s.StartUnixNano + int64(rng.IntN(5e9))
			switch rng.IntN(5) {
			case 0:
				s.StatusCode = model.StatusError
			case 1:
				s.Attributes = []model.Attribute{{Key: "error", Value: model.BoolValue(true)}}
			}
		}
		want := summarize(traceql.NewTrace(spans))
		if got := fromSummary(model.Summarize(spans)); !reflect.DeepEqual(got, want) {
			t.Fatalf("spans %+v:\n got %+v\nwant %+v", spans, got, want)
		}
	}
}
