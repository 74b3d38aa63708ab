// Package zipkin receives spans from Zipkin v2 clients and hands them to the
// pipeline as pdata batches. It owns the Zipkin collector endpoint
// (POST /api/v2/spans, a JSON list of spans or a protobuf ListOfSpans,
// optionally gzip-compressed) and the mapping from the Zipkin v2 model to
// OTLP, which is the OpenTelemetry specification's OTLP-to-Zipkin mapping read
// backwards (see docs/legacy-receivers.md).
//
// Both encodings are first decoded into one internal span type, so the JSON
// and protobuf paths share a single mapping.
package zipkin
