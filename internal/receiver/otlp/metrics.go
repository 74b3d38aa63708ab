package otlp

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Transport label values.
const (
	transportGRPC = "grpc"
	transportHTTP = "http"
)

// Refusal reasons, the "reason" label of refused_requests_total.
const (
	reasonTooLarge     = "too_large"
	reasonBadRequest   = "bad_request"
	reasonOverloaded   = "overloaded"
	reasonUnavailable  = "unavailable" // the consumer failed for a non-overload, retryable reason
	reasonUnauthorized = "unauthorized"
	reasonTooSlow      = "too_slow" // the body arrived slower than Config.MinBodyRate
)

// receiverMetrics are the receiver's Prometheus counters. They live on the
// Receiver, not in package variables, so tests and several receivers in one
// process never share counts.
type receiverMetrics struct {
	acceptedSpans        *prometheus.CounterVec
	rejectedSpans        *prometheus.CounterVec
	acceptedLogRecords   *prometheus.CounterVec
	rejectedLogRecords   *prometheus.CounterVec
	rejectedMetricPoints *prometheus.CounterVec
	refusedRequests      *prometheus.CounterVec
	requestBytes         *prometheus.CounterVec
	inFlightRequests     *prometheus.GaugeVec
	inFlightBytes        prometheus.GaugeFunc
}

// newReceiverMetrics builds the metrics; inFlightBytes reads the budget's
// current use.
func newReceiverMetrics(reg prometheus.Registerer, inFlightBytes func() float64) (*receiverMetrics, error) {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "clew", Subsystem: "receiver_otlp", Name: name, Help: help,
		}, labels)
	}
	m := &receiverMetrics{
		acceptedSpans:        counter("accepted_spans_total", "Spans acknowledged to OTLP clients.", "transport"),
		rejectedSpans:        counter("rejected_spans_total", "Spans rejected as invalid (partial success or permanent error); clients do not retry them.", "transport"),
		acceptedLogRecords:   counter("accepted_log_records_total", "Log records acknowledged to OTLP clients.", "transport"),
		rejectedLogRecords:   counter("rejected_log_records_total", "Log records rejected as invalid or because no logs consumer is configured.", "transport"),
		rejectedMetricPoints: counter("rejected_metric_points_total", "Metric data points rejected because Clew does not store application metrics.", "transport"),
		refusedRequests:      counter("refused_requests_total", "Export requests refused as a whole, by reason.", "transport", "reason"),
		requestBytes:         counter("request_bytes_total", "Request bytes after decompression, of requests whose body was read in full.", "transport", "signal"),
		inFlightRequests: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "clew", Subsystem: "receiver_otlp", Name: "in_flight_requests",
			Help: "Export requests being received or processed now.",
		}, []string{"transport"}),
		inFlightBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "clew", Subsystem: "receiver_otlp", Name: "in_flight_bytes",
			Help: "Bytes of the in-flight budget held by requests now (bodies as they arrive, decoded batches until stored).",
		}, inFlightBytes),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{
		m.acceptedSpans, m.rejectedSpans, m.acceptedLogRecords, m.rejectedLogRecords,
		m.rejectedMetricPoints, m.refusedRequests, m.requestBytes, m.inFlightRequests, m.inFlightBytes,
	} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("otlp: register metrics (is another receiver using this registry?): %w", err)
			}
			return nil, fmt.Errorf("otlp: register metrics: %w", err)
		}
	}
	return m, nil
}
