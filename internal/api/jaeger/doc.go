// Package jaeger serves Jaeger's HTTP query API on top of Clew's query layer,
// so that Jaeger UI and Grafana's Jaeger data source work against Clew
// unchanged. It owns both generations of that API: the legacy JSON API under
// /api/ (the {"data":...,"errors":...} wrapper, Jaeger's span model with tags,
// logs and processes) and api_v3 under /api/v3/ (OTLP JSON, trace summaries).
// It translates requests into query.TraceQuery and answers into Jaeger's wire
// formats; it decides nothing about which traces match. docs/api.md lists the
// endpoints and where Clew deviates from Jaeger.
package jaeger
