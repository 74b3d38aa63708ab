// Package spm serves the span metrics computed by internal/spanmetrics over
// HTTP: the Jaeger SPM endpoints that Jaeger UI's Monitor tab calls
// (/api/metrics/calls, /latencies, /errors, /minstep, in Jaeger's
// MetricFamily JSON) and Clew's own endpoints for its UI
// (/api/clew/metrics/services, /operations, /timeseries and
// /api/clew/servicegraph). The handler serves those paths unstripped; the app
// mounts it at "/api/metrics/", "/api/clew/metrics/" and
// "/api/clew/servicegraph".
package spm
