// Package errorsapi owns the HTTP endpoints of error groups:
// GET /api/clew/errors lists groups in a time window (filtered by service
// and text), GET /api/clew/errors/{id} is one group, GET
// /api/clew/errors/{id}/traces its example traces (with whether the trace
// was kept), and GET /api/clew/errors/lookup?traceID=&spanID= names the
// group of a stored span. It parses and validates parameters and renders
// JSON; the grouping itself lives in internal/errgroups.
package errorsapi
