package query

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/store"
)

// storeTraces makes n traces of 1-12 spans over a few services, some with
// errors, some without their root, starting over the last minute.
func storeTraces(rng *rand.Rand, n int, now time.Time) [][]model.Span {
	var services []*model.Resource
	for _, name := range []string{"web", "cart", "db"} {
		services = append(services, &model.Resource{ServiceName: name,
			Attributes: []model.Attribute{{Key: "service.name", Value: model.StringValue(name)}}})
	}
	var out [][]model.Span
	for tr := range n {
		var tid model.TraceID
		tid[0], tid[1], tid[2] = byte(tr), byte(tr>>8), byte(rng.IntN(256))
		start := now.Add(-time.Duration(rng.IntN(60e3)) * time.Millisecond).UnixNano()
		spans := make([]model.Span, 1+rng.IntN(12))
		for i := range spans {
			s := &spans[i]
			s.TraceID = tid
			s.SpanID = model.SpanID{byte(tr), byte(tr >> 8), byte(i), 1}
			if i > 0 {
				s.ParentSpanID = spans[rng.IntN(i)].SpanID
			} else if rng.IntN(6) == 0 {
				s.ParentSpanID = model.SpanID{9, 9} // the root never arrived
			}
			s.Resource = services[rng.IntN(len(services))]
			s.Name = []string{"GET /", "query", "charge"}[rng.IntN(3)]
			s.Kind = model.KindServer
			s.StartUnixNano = start + int64(i)*int64(rng.IntN(5e6))
			s.EndUnixNano = s.StartUnixNano + int64(rng.IntN(300e6))
			if rng.IntN(7) == 0 {
				s.StatusCode = model.StatusError
			}
		}
		out = append(out, spans)
	}
	return out
}

// FindSummaries answers what summarising FindTraces' traces gives, whether
// the store summarises from its blocks' summary rows, from its heads, or
// from whole traces (a trace in a block and in the head).
func TestFindSummariesEqualsSummarisedTraces(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Dir: t.TempDir(), DisableRunLoop: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	now := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	traces := storeTraces(rng, 300, now)
	for i, tr := range traces {
		half := len(tr) / 2
		if i%10 == 0 && half > 0 {
			// Split over a block and the head: the first half is cut below.
			tr, traces[i] = tr[:half], tr[half:]
		}
		if _, err := st.ConsumeTraces(ctx, model.ToTraces(tr)); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			if err := st.Maintain(ctx, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 0; i < len(traces); i += 10 {
		if _, err := st.ConsumeTraces(ctx, model.ToTraces(traces[i])); err != nil {
			t.Fatal(err)
		}
	}
	s := NewService(st)
	window := func(q TraceQuery) TraceQuery {
		q.StartTimeMin, q.StartTimeMax, q.Limit = now.Add(-2*time.Minute), now.Add(time.Minute), 1000
		return q
	}
	for _, q := range []TraceQuery{
		window(TraceQuery{}),
		window(TraceQuery{ServiceName: "db"}),
		window(TraceQuery{OperationName: "charge", DurationMin: 100 * time.Millisecond}),
		window(TraceQuery{Attributes: map[string]string{"error": "true"}}),
		{ServiceName: "web", Limit: 20},
	} {
		sums, err := s.FindSummaries(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		whole, err := s.FindTraces(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(sums) != len(whole) || len(sums) == 0 {
			t.Fatalf("%+v: %d summaries, %d traces", q, len(sums), len(whole))
		}
		for i := range whole {
			if want := Summarize(whole[i]); !reflect.DeepEqual(sums[i], want) {
				t.Fatalf("%+v: trace %d:\n got %+v\nwant %+v", q, i, sums[i], want)
			}
		}
	}
}

// A Store that cannot summarise gets its traces summarised.
func TestFindSummariesFromTraces(t *testing.T) {
	s := NewService(spansPerTrace{n: 3})
	got, err := s.FindSummaries(t.Context(), TraceQuery{Limit: 5})
	if err != nil || len(got) != 5 || got[0].SpanCount != 3 {
		t.Fatalf("%d summaries (%v), err %v", len(got), fmt.Sprint(got), err)
	}
}
