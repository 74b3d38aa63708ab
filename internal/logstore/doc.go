// Package logstore is Clew's embedded store for OTLP log records, kept so
// that a trace's logs can be shown under its spans. It mirrors package store
// at a smaller scale: every accepted batch is appended to a write-ahead log
// (package wal) before it is acknowledged and indexed in an in-memory head,
// searchable at once; the head is cut by size or age into an immutable
// Parquet block in an object bucket, after which its WAL segments are
// deleted; whole blocks expire with the retention. Searches merge the head,
// heads being flushed and blocks, skipping blocks by time range, service and
// a per-block bloom filter of trace IDs. It does not compact blocks or
// redact anything: redaction happens earlier, in the pipeline.
package logstore
