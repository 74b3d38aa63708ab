package spanmetrics

import (
	"math"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// promBuckets are the upper bounds, in seconds, of the Prometheus histograms.
// Each fine bucket is counted under the first bound at or above its midpoint,
// so a count may sit one Prometheus bucket off by at most 1.6% of the bound.
var promBuckets = [...]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

var (
	descCalls = prometheus.NewDesc("clew_spanmetrics_calls_total",
		"Spans received, before sampling, by service, operation (span name), span kind and status code.",
		[]string{"service", "operation", "span_kind", "status_code"}, nil)
	descDuration = prometheus.NewDesc("clew_spanmetrics_duration_seconds",
		"Span durations, before sampling; bucket exemplars carry a trace_id.",
		[]string{"service", "operation", "span_kind", "status_code"}, nil)
	descRequests = prometheus.NewDesc("clew_servicegraph_requests_total",
		"Calls between two services (or a service and a virtual node), paired from client/producer and server/consumer spans.",
		[]string{"client", "server", "connection_type"}, nil)
	descFailed = prometheus.NewDesc("clew_servicegraph_request_failed_total",
		"Service-graph calls where either side's span failed.",
		[]string{"client", "server", "connection_type"}, nil)
	descServerSeconds = prometheus.NewDesc("clew_servicegraph_request_server_seconds",
		"Service-graph call durations as seen by the server (or consumer) span.",
		[]string{"client", "server", "connection_type"}, nil)
	descOverflow = prometheus.NewDesc("clew_spanmetrics_overflow_spans_total",
		"Spans and calls counted under __overflow__ because a cap was reached: operations (distinct operations per service), series or edges.",
		[]string{"kind"}, nil)
	descUnpaired = prometheus.NewDesc("clew_servicegraph_unpaired_total",
		"Span halves that found no partner: expired after the wait, or dropped because the pending store was full.",
		[]string{"reason"}, nil)
	descPersistErrors = prometheus.NewDesc("clew_spanmetrics_persist_errors_total",
		"Failed writes of closed span-metrics minutes (retried on the next tick).", nil, nil)
)

// spanKindLabel and statusLabel use the OpenTelemetry spanmetrics
// connector's label values, which Jaeger's Prometheus reader also expects.
var spanKindLabels = [...]string{"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"}

func spanKindLabel(k uint8) string {
	if int(k) < len(spanKindLabels) {
		return spanKindLabels[k]
	}
	return spanKindLabels[0]
}

func statusLabel(c uint8) string {
	switch c {
	case 1:
		return "STATUS_CODE_OK"
	case 2:
		return "STATUS_CODE_ERROR"
	}
	return "STATUS_CODE_UNSET"
}

var _ prometheus.Collector = (*Store)(nil)

// Describe implements prometheus.Collector.
func (s *Store) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCalls, descDuration, descRequests, descFailed, descServerSeconds, descOverflow, descUnpaired, descPersistErrors} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: totals since the process started
// (counters reset on restart, which Prometheus handles).
func (s *Store) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.totals {
		lv := labelValues(k.Service, k.Operation, spanKindLabel(uint8(k.Kind)), statusLabel(uint8(k.Status)))
		ch <- prometheus.MustNewConstMetricWithCreatedTimestamp(descCalls, prometheus.CounterValue, float64(t.Calls), t.created, lv...)
		ch <- promHistogram(descDuration, &t.Hist, t, lv)
	}
	for k, t := range s.edgeTot {
		lv := labelValues(k.Client, k.Server, k.ConnectionType)
		ch <- prometheus.MustNewConstMetricWithCreatedTimestamp(descRequests, prometheus.CounterValue, float64(t.Calls), t.created, lv...)
		ch <- prometheus.MustNewConstMetricWithCreatedTimestamp(descFailed, prometheus.CounterValue, float64(t.Errors), t.created, lv...)
		ch <- promHistogram(descServerSeconds, &t.Hist, t, lv)
	}
	ch <- prometheus.MustNewConstMetric(descOverflow, prometheus.CounterValue, float64(s.overflowOperations), "operations")
	ch <- prometheus.MustNewConstMetric(descOverflow, prometheus.CounterValue, float64(s.overflowSeries), "series")
	ch <- prometheus.MustNewConstMetric(descOverflow, prometheus.CounterValue, float64(s.overflowEdges), "edges")
	ch <- prometheus.MustNewConstMetric(descUnpaired, prometheus.CounterValue, float64(s.pairs.expired), "expired")
	ch <- prometheus.MustNewConstMetric(descUnpaired, prometheus.CounterValue, float64(s.pairs.dropped), "store_full")
	ch <- prometheus.MustNewConstMetric(descPersistErrors, prometheus.CounterValue, float64(s.journal.WriteErrors()))
}

// labelValues makes vs valid label values. The pipeline already replaces
// text that is not UTF-8, but one such value in a series (from minutes
// persisted before it did, say) would fail every scrape, so the collector
// does not rely on it.
func labelValues(vs ...string) []string {
	for i, v := range vs {
		vs[i] = strings.ToValidUTF8(v, "\uFFFD")
	}
	return vs
}

type createdAt interface{ createdTime() time.Time }

func (t *seriesTotal) createdTime() time.Time { return t.created }
func (t *edgeTotal) createdTime() time.Time   { return t.created }

// promHistogram converts h to a const histogram with one exemplar per
// Prometheus bucket (the latest fine bucket's trace ID).
func promHistogram(desc *prometheus.Desc, h *Histogram, c createdAt, lv []string) prometheus.Metric {
	var counts [len(promBuckets)]uint64
	var exemplars [len(promBuckets) + 1]*prometheus.Exemplar
	for _, b := range h.buckets {
		lo, hi := bucketBounds(int(b.idx))
		mid := (float64(lo) + float64(hi)) / 2 / 1e9
		i := sort.SearchFloat64s(promBuckets[:], mid)
		if i < len(promBuckets) {
			counts[i] += b.count
		}
		if b.hasEx {
			exemplars[i] = &prometheus.Exemplar{Value: mid, Labels: prometheus.Labels{"trace_id": b.exemplar.String()}}
		}
	}
	buckets := make(map[float64]uint64, len(promBuckets))
	var cum uint64
	for i, ub := range promBuckets {
		cum += counts[i]
		buckets[ub] = cum
	}
	m := prometheus.MustNewConstHistogramWithCreatedTimestamp(desc, h.count, float64(h.sumNs)/1e9, buckets, c.createdTime(), lv...)
	var exs []prometheus.Exemplar
	for _, e := range exemplars {
		if e != nil && !math.IsNaN(e.Value) {
			exs = append(exs, *e)
		}
	}
	if len(exs) == 0 {
		return m
	}
	return prometheus.MustNewMetricWithExemplars(m, exs...)
}
