// Package jaeger receives spans from legacy Jaeger clients and hands them to
// the pipeline as pdata batches. It owns the Jaeger collector endpoint
// (POST /api/traces, a bare jaeger.thrift Batch in TBinaryProtocol), the two
// agent UDP sockets (emitBatch in TCompactProtocol on :6831 and in
// TBinaryProtocol on :6832), and the mapping from jaeger.thrift to OTLP, which
// is the OpenTelemetry specification's OTLP-to-Jaeger mapping read backwards
// (see docs/legacy-receivers.md).
//
// UDP cannot push back, so datagrams are decoded on the socket goroutine and
// queued in a bounded queue in front of the consumer; when the queue is full
// the batch is dropped and counted.
package jaeger
