// Package segment is the storage lifecycle that Clew's span store and log
// store share: records are appended to a write-ahead log (package wal)
// before they are acknowledged and indexed in an in-memory head; a head is
// cut by count, bytes or age and written to an object bucket as an
// immutable block, after which its WAL segments are deleted; small blocks of
// one aligned time window are compacted into larger ones (levelled, as in
// Prometheus TSDB); whole blocks expire with the retention. Queries read a
// Snapshot that holds a reference to each of its blocks, so a block that
// compaction or retention replaced is closed and deleted only when the last
// reader lets go. With a bucket shared by several nodes the block list
// follows the bucket (polled), and only the holder of the compactor Gate
// compacts and deletes.
//
// A store brings its own record, head and block types through Format: what
// a block holds and how it is searched stay the store's; when blocks are
// written, listed, merged, expired, quarantined and deleted is decided here.
package segment
