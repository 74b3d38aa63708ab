package otlp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc/codes"

	"github.com/clewtrace/clew/internal/consumer"
)

// refusal is a request refused as a whole. It carries everything both
// transports need, so the OTLP error mapping lives in one place.
type refusal struct {
	reason     string // refused_requests_total label
	httpStatus int
	code       codes.Code
	retryable  bool // send Retry-After / RetryInfo
	msg        string
}

func (r *refusal) Error() string { return r.msg }

func badRequest(format string, args ...any) *refusal {
	return &refusal{reason: reasonBadRequest, httpStatus: http.StatusBadRequest,
		code: codes.InvalidArgument, msg: strings.ToValidUTF8(fmt.Sprintf(format, args...), "\uFFFD")}
}

func tooLarge(limit int64) *refusal {
	// No retry hint: the same request will always be too large (OTLP:
	// RESOURCE_EXHAUSTED is retried only with RetryInfo).
	return &refusal{reason: reasonTooLarge, httpStatus: http.StatusRequestEntityTooLarge,
		code: codes.ResourceExhausted, msg: fmt.Sprintf("request exceeds %d bytes after decompression", limit)}
}

func tooSlow(minRate int64) *refusal {
	// Retrying on a faster link may work; no Retry-After, because this
	// client, not the server, is the bottleneck.
	return &refusal{reason: reasonTooSlow, httpStatus: http.StatusRequestTimeout,
		code: codes.DeadlineExceeded, msg: fmt.Sprintf("request body arrived slower than %d bytes/s", minRate)}
}

func overloaded() *refusal {
	return &refusal{reason: reasonOverloaded, httpStatus: http.StatusServiceUnavailable,
		code: codes.Unavailable, retryable: true, msg: "server overloaded, retry later"}
}

func unauthorized() *refusal {
	return &refusal{reason: reasonUnauthorized, httpStatus: http.StatusUnauthorized,
		code: codes.Unauthenticated, msg: "missing or invalid bearer token"}
}

// consumerRefusal maps a consumer error to the client's answer.
func (r *Receiver) consumerRefusal(ctx context.Context, err error) *refusal {
	switch {
	case consumer.IsPermanent(err):
		return badRequest("%v", err)
	case errors.Is(err, consumer.ErrOverloaded):
		return overloaded()
	default:
		// Anything else is treated as retryable: the store may be briefly
		// failing, and the data was not acknowledged, so the client must keep
		// it. The detail stays in our log; clients get a generic message.
		if ok, suppressed := r.warns.Allow(); ok {
			r.logger.WarnContext(ctx, "otlp: consumer failed; asking client to retry", slog.Any("error", err), slog.Int("suppressed", suppressed))
		}
		return &refusal{reason: reasonUnavailable, httpStatus: http.StatusServiceUnavailable,
			code: codes.Unavailable, retryable: true, msg: "temporarily unable to store data, retry later"}
	}
}

// Export outcome of one request: the partial-success fields to answer with.
type partial struct {
	rejected int64
	message  string
}

// exportTraces hands td to the traces consumer and counts the outcome.
func (r *Receiver) exportTraces(ctx context.Context, transport string, td ptrace.Traces) (partial, *refusal) {
	n := int64(td.SpanCount()) // counted now: td belongs to the consumer after the call
	if n == 0 {
		return partial{}, nil
	}
	res, err := r.traces.ConsumeTraces(ctx, td)
	if err != nil {
		ref := r.consumerRefusal(ctx, err)
		if ref.reason == reasonBadRequest {
			r.metrics.rejectedSpans.WithLabelValues(transport).Add(float64(n))
		}
		return partial{}, ref
	}
	rejected := min(max(res.Rejected, 0), n)
	r.metrics.acceptedSpans.WithLabelValues(transport).Add(float64(n - rejected))
	r.metrics.rejectedSpans.WithLabelValues(transport).Add(float64(rejected))
	return partial{rejected: rejected, message: res.Message}, nil
}

// exportLogs hands ld to the logs consumer, or rejects every record when
// Clew was started without one.
func (r *Receiver) exportLogs(ctx context.Context, transport string, ld plog.Logs) (partial, *refusal) {
	n := int64(ld.LogRecordCount())
	if n == 0 {
		return partial{}, nil
	}
	if r.logs == nil {
		r.metrics.rejectedLogRecords.WithLabelValues(transport).Add(float64(n))
		return partial{rejected: n, message: fmt.Sprintf("this Clew does not store logs; %d log records rejected", n)}, nil
	}
	res, err := r.logs.ConsumeLogs(ctx, ld)
	if err != nil {
		ref := r.consumerRefusal(ctx, err)
		if ref.reason == reasonBadRequest {
			r.metrics.rejectedLogRecords.WithLabelValues(transport).Add(float64(n))
		}
		return partial{}, ref
	}
	rejected := min(max(res.Rejected, 0), n)
	r.metrics.acceptedLogRecords.WithLabelValues(transport).Add(float64(n - rejected))
	r.metrics.rejectedLogRecords.WithLabelValues(transport).Add(float64(rejected))
	return partial{rejected: rejected, message: res.Message}, nil
}

// exportMetrics rejects every data point: Clew stores traces (and logs), not
// application metrics. Answering with a partial success rather than an error
// stops SDKs that export all signals to one endpoint from retrying forever.
func (r *Receiver) exportMetrics(transport string, md pmetric.Metrics) partial {
	n := int64(md.DataPointCount())
	if n == 0 {
		return partial{}
	}
	r.metrics.rejectedMetricPoints.WithLabelValues(transport).Add(float64(n))
	return partial{rejected: n, message: fmt.Sprintf("Clew does not store metrics; %d data points rejected", n)}
}
