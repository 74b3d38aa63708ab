// Package query answers questions about stored traces: find traces, fetch one
// trace, list services and operations, and compute service dependencies. It
// owns the search semantics (what "a trace matches" means) and trace
// summaries; it reads from the store and knows nothing about HTTP. The API
// packages translate its answers into Jaeger's and Clew's wire formats.
package query
