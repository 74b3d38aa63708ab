// Package wal is the write-ahead log of Clew's embedded store. It owns the
// durability of accepted span batches between their acknowledgement and the
// moment they are cut into an immutable block: Append returns only once a
// record is durable (per SyncPolicy), Replay hands every surviving record
// back after a crash, skipping and quarantining damaged records while keeping
// every intact one, and Cut/Truncate let
// the store drop segments whose data now live in blocks. Records are opaque
// byte slices; the package knows nothing about spans.
//
// Typical use:
//
//	w, err := wal.Open(dir, wal.Options{})
//	stats, err := w.Replay(ctx, func(seg wal.SegmentID, rec []byte) error {
//		return head.Restore(rec) // rec is only valid during the call
//	})
//	seg, err := w.Append(ctx, encodedBatch) // durable when it returns
//	next, err := w.Cut()                    // later, when the head is cut
//	// ... write the block from the old head ...
//	err = w.Truncate(next)                  // drop segments < next
//
// # On-disk format (version 1)
//
// The log is a directory of segment files named by a zero-padded decimal
// SegmentID, e.g. 00000001.wal. IDs start at 1 and increase by one; a record
// never spans two segments. All integers are little-endian.
//
//	segment:
//	┌──────────────────┬───────────────┬───────────────┬────────────────┐
//	│ magic <4 byte>   │ version <1b>  │ reserved <3b> │ record ...     │
//	│ "CLWL"           │ 1             │ 0             │                │
//	└──────────────────┴───────────────┴───────────────┴────────────────┘
//
//	record:
//	┌───────────────┬──────────────┬────────────────────┐
//	│ len <uint32>  │ crc <uint32> │ payload <len byte> │
//	└───────────────┴──────────────┴────────────────────┘
//
// crc is CRC-32C (Castagnoli) over the 4 len bytes followed by the payload.
// Covering len means a zero-filled tail (len 0, crc 0) never checks out, as
// CRC-32C of four zero bytes is not zero. len is at most MaxRecordSize.
//
// The name is not "log" to avoid clashing with the standard library and
// log/slog; "wal" is what Prometheus, etcd and Pebble call it too.
package wal
