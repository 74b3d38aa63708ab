package traceql

import (
	"math"
	"sort"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/model"
)

// runMetrics evaluates a metrics query over traces with the package.
func runMetrics(t *testing.T, src string, traces [][]model.Span, start, end, step int64) []Series {
	t.Helper()
	q := mustParse(t, src)
	m, err := q.NewMetrics(start, end, step)
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range traces {
		tr := NewTrace(sp)
		if err := m.Observe(tr, q.Eval(tr)); err != nil {
			t.Fatal(err)
		}
	}
	out, err := m.Series()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// bucketed is the brute-force answer: per label value, per step, the values
// of the selected spans.
func bucketed(traces [][]model.Span, sel func(*model.Span) bool, label func(*model.Span) string, start, step int64, steps int) map[string][][]float64 {
	out := map[string][][]float64{}
	for _, sp := range traces {
		for i := range sp {
			s := &sp[i]
			if !sel(s) || s.StartUnixNano < start || s.StartUnixNano >= start+int64(steps)*step {
				continue
			}
			k := int((s.StartUnixNano - start) / step)
			l := label(s)
			if out[l] == nil {
				out[l] = make([][]float64, steps)
			}
			out[l][k] = append(out[l][k], dur(s).Seconds())
		}
	}
	return out
}

func TestMetricsAgainstBruteForce(t *testing.T) {
	traces := genTraces(21, 600)
	start, step := genBase, int64(5*time.Minute)
	end := start + int64(time.Hour) + int64(time.Second) // a partial last step
	steps := 13
	bySvc := func(s *model.Span) string { return s.Service() }
	none := func(*model.Span) string { return "" }

	t.Run("rate by service", func(t *testing.T) {
		got := runMetrics(t, `{ status = error } | rate() by (resource.service.name)`, traces, start, end, step)
		want := bucketed(traces, isErr, bySvc, start, step, steps)
		if len(got) != len(want) {
			t.Fatalf("%d series, want %d", len(got), len(want))
		}
		for _, s := range got {
			w := want[s.Labels[0].Val.S]
			for k := range s.Values {
				if exp := float64(len(w[k])) / 300; s.Values[k] != exp {
					t.Fatalf("%s step %d: %v, want %v", s.PromLabels(), k, s.Values[k], exp)
				}
			}
		}
	})
	t.Run("count_over_time", func(t *testing.T) {
		got := runMetrics(t, `{ kind = server } >> { } | count_over_time()`, traces, start, end, step)
		want := make([]float64, steps)
		for _, sp := range traces {
			r := bStruct(">>", func(s *model.Span) bool { return s.Kind == model.KindServer }, all)(sp)
			if len(r) == 0 {
				continue
			}
			for _, i := range r[0] {
				if ts := sp[i].StartUnixNano; ts >= start && ts < end {
					want[(ts-start)/step]++
				}
			}
		}
		if len(got) != 1 || got[0].Labels[0].Name != "__name__" {
			t.Fatalf("%+v", got)
		}
		for k := range want {
			if got[0].Values[k] != want[k] {
				t.Fatalf("step %d: %v, want %v", k, got[0].Values[k], want[k])
			}
		}
	})
	t.Run("quantile_over_time", func(t *testing.T) {
		got := runMetrics(t, `{ } | quantile_over_time(duration, .5, .9, .99)`, traces, start, end, step)
		want := bucketed(traces, all, none, start, step, steps)[""]
		if len(got) != 3 {
			t.Fatalf("%d series", len(got))
		}
		for _, s := range got {
			q := s.Labels[len(s.Labels)-1].Val.F
			for k, vals := range want {
				if len(vals) == 0 {
					if !math.IsNaN(s.Values[k]) {
						t.Fatalf("empty step %d has %v", k, s.Values[k])
					}
					continue
				}
				sort.Float64s(vals)
				exact := vals[int(math.Floor(q*float64(len(vals)-1)))]
				if math.Abs(s.Values[k]-exact) > 0.011*exact+1e-9 {
					t.Fatalf("p%v step %d: %v, exact %v", q, k, s.Values[k], exact)
				}
			}
		}
	})
	t.Run("histogram_over_time", func(t *testing.T) {
		got := runMetrics(t, `{ .service.name = "db" } | histogram_over_time(duration)`, traces, start, end, step)
		want := map[float64][]float64{}
		for k, vals := range bucketed(traces, svc("db"), none, start, step, steps)[""] {
			for _, v := range vals {
				b := 0.0
				if v > 0 {
					b = 1
					for b < v {
						b *= 2
					}
					for b/2 >= v {
						b /= 2
					}
				}
				if want[b] == nil {
					want[b] = make([]float64, steps)
				}
				want[b][k]++
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%d buckets, want %d", len(got), len(want))
		}
		for _, s := range got {
			b := s.Labels[0].Val.F
			for k := range s.Values {
				if s.Values[k] != want[b][k] {
					t.Fatalf("bucket %v step %d: %v want %v", b, k, s.Values[k], want[b][k])
				}
			}
		}
	})
	t.Run("avg/min/max/sum_over_time", func(t *testing.T) {
		want := bucketed(traces, all, bySvc, start, step, steps)
		for _, fn := range []string{"avg", "min", "max", "sum"} {
			got := runMetrics(t, `{ } | `+fn+`_over_time(duration) by (resource.service.name)`, traces, start, end, step)
			for _, s := range got {
				for k, vals := range want[s.Labels[0].Val.S] {
					exp := math.NaN()
					for i, v := range vals {
						switch {
						case i == 0:
							exp = v
						case fn == "min":
							exp = math.Min(exp, v)
						case fn == "max":
							exp = math.Max(exp, v)
						default:
							exp += v
						}
					}
					if fn == "avg" && len(vals) > 0 {
						exp /= float64(len(vals))
					}
					if !(math.IsNaN(exp) && math.IsNaN(s.Values[k])) && math.Abs(exp-s.Values[k]) > 1e-9 {
						t.Fatalf("%s %s step %d: %v want %v", fn, s.PromLabels(), k, s.Values[k], exp)
					}
				}
			}
		}
	})
}

func TestMetricsLimits(t *testing.T) {
	q := mustParse(t, `{ } | rate()`)
	if _, err := q.NewMetrics(0, int64(time.Hour), int64(100*time.Millisecond)); err == nil {
		t.Fatal("36000 steps accepted")
	}
	if _, err := mustParse(t, `{ }`).NewMetrics(0, 1, 1); err == nil {
		t.Fatal("a search query accepted as metrics")
	}
	q = mustParse(t, `{ } | count_over_time() by (span:id)`)
	m, _ := q.NewMetrics(genBase, genBase+int64(2*time.Hour), int64(time.Hour))
	var err error
	for _, sp := range genTraces(1, 3000) {
		tr := NewTrace(sp)
		if err = m.Observe(tr, q.Eval(tr)); err != nil {
			break
		}
	}
	if err != ErrTooManySeries {
		t.Fatalf("got %v, want too many series", err)
	}
}
