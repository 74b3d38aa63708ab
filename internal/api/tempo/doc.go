// Package tempo serves Grafana Tempo's HTTP query API on top of Clew's query
// layer, so Grafana's Tempo data source (TraceQL search, the query builder's
// tag autocomplete, trace view and TraceQL metrics) works against Clew. It
// parses TraceQL with internal/traceql, asks the query service for matching
// traces, series and tags, and writes Tempo's wire shapes (JSON as Tempo
// emits it, protobuf for traces by ID). It decides nothing about which traces
// match. docs/api.md lists the endpoints and where Clew deviates from Tempo.
package tempo
