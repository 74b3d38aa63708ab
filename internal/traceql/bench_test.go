package traceql

import "testing"

// BenchmarkEval measures evaluation alone (no storage): the three
// target queries over generated traces. ns/span is the figure to read.
func BenchmarkEval(b *testing.B) {
	traces := genTraces(99, 2000)
	prepared := make([]*Trace, len(traces))
	spans := 0
	for i, sp := range traces {
		prepared[i] = NewTrace(sp)
		spans += len(sp)
	}
	for _, c := range []struct{ name, q string }{
		{"attr", `{ resource.service.name = "cart" && span.http.status_code >= 500 }`},
		{"structural", `{ .service.name = "gateway" } >> { status = error }`},
		{"metrics", `{ } | rate() by (resource.service.name)`},
	} {
		q := mustParse(b, c.q)
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				var m *Metrics
				if q.IsMetrics() {
					m, _ = q.NewMetrics(genBase, genBase+3600e9, 60e9)
				}
				for _, t := range prepared {
					sets := q.Eval(t)
					if m != nil {
						_ = m.Observe(t, sets)
					}
				}
				if m != nil {
					_, _ = m.Series()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(spans), "ns/span")
		})
	}
}
