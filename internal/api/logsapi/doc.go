// Package logsapi owns the HTTP endpoints that read the log store:
// GET /api/clew/logs searches log records (by trace, span, service,
// severity, time, attributes and body text) and GET /api/clew/logs/count
// counts each trace's records, so trace lists can show them. It parses and
// validates parameters, maps them to a logstore.LogQuery and renders JSON;
// it knows nothing of how records are stored.
package logsapi
