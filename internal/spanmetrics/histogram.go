package spanmetrics

import (
	"math/bits"
	"sort"
	"time"

	"github.com/clewtrace/clew/internal/model"
)

// Histogram layout: log-linear buckets over nanoseconds. Values below
// subBuckets are exact; above, every power of two is split into subBuckets
// equal-width buckets, so a bucket is at most 1/subBuckets (3.125%) of its
// lower bound wide. Quantile interpolates inside the bucket, so an estimate
// is within QuantileRelativeError of a value of the right rank. The top
// bucket holds everything from 2^maxExp ns (about 39 hours) up.
const (
	subBits    = 5
	subBuckets = 1 << subBits
	maxExp     = 47
	numBuckets = subBuckets + (maxExp-subBits)*subBuckets + subBuckets

	// QuantileRelativeError bounds Histogram.Quantile's relative error.
	QuantileRelativeError = 1.0 / subBuckets
)

// bucketIndex maps a duration in nanoseconds to its bucket.
func bucketIndex(ns uint64) int {
	if ns < subBuckets {
		return int(ns)
	}
	e := bits.Len64(ns) - 1
	if e > maxExp {
		return numBuckets - 1
	}
	k := e - subBits
	sub := int(ns>>uint(k)) - subBuckets
	return subBuckets + k*subBuckets + sub
}

// bucketBounds is [lower, upper) of bucket i in nanoseconds.
func bucketBounds(i int) (lower, upper uint64) {
	if i < subBuckets {
		return uint64(i), uint64(i) + 1
	}
	k := (i - subBuckets) / subBuckets
	sub := uint64((i - subBuckets) % subBuckets)
	return (subBuckets + sub) << uint(k), (subBuckets + sub + 1) << uint(k)
}

// bucket is one non-empty bucket of a sparse histogram, with the trace ID of
// the latest span that fell into it (its exemplar).
type bucket struct {
	idx      uint16
	hasEx    bool
	count    uint64
	exemplar model.TraceID
}

// Histogram is a sparse log-linear latency histogram. The zero value is
// empty and ready to use. It is not safe for concurrent use.
type Histogram struct {
	buckets []bucket // sorted by idx
	count   uint64
	sumNs   uint64
}

// Observe adds one duration; a non-zero traceID becomes the bucket's exemplar.
func (h *Histogram) Observe(d time.Duration, traceID model.TraceID) {
	h.add(bucketIndex(durNs(d)), 1, traceID)
	h.count++
	h.sumNs += durNs(d)
}

func durNs(d time.Duration) uint64 {
	if d < 0 {
		return 0
	}
	return uint64(d)
}

func (h *Histogram) add(idx int, n uint64, traceID model.TraceID) {
	i := sort.Search(len(h.buckets), func(i int) bool { return int(h.buckets[i].idx) >= idx })
	if i == len(h.buckets) || int(h.buckets[i].idx) != idx {
		h.buckets = append(h.buckets, bucket{})
		copy(h.buckets[i+1:], h.buckets[i:])
		h.buckets[i] = bucket{idx: uint16(idx)}
	}
	b := &h.buckets[i]
	b.count += n
	if !traceID.IsZero() {
		b.exemplar, b.hasEx = traceID, true
	}
}

// Merge adds other's counts into h. Exemplars of other win where both have one.
func (h *Histogram) Merge(other *Histogram) {
	if other == nil || other.count == 0 {
		return
	}
	if len(h.buckets) == 0 {
		h.buckets = append([]bucket(nil), other.buckets...)
	} else {
		out := make([]bucket, 0, len(h.buckets)+len(other.buckets))
		i, j := 0, 0
		for i < len(h.buckets) || j < len(other.buckets) {
			switch {
			case j == len(other.buckets) || (i < len(h.buckets) && h.buckets[i].idx < other.buckets[j].idx):
				out = append(out, h.buckets[i])
				i++
			case i == len(h.buckets) || other.buckets[j].idx < h.buckets[i].idx:
				out = append(out, other.buckets[j])
				j++
			default:
				b := h.buckets[i]
				b.count += other.buckets[j].count
				if other.buckets[j].hasEx {
					b.exemplar, b.hasEx = other.buckets[j].exemplar, true
				}
				out = append(out, b)
				i++
				j++
			}
		}
		h.buckets = out
	}
	h.count += other.count
	h.sumNs += other.sumNs
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 { return h.count }

// Sum is the total of all observations.
func (h *Histogram) Sum() time.Duration { return time.Duration(h.sumNs) }

// Quantile estimates the q-quantile (0 ≤ q ≤ 1) by linear interpolation
// inside the bucket holding that rank; 0 for an empty histogram. The result
// is within QuantileRelativeError of an observed value of that rank.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h == nil || h.count == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := q * float64(h.count)
	var cum float64
	for _, b := range h.buckets {
		n := float64(b.count)
		if cum+n >= rank {
			lo, hi := bucketBounds(int(b.idx))
			frac := (rank - cum) / n
			return time.Duration(float64(lo) + frac*float64(hi-lo))
		}
		cum += n
	}
	lo, _ := bucketBounds(int(h.buckets[len(h.buckets)-1].idx))
	return time.Duration(lo)
}

// clone returns a deep copy.
func (h *Histogram) clone() *Histogram {
	c := *h
	c.buckets = append([]bucket(nil), h.buckets...)
	return &c
}
