package traceql

import (
	"errors"
	"testing"
)

// FuzzParse: any input parses or fails with a position error inside the
// query, never panics; what parses also evaluates without panicking.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{}`, `{ .a = 1 }`, `{ span.http.status_code >= 500 && resource.service.name = "x" }`,
		`{ .service.name = "gateway" } >> { status = error }`, `{ a } !~ { b }`,
		`{ } | count() > 2 | by(kind) | coalesce()`, `{ } | rate() by (name)`,
		`{ name =~ "a.*" } &>> { duration > 1s }`, `({ } | avg(duration) > 1s) || { event:name = "x" }`,
		`{ -(.a + 2) * 3 ^ 2 % 4 / .b != nil }`, `{ } | quantile_over_time(duration, .5, .9)`,
	} {
		f.Add(s)
	}
	traces := genTraces(5, 5)
	f.Fuzz(func(t *testing.T, src string) {
		q, err := Parse(src)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("%q: error without position: %v", src, err)
			}
			if pe.Pos < 0 || pe.Pos > len(src) {
				t.Fatalf("%q: position %d outside the query", src, pe.Pos)
			}
			return
		}
		for _, sp := range traces {
			sets := q.Eval(NewTrace(sp))
			if q.IsMetrics() {
				m, err := q.NewMetrics(genBase, genBase+int64(3600e9), int64(60e9))
				if err != nil {
					t.Fatal(err)
				}
				_ = m.Observe(NewTrace(sp), sets)
				_, _ = m.Series()
			}
		}
		_ = q.Hints()
		_ = q.OutputFields()
	})
}
