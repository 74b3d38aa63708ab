// Package store is Clew's embedded trace store: every accepted batch is
// appended to the write-ahead log (package wal) before it is acknowledged,
// then indexed in an in-memory head, which is searchable at once. A head is
// cut by size or age into an immutable columnar block (package block) kept
// in an object bucket (package objstore), after which the WAL segments it
// came from are deleted. Small blocks are compacted into larger ones and
// whole blocks expire with the retention. That lifecycle is package
// segment's, shared with the log store; this package brings the span head
// and its indexes, the block format's adapter (lifecycle.go) and the reads.
//
// Reads (trace by ID, search, services, dependencies) merge the head, heads
// being flushed and blocks, and de-duplicate spans that arrived twice.
package store
