package spanmetrics

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/model"
)

func TestBucketIndexBounds(t *testing.T) {
	for _, ns := range []uint64{0, 1, 31, 32, 33, 63, 64, 1000, 999_999, 1 << 40, 1<<47 - 1} {
		i := bucketIndex(ns)
		lo, hi := bucketBounds(i)
		if ns < lo || ns >= hi {
			t.Errorf("%d ns: bucket %d is [%d, %d)", ns, i, lo, hi)
		}
		if lo >= subBuckets && float64(hi-lo)/float64(lo) > QuantileRelativeError {
			t.Errorf("bucket %d too wide: [%d, %d)", i, lo, hi)
		}
	}
	if i := bucketIndex(math.MaxUint64); i != numBuckets-1 {
		t.Errorf("huge value in bucket %d, want %d", i, numBuckets-1)
	}
}

// TestQuantileAccuracy checks p50/p95/p99 against the exact order statistics
// of a log-normal sample (latency-like, spanning four decades).
func TestQuantileAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	vals := make([]float64, 100_000)
	for i := range vals {
		d := time.Duration(math.Exp(r.NormFloat64()*1.5) * float64(20*time.Millisecond))
		vals[i] = float64(d)
		h.Observe(d, model.TraceID{})
	}
	sort.Float64s(vals)
	for _, q := range []float64{0.5, 0.95, 0.99} {
		want := vals[int(q*float64(len(vals)))-1]
		got := float64(h.Quantile(q))
		if rel := math.Abs(got-want) / want; rel > QuantileRelativeError {
			t.Errorf("q%.2f = %v, exact %v: relative error %.4f > %.4f", q, time.Duration(got), time.Duration(want), rel, QuantileRelativeError)
		}
	}
	if h.Count() != 100_000 {
		t.Errorf("count %d", h.Count())
	}
}

func TestMergeEqualsObservingAll(t *testing.T) {
	var a, b, all Histogram
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i*i) * time.Microsecond
		all.Observe(d, model.TraceID{})
		if i%3 == 0 {
			a.Observe(d, model.TraceID{})
		} else {
			b.Observe(d, model.TraceID{})
		}
	}
	a.Merge(&b)
	if a.Count() != all.Count() || a.Sum() != all.Sum() {
		t.Fatalf("merged count/sum %d/%v, want %d/%v", a.Count(), a.Sum(), all.Count(), all.Sum())
	}
	for _, q := range []float64{0, 0.5, 0.9, 1} {
		if a.Quantile(q) != all.Quantile(q) {
			t.Errorf("q%v: merged %v, direct %v", q, a.Quantile(q), all.Quantile(q))
		}
	}
}
