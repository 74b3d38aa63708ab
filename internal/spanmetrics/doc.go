// Package spanmetrics computes RED metrics (rate, errors, duration) per
// service, operation, span kind and status code, and the service graph, from
// every span at ingest — before tail sampling, so that rates stay true when
// only a fraction of traces is kept.
//
// A Tap sits in the pipeline as a consumer.Traces: it reads what it needs from
// each batch and hands the batch on to the next stage unchanged. Its Store
// aggregates into one-minute buckets (series capped, excess counted under the
// "__overflow__" operation) and pairs client/server and producer/consumer
// spans into service-graph edges, waiting a bounded time for the other half.
// Closed minutes are written through the minute journal (package minutes),
// one object per minute and process, to <data-dir>/metrics or to the bucket
// shared by several nodes, in the format described in codec.go; every
// node's minutes are read back and merged, and deleted after the retention
// period. Close writes the open minute.
//
// The Store answers the query API (Services, Operations, Series, Graph,
// Dependencies) and is a prometheus.Collector whose latency histograms carry
// trace-ID exemplars.
//
//	st, err := spanmetrics.Open(ctx, spanmetrics.Config{Storage: minutes.Storage{Dir: dataDir + "/metrics", Writer: nodeID, Retention: ret}}, logger)
//	head := spanmetrics.NewTap(st, samplingStage)
//	go st.Run(ctx, 0)       // rolls minutes over, expires unpaired spans, applies retention
//	defer st.Close(ctx)     // after the pipeline has drained
package spanmetrics
