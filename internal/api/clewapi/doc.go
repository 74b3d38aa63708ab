// Package clewapi serves Clew's own HTTP endpoints under /api/clew/: answers
// the Jaeger-compatible API has no place for, such as a trace's critical path
// and uninstrumented gaps (computed by internal/analysis). It owns the JSON
// shapes of those endpoints, documented in docs/ui.md; it knows nothing about
// storage and reads traces through the small Querier interface it declares.
package clewapi
