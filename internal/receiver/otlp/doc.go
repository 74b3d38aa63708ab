// Package otlp owns Clew's OTLP receivers: gRPC (:4317) and HTTP (:4318,
// protobuf and JSON, optionally gzip) for traces, logs and metrics. It decodes
// requests into pdata batches, hands traces and logs to the next consumer, and
// maps the consumer's answer to OTLP responses: partial success for rejected
// items, 400/INVALID_ARGUMENT for permanent errors, 503/UNAVAILABLE with a
// retry delay for everything retryable. It also enforces the edge limits
// (request size after decompression, bytes in flight, value nesting depth,
// bearer token, CORS). The gRPC services are registered by hand, on raw
// message bytes, so both transports decode the same way and a decode error is
// INVALID_ARGUMENT.
// Clew stores no application metrics, so metrics requests are answered with a
// partial success that rejects every data point.
package otlp
