package store

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/model"
)

// BenchmarkHeadAdd measures adding spans to the head (what every ingested
// batch costs after the WAL), postings included: batches of 500 spans with
// 10 attributes each, two of them high-cardinality.
//
//	go test -run '^$' -bench HeadAdd -benchtime 20x ./internal/store
func BenchmarkHeadAdd(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	res := []*model.Resource{{ServiceName: "web"}, {ServiceName: "db"}, {ServiceName: "cart"}}
	const batches, perBatch = 200, 500
	make := func() [][]model.Span {
		out := make([][]model.Span, batches)
		for i := range out {
			batch := make([]model.Span, perBatch)
			for j := range batch {
				s := &batch[j]
				s.TraceID[0], s.TraceID[1], s.TraceID[2] = byte(i), byte(j), byte(rng.IntN(256))
				s.Resource, s.Name = res[rng.IntN(3)], []string{"GET", "POST", "query"}[rng.IntN(3)]
				s.StartUnixNano = int64(i*perBatch + j)
				s.EndUnixNano = s.StartUnixNano + 1000
				s.Attributes = []model.Attribute{
					{Key: "http.method", Value: model.StringValue("GET")},
					{Key: "http.status_code", Value: model.IntValue(200)},
					{Key: "http.route", Value: model.StringValue("/api/orders/{id}")},
					{Key: "enduser.id", Value: model.StringValue(fmt.Sprintf("user-%d", rng.IntN(100000)))},
					{Key: "session.id", Value: model.StringValue(fmt.Sprintf("s-%d", rng.IntN(1<<30)))},
					{Key: "net.peer.name", Value: model.StringValue("db")},
					{Key: "net.peer.port", Value: model.IntValue(5432)},
					{Key: "db.system", Value: model.StringValue("postgresql")},
					{Key: "app.a", Value: model.IntValue(int64(rng.IntN(50)))},
					{Key: "app.b", Value: model.BoolValue(true)},
				}
			}
			out[i] = batch
		}
		return out
	}
	var spans int
	for b.Loop() {
		b.StopTimer()
		in := make()
		h := newHead(time.Now())
		b.StartTimer()
		for _, batch := range in {
			h.add(batch)
			spans += len(batch)
		}
	}
	b.ReportMetric(float64(spans)/b.Elapsed().Seconds(), "spans/s")
}
