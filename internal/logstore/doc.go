// Package logstore is Clew's embedded store for OTLP log records, kept so
// that a trace's logs can be shown under its spans. Its lifecycle is
// package segment's, shared with the span store: every accepted batch is
// appended to a write-ahead log before it is acknowledged and indexed in an
// in-memory head, searchable at once; the head is cut by size or age into
// an immutable Parquet block in an object bucket (a local directory, or the
// logs/ prefix of the S3 bucket that trace blocks use), after which its WAL
// segments are deleted; small blocks are compacted, whole blocks expire
// with the retention. This package brings the record type, the head's
// trace index, the block format and search: searches merge the head, heads
// being written and blocks, skipping blocks by time range, service and a
// per-block bloom filter of trace IDs. It does not redact anything:
// redaction happens earlier, in the pipeline.
package logstore
