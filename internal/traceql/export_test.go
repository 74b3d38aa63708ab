package traceql

import "github.com/clewtrace/clew/internal/model"

// GenTraces and EvalCaseQueries let the external test package run the
// evaluator's table through a store.
func GenTraces(seed int64, n int) [][]model.Span { return genTraces(seed, n) }

func EvalCaseQueries(traces [][]model.Span) []string {
	var out []string
	for _, c := range evalCases(traces) {
		out = append(out, c.q)
	}
	return out
}
