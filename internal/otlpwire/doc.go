// Package otlpwire inspects OTLP messages in their encoded form (protobuf
// wire bytes or OTLP/JSON), before any decoder runs. Its one job today is to
// bound how deeply attribute values and log bodies nest (MaxValueDepth): the
// decoders, the conversion to Clew's model, the limits and the redaction all
// walk values recursively, and a Go stack overflow ends the process instead
// of failing the request. The scans use an explicit stack of bounded height.
// Receivers call them on every request; the trace and log stores call them on
// every WAL record they replay.
package otlpwire
