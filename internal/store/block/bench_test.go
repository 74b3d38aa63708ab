package block

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/query/predicate"
)

const benchSpans = 1_000_000

// benchBlock is written once per test binary run; writing 1M spans takes
// seconds and every read benchmark uses the same block.
var benchBlock = sync.OnceValues(func() (*benchState, error) {
	dir, err := tempDir()
	if err != nil {
		return nil, err
	}
	b, err := objstore.NewLocal(dir)
	if err != nil {
		return nil, err
	}
	spans := genSpans(benchSpans, 42)
	ids := make([]model.TraceID, 0, len(spans)/10)
	for i, s := range spans {
		if i == 0 || s.TraceID != spans[i-1].TraceID {
			ids = append(ids, s.TraceID)
		}
	}
	m, err := Write(context.Background(), b, spans, nil, 0)
	if err != nil {
		return nil, err
	}
	bl, err := Open(context.Background(), b, m.ID)
	if err != nil {
		return nil, err
	}
	return &benchState{bl: bl, ids: ids}, nil
})

type benchState struct {
	bl  *Block
	ids []model.TraceID
}

func BenchmarkWrite(b *testing.B) {
	spans := genSpans(200_000, 7)
	bucket := newBucket(b)
	b.ResetTimer()
	var bytes int64
	for b.Loop() {
		m, err := Write(context.Background(), bucket, slices.Clone(spans), nil, 0)
		if err != nil {
			b.Fatal(err)
		}
		bytes = m.Bytes
	}
	b.ReportMetric(float64(len(spans)*b.N)/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric(float64(bytes)/float64(len(spans)), "bytes/span")
}

func BenchmarkTraceByID(b *testing.B) {
	st, err := benchBlock()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.bl.Meta().Bytes)/float64(st.bl.Meta().SpanCount), "bytes/span")
	b.ReportAllocs() // a read allocates about what it returns (TestReadRangesSeeksToPageStarts)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		spans, err := st.bl.Trace(ctx, st.ids[(i*7919)%len(st.ids)])
		if err != nil || len(spans) == 0 {
			b.Fatal(len(spans), err)
		}
		i++
	}
}

func BenchmarkScan(b *testing.B) {
	st, err := benchBlock()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	preds := []struct {
		name string
		p    predicate.Predicate
	}{
		{"service+tag+duration", predicate.Predicate{Service: "checkout", Kind: -1, MinDuration: 100e6, Attributes: map[string]string{"http.status_code": "500"}}},
		{"service+op", predicate.Predicate{Service: "payment", Operation: "Charge", Kind: -1}},
		{"error+user", predicate.Predicate{Kind: -1, Attributes: map[string]string{"error": "true", "user.id": "u-004242"}}},
	}
	for _, pc := range preds {
		b.Run(pc.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				n = 0
				if err := st.bl.Scan(ctx, predicate.MustCompile(pc.p), func(model.TraceID, int64) bool { n++; return true }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(benchSpans*b.N)/b.Elapsed().Seconds(), "spans/s")
			b.ReportMetric(float64(n), "matches")
		})
	}
}
