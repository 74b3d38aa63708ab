// Package objstore owns the small object-storage interface that immutable
// blocks live on and its backends: a local directory, an S3-compatible
// bucket (through minio-go) and an in-memory bucket for tests. An object is a
// named, immutable byte string; names are slash-separated paths such as
// "01J.../data.parquet". The interface is deliberately small (five methods,
// after Pebble's remote.Storage and Tempo's RawReader/RawWriter) so that every
// object store can implement it; caching wraps a Bucket from outside.
//
// Every implementation must pass objstoretest.Run.
package objstore
