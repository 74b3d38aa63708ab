// Package cluster lets several Clew nodes share one bucket of blocks
// (docs/scale-out.md). It adds two things and nothing home-made beyond
// them:
//
//   - the compactor lease: an object in the bucket, taken and renewed with
//     S3 conditional writes (If-None-Match / If-Match), so that exactly one
//     node compacts and deletes at a time (Lease, a store.Gate);
//   - peer reads: every node serves, on its own query API, what its peers
//     cannot read from the bucket yet (its in-memory head and the blocks it
//     wrote since their last poll), and answers queries from its own view
//     of the bucket plus those answers, merged and de-duplicated (Merged,
//     a query.Store).
//
// It sits beside the query layer: it reads the store and is read by the
// query service; the store knows nothing of peers.
package cluster
