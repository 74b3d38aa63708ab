// Package limits is the first pipeline stage: it replaces text that is not
// UTF-8 with U+FFFD (also exported for the logs pipeline), removes invalid spans (zero
// IDs, no start time, end before start) and reports them as OTLP partial
// success, and it enforces per-span size limits (attributes, value length,
// events, links) and a per-trace span count, truncating or dropping what is over
// and marking the span so users can see that something was cut.
package limits
