// Package minutes is the journal behind Clew's per-minute aggregates (span
// metrics and the service graph, error groups): each closed minute is one
// immutable object in an objstore.Bucket, written once by the process that
// aggregated it, read back to answer queries, and deleted after the
// retention period. Span metrics and error groups differ only in what a
// minute holds; a Journal is generic over that type and its codec.
//
// Object names are
//
//	<YYYYMMDD>T<HHMM>Z.<writer><suffix>     e.g. 20261121T1000Z.clew-0-1a2b3c4d.clsm
//
// (below minutes/spanmetrics/ in a bucket shared with blocks, through
// objstore.WithPrefix)
//
// so lexical order is time order, and the writer — this process's node ID —
// makes names unique per process: several nodes sharing one bucket (docs/
// scale-out.md) each write their own minutes with plain PUTs that can never
// overwrite one another, and a restarted process writes a minute it shares
// with its previous life as a second object rather than replacing the first.
// Readers merge every writer's object of a minute. Names without a writer
// (<YYYYMMDD>T<HHMM>Z<suffix>) are what Clew wrote before the journal and
// are read alike.
//
// Sync lists the bucket for minutes other writers added (the last hour or
// two at every call, the whole prefix every few minutes, so minutes written
// late and deletions by another node are seen too). Expire applies the
// retention: in a bucket of its own a journal deletes every expired minute;
// in a shared bucket only while its Gate (the compactor lease) is held, and
// then every writer's, so that a node that is gone for good leaves nothing
// behind.
//
//	j, err := minutes.Open(ctx, minutes.Options[*minute]{Storage: minutes.Storage{Bucket: b,
//		Writer: nodeID, Retention: ret}, Suffix: ".clsm", Encode: encode, Decode: decode})
//	j.Add(m.Start, m)                 // a closed minute, never modified again
//	err = j.Flush(ctx)                // writes what was added
//	news, err := j.Sync(ctx, now)     // other writers' minutes seen for the first time
//	err = j.Expire(ctx, now)          // retention
//	for _, k := range j.Keys(from, to) { m, err := j.Read(ctx, k) }
package minutes
