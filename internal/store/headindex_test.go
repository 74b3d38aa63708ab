package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/predicate"
)

// TestHeadSearchUsesPostings: a head search evaluates only the spans on the
// service or operation posting list its predicate allows, skips the batches
// whose key=value filter rules out an attribute value (high-cardinality
// ones included, on spans or events), finds exactly the matching spans, and
// falls back to every span only when no condition has an index (time alone)
// or every attribute condition may be satisfied elsewhere (a resource
// attribute, an error status). maxEvaluated allows two batches of filter
// false positives where filters decide.
func TestHeadSearchUsesPostings(t *testing.T) {
	h := newHead(time.Now())
	web := &model.Resource{ServiceName: "web", Attributes: []model.Attribute{{Key: "region", Value: model.StringValue("eu")}}}
	db := &model.Resource{ServiceName: "db"}
	total := 0
	for b := range 20 {
		batch := make([]model.Span, 500)
		for i := range batch {
			n := b*500 + i
			s := &batch[i]
			s.TraceID[0], s.TraceID[1], s.SpanID[0] = byte(n), byte(n>>8), 1
			s.StartUnixNano, s.EndUnixNano = int64(1000+n), int64(1100+n)
			s.Resource, s.Name = web, "GET"
			if n%10 == 0 {
				s.Resource, s.Name = db, "query"
			}
			s.Attributes = []model.Attribute{
				{Key: "enduser.id", Value: model.StringValue(fmt.Sprintf("user-%d", n))}, // one span each
				{Key: "http.status_code", Value: model.IntValue(int64(200 + n%2))},
			}
			if n%1000 == 7 {
				s.Events = []model.Event{{Name: "log", Attributes: []model.Attribute{{Key: "order.id", Value: model.StringValue("o-1")}}}}
			}
			if n%100 == 3 {
				s.StatusCode = model.StatusError
			}
		}
		total += len(batch)
		h.add(batch)
	}
	cases := []struct {
		name         string
		p            predicate.Predicate
		matches      int
		maxEvaluated int
	}{
		{"rare span attribute", predicate.Predicate{Kind: -1, Attributes: map[string]string{"enduser.id": "user-4242"}}, 1, 500 + 1000},
		{"rare event attribute", predicate.Predicate{Kind: -1, Attributes: map[string]string{"order.id": "o-1"}}, 10, 10*500 + 1000},
		{"absent value", predicate.Predicate{Kind: -1, Attributes: map[string]string{"enduser.id": "nobody"}}, 0, 1000},
		{"absent key", predicate.Predicate{Kind: -1, Attributes: map[string]string{"no.such.key": "x"}}, 0, 1000},
		{"service", predicate.Predicate{Kind: -1, Service: "db"}, total / 10, total / 10},
		{"unknown service", predicate.Predicate{Kind: -1, Service: "nope"}, 0, 0},
		{"service and operation", predicate.Predicate{Kind: -1, Service: "web", Operation: "query"}, 0, total / 10},
		{"service and value", predicate.Predicate{Kind: -1, Service: "web", Attributes: map[string]string{"enduser.id": "user-11"}}, 1, 450 + 900},
		{"resource attribute", predicate.Predicate{Kind: -1, Attributes: map[string]string{"region": "eu"}}, total * 9 / 10, total},
		{"error", predicate.Predicate{Kind: -1, Attributes: map[string]string{"error": "true"}}, total / 100, total},
		{"error and service", predicate.Predicate{Kind: -1, Service: "db", Attributes: map[string]string{"error": "true"}}, 0, total / 10},
		{"time only", predicate.Predicate{Kind: -1, StartMin: 1000, StartMax: 1099}, 100, total},
	}
	for _, tc := range cases {
		c := predicate.MustCompile(tc.p)
		matches := 0
		evaluated := h.scan(c, func(model.TraceID, int64) bool { matches++; return true })
		if matches != tc.matches || evaluated > tc.maxEvaluated {
			t.Errorf("%s: %d matches from %d spans evaluated, want %d from at most %d", tc.name, matches, evaluated, tc.matches, tc.maxEvaluated)
		}
		want := 0
		for _, batch := range h.batches {
			for i := range batch {
				if c.Match(&batch[i]) {
					want++
				}
			}
		}
		if want != tc.matches {
			t.Errorf("%s: brute force finds %d", tc.name, want)
		}
	}
}
