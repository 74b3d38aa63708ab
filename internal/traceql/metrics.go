package traceql

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/clewtrace/clew/internal/model"
)

// Limits of a metrics query.
const (
	MaxSteps  = 11000 // as Prometheus: points per series
	MaxSeries = 10000
)

// sketchGamma sets quantile accuracy: values are kept in buckets whose
// bounds grow by this factor, so a quantile is off by at most ~1%.
const sketchGamma = 1.02

// ErrTooManySeries is returned when a by() produces more than MaxSeries.
var ErrTooManySeries = errors.New("traceql: metrics query produces too many series")

// Series is one time series of a metrics query: its labels and a value per
// step (NaN where the step had no data for functions other than counts).
type Series struct {
	Labels []Labeled
	Values []float64
}

// PromLabels renders the labels as Prometheus would, {a="x", b="y"}.
func (s *Series) PromLabels() string {
	parts := make([]string, len(s.Labels))
	for i, l := range s.Labels {
		parts[i] = l.Name + "=" + strconv.Quote(l.Val.String())
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// Metrics accumulates a metrics query's observations over [start, end) in
// steps. Use Query.NewMetrics, Observe every evaluated trace, then Series.
type Metrics struct {
	fn               *MetricsFunc
	start, end, step int64
	steps            int
	groups           map[string]*group
	order            []string
	err              error
	// byResource caches the group of each resource when every by() field
	// is a resource attribute (then the resource alone decides the group):
	// a metrics query over millions of spans looks the labels up once per
	// resource, not once per span.
	byResource map[*model.Resource]*group
	resOnly    bool
}

type group struct {
	labels []Labeled
	count  []float64
	sum    []float64
	min    []float64
	max    []float64
	sketch []map[int32]uint32 // quantile_over_time, per step
	hist   map[float64][]float64
}

// NewMetrics starts accumulating a metrics query. start and end are Unix
// nanoseconds; step is in nanoseconds.
func (q *Query) NewMetrics(start, end, step int64) (*Metrics, error) {
	if q.Metrics == nil {
		return nil, errors.New("traceql: not a metrics query (end it with | rate(), count_over_time(), ...)")
	}
	if step <= 0 || end <= start {
		return nil, errors.New("traceql: a metrics query needs start < end and a positive step")
	}
	steps := (end - start + step - 1) / step
	if steps > MaxSteps {
		return nil, fmt.Errorf("traceql: %d steps exceed the limit of %d; use a larger step", steps, MaxSteps)
	}
	m := &Metrics{fn: q.Metrics, start: start, end: end, step: step, steps: int(steps), groups: map[string]*group{}}
	m.resOnly = len(q.Metrics.By) > 0
	for _, a := range q.Metrics.By {
		m.resOnly = m.resOnly && a.Intrinsic == INone && a.Scope == ScopeResource
	}
	if m.resOnly {
		m.byResource = map[*model.Resource]*group{}
	}
	return m, nil
}

// SameStep reports whether spans starting anywhere in [lo, hi] (Unix ns)
// count in one step of the range alike.
func (m *Metrics) SameStep(lo, hi int64) bool {
	return lo >= m.start && hi < m.end && lo <= hi && (lo-m.start)/m.step == (hi-m.start)/m.step
}

// Steps is the number of points per series; point k is at start + k*step.
func (m *Metrics) Steps() int { return m.steps }

// metricValue turns a field value into the number metrics use: durations
// in seconds, other numbers as they are.
func metricValue(v Value) (float64, bool) {
	switch v.T {
	case TDuration:
		return float64(v.N) / 1e9, true
	case TInt:
		return float64(v.N), true
	case TFloat:
		return v.F, !math.IsNaN(v.F)
	}
	return 0, false
}

// Observe adds the spans of one trace's span sets (each span once).
func (m *Metrics) Observe(t *Trace, sets []Set) error {
	if m.err != nil {
		return m.err
	}
	for _, i := range union(sets) {
		if err := m.observe(t, i); err != nil {
			return err
		}
	}
	return nil
}

// observe adds span i of t.
func (m *Metrics) observe(t *Trace, i int) error {
	return m.observeAt(t, i, []int64{t.Spans[i].StartUnixNano})
}

// observeAt adds len(starts) spans alike to span i of t (every field the
// query reads equal) but for their start times.
// countAt is observeAt for rate and count_over_time: runs of starts in
// one step are counted with one comparison per start and added at once
// (a group of a row group counted alike is one long run).
func (m *Metrics) countAt(t *Trace, i int, starts []int64) error {
	var g *group
	k, lo, hi, run := 0, int64(1), int64(0), 0
	flush := func() error {
		if run == 0 {
			return nil
		}
		if g == nil {
			var err error
			if g, err = m.group(t, i); err != nil {
				m.err = err
				return err
			}
		}
		g.count[k] += float64(run)
		run = 0
		return nil
	}
	for _, ts := range starts {
		if ts >= lo && ts < hi {
			run++
			continue
		}
		if ts < m.start || ts >= m.end {
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		k = int((ts - m.start) / m.step)
		lo = m.start + int64(k)*m.step
		hi = min(lo+m.step, m.end) // the last step ends at the range's end
		run = 1
	}
	return flush()
}

func (m *Metrics) observeAt(t *Trace, i int, starts []int64) error {
	var (
		g   *group
		v   float64
		has bool
	)
	if m.fn.Fn == "rate" || m.fn.Fn == "count_over_time" {
		return m.countAt(t, i, starts)
	}
	// Starts of a group often fall in one step (a row group counted
	// alike gives one start many times): the step of the last start is
	// kept, and the division done only when a start leaves it.
	k, lo, hi := 0, int64(1), int64(0)
	for _, ts := range starts {
		if ts < m.start || ts >= m.end {
			continue
		}
		if ts < lo || ts >= hi {
			k = int((ts - m.start) / m.step)
			lo = m.start + int64(k)*m.step
			hi = lo + m.step
		}
		if g == nil {
			var err error
			if g, err = m.group(t, i); err != nil {
				m.err = err
				return err
			}
			switch m.fn.Fn {
			case "rate", "count_over_time":
			default:
				v, has = metricValue(t.Value(m.fn.Field, i))
			}
		}
		switch m.fn.Fn {
		case "rate", "count_over_time":
			g.count[k]++
			continue
		}
		if !has {
			return nil
		}
		switch m.fn.Fn {
		case "quantile_over_time":
			if g.sketch[k] == nil {
				g.sketch[k] = map[int32]uint32{}
			}
			g.sketch[k][sketchIndex(v)]++
			g.count[k]++
		case "histogram_over_time":
			b := histBucket(v)
			if g.hist[b] == nil {
				if len(g.hist) > 200 {
					continue
				}
				g.hist[b] = make([]float64, m.steps)
			}
			g.hist[b][k]++
		default:
			if g.count[k] == 0 || v < g.min[k] {
				g.min[k] = v
			}
			if g.count[k] == 0 || v > g.max[k] {
				g.max[k] = v
			}
			g.sum[k] += v
			g.count[k]++
		}
	}
	return nil
}

func (m *Metrics) group(t *Trace, i int) (*group, error) {
	res := t.Spans[i].Resource
	if m.resOnly && res != nil {
		if g := m.byResource[res]; g != nil {
			return g, nil
		}
		g, err := m.lookupGroup(t, i)
		if err == nil {
			m.byResource[res] = g
		}
		return g, err
	}
	return m.lookupGroup(t, i)
}

func (m *Metrics) lookupGroup(t *Trace, i int) (*group, error) {
	var labels []Labeled
	var key strings.Builder
	for _, a := range m.fn.By {
		v := t.Value(a, i)
		labels = append(labels, Labeled{Name: a.String(), Val: v})
		key.WriteString(v.String())
		key.WriteByte(byte(v.T))
		key.WriteByte(0)
	}
	g := m.groups[key.String()]
	if g != nil {
		return g, nil
	}
	if len(m.groups) >= MaxSeries {
		return nil, ErrTooManySeries
	}
	g = &group{labels: labels, count: make([]float64, m.steps)}
	switch m.fn.Fn {
	case "quantile_over_time":
		g.sketch = make([]map[int32]uint32, m.steps)
	case "histogram_over_time":
		g.hist = map[float64][]float64{}
	case "min_over_time", "max_over_time", "avg_over_time", "sum_over_time":
		g.sum, g.min, g.max = make([]float64, m.steps), make([]float64, m.steps), make([]float64, m.steps)
	}
	m.groups[key.String()] = g
	m.order = append(m.order, key.String())
	return g, nil
}

// sketchIndex is the log-spaced bucket of v; bucket 0 holds v <= 0 (and
// values too small to matter).
func sketchIndex(v float64) int32 {
	if v <= 1e-12 {
		return math.MinInt32
	}
	return int32(math.Ceil(math.Log(v) / math.Log(sketchGamma)))
}

// sketchValue is the value a bucket stands for: within its bounds' relative
// error of every value it holds.
func sketchValue(k int32) float64 {
	if k == math.MinInt32 {
		return 0
	}
	return 2 * math.Pow(sketchGamma, float64(k)) / (sketchGamma + 1)
}

// histBucket is the power of two at or above v (0 for v <= 0): the upper
// bound of v's histogram_over_time bucket.
func histBucket(v float64) float64 {
	if v <= 0 {
		return 0
	}
	return math.Pow(2, math.Ceil(math.Log2(v)))
}

// quantile reads quantile q from a sketch holding n values: the value of
// the element at rank floor(q*(n-1)).
func quantile(sk map[int32]uint32, n float64, q float64) float64 {
	keys := make([]int32, 0, len(sk))
	for k := range sk {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	rank := math.Floor(q * (n - 1))
	var cum float64
	for _, k := range keys {
		cum += float64(sk[k])
		if cum > rank {
			return sketchValue(k)
		}
	}
	return math.NaN()
}

// Series returns the accumulated series, ordered by their labels.
func (m *Metrics) Series() ([]Series, error) {
	if m.err != nil {
		return nil, m.err
	}
	var out []Series
	secs := float64(m.step) / 1e9
	for _, key := range m.order {
		g := m.groups[key]
		vals := func() []float64 { return make([]float64, m.steps) }
		switch m.fn.Fn {
		case "rate":
			v := vals()
			for k, c := range g.count {
				v[k] = c / secs
			}
			out = append(out, Series{Labels: withName(g.labels, "rate"), Values: v})
		case "count_over_time":
			out = append(out, Series{Labels: withName(g.labels, "count_over_time"), Values: g.count})
		case "quantile_over_time":
			for _, q := range m.fn.Quantiles {
				v := vals()
				for k := range v {
					v[k] = math.NaN()
					if g.count[k] > 0 {
						v[k] = quantile(g.sketch[k], g.count[k], q)
					}
				}
				labels := append(append([]Labeled(nil), g.labels...), Labeled{Name: "p", Val: Value{T: TFloat, F: q}})
				out = append(out, Series{Labels: labels, Values: v})
			}
		case "histogram_over_time":
			bounds := make([]float64, 0, len(g.hist))
			for b := range g.hist {
				bounds = append(bounds, b)
			}
			sort.Float64s(bounds)
			for _, b := range bounds {
				labels := append(append([]Labeled(nil), g.labels...), Labeled{Name: "__bucket", Val: Value{T: TFloat, F: b}})
				out = append(out, Series{Labels: labels, Values: g.hist[b]})
			}
		default:
			v := vals()
			for k := range v {
				if g.count[k] == 0 {
					v[k] = math.NaN()
					continue
				}
				switch m.fn.Fn {
				case "min_over_time":
					v[k] = g.min[k]
				case "max_over_time":
					v[k] = g.max[k]
				case "sum_over_time":
					v[k] = g.sum[k]
				default:
					v[k] = g.sum[k] / g.count[k]
				}
			}
			out = append(out, Series{Labels: withName(g.labels, m.fn.Fn), Values: v})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].PromLabels() < out[j].PromLabels() })
	return out, nil
}

// withName labels a series without by() with the function's name, as
// Tempo does (__name__).
func withName(labels []Labeled, fn string) []Labeled {
	if len(labels) > 0 {
		return labels
	}
	return []Labeled{{Name: "__name__", Val: Value{T: TString, S: fn}}}
}
