// Package traceql parses and evaluates TraceQL, the trace query language of
// Grafana Tempo, written for Clew from the language's public documentation.
//
// A query is parsed once (Parse) into an AST whose errors name the byte
// position and what was expected. It is then evaluated one trace at a time
// (Query.Eval): span-set filters select spans with intrinsics and scoped or
// unscoped attributes, span-set operators combine or relate the selections
// structurally (parent, child, ancestor, descendant, sibling), and pipeline
// stages aggregate, group and filter the resulting span sets. A query that
// ends in a metrics function (rate, count_over_time, quantile_over_time, ...)
// feeds a Metrics accumulator instead, which turns the selected spans into
// time series over a range and step.
//
// The package knows nothing of storage. Hints extracts, from a parsed query,
// the conditions every matching trace must satisfy on one span, so a caller
// can ask its store for candidate traces and evaluate the rest here.
//
// Evaluation cost is bounded: queries are limited in size and nesting,
// regular expressions use Go's linear-time engine with a bounded program,
// and structural operators are linear in the trace's spans (times tree depth
// for ancestors and descendants).
package traceql
