// Package block owns Clew's immutable, columnar trace blocks: how a batch of
// spans becomes a set of objects in an objstore.Bucket (a Parquet data file,
// a small binary index and a meta.json written last), and how an opened
// block answers the two questions the query layer asks of it — "give me this
// trace" (bloom filter, then a sparse trace index and a row seek) and "which
// spans match this predicate" (column-at-a-time scan that reads only the
// columns the predicate needs and skips row groups by statistics and
// dictionaries). It also compacts blocks into bigger ones. The byte layout is
// documented in docs/format-block.md (FormatV2; FormatV1 blocks are still read).
package block
