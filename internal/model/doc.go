// Package model defines Clew's span: the flat, read-only value the store
// indexes and the query layer returns, and its conversion from and to OTLP
// (pdata). Receivers and the pipeline work on pdata batches; from the store
// inwards everything is a model.Span.
//
// Spans that came in one resource/scope share one *Resource and one *Scope.
// Nothing in a Span is modified once it has been handed to the store.
package model
