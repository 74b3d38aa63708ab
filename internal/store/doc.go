// Package store is Clew's embedded trace store. It owns durability and
// layout: every accepted batch is appended to the write-ahead log (package
// wal) before it is acknowledged, then indexed in an in-memory head, which is
// searchable at once. A head is cut by size or age into an immutable
// columnar block (package block) kept in an object bucket (package objstore),
// after which the WAL segments it came from are deleted. Small blocks are
// compacted into larger ones and whole blocks expire with the retention.
//
// Reads (trace by ID, search, services, dependencies) merge the head, heads
// being flushed and blocks, and de-duplicate spans that arrived twice.
package store
