// Package limits is the first pipeline stage: it replaces text that is not
// UTF-8 with U+FFFD (also exported for the logs pipeline), removes invalid spans (zero
// IDs, no start time, end before start) and reports them as OTLP partial
// success, and it enforces size limits (attributes, value length, entries of
// arrays and maps, name length, events, links) on spans and, always
// truncating, on their resources and scopes, and a per-trace span count,
// truncating or dropping what is over and marking what was cut.
package limits
