// Package consumer defines the one-method interfaces at which Clew's stages meet:
// receivers hand batches to the pipeline, the pipeline hands them to the store.
//
// Ownership rule: a consumer owns the batch from the moment it is called. The
// caller must neither read nor modify the batch afterwards, so every stage may
// change it in place without copying.
//
// Acknowledgement rule: a nil error means every item not counted in
// Result.Rejected has been accepted for good — durable in the store, or
// deliberately dropped by a configured policy (sampling, limits). Only then may
// a receiver tell its client "success".
//
// Errors say whether the client should retry: ErrOverloaded (and anything that
// wraps it) is retryable; errors marked with Permanent are not. Only the
// receivers map these to HTTP and gRPC status codes.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Traces consumes a batch of spans. See the package comment for ownership.
type Traces interface {
	ConsumeTraces(ctx context.Context, td ptrace.Traces) (Result, error)
}

// Logs consumes a batch of log records. See the package comment for ownership.
type Logs interface {
	ConsumeLogs(ctx context.Context, ld plog.Logs) (Result, error)
}

// TracesFunc adapts a function to Traces.
type TracesFunc func(ctx context.Context, td ptrace.Traces) (Result, error)

// ConsumeTraces calls f.
func (f TracesFunc) ConsumeTraces(ctx context.Context, td ptrace.Traces) (Result, error) {
	return f(ctx, td)
}

// LogsFunc adapts a function to Logs.
type LogsFunc func(ctx context.Context, ld plog.Logs) (Result, error)

// ConsumeLogs calls f.
func (f LogsFunc) ConsumeLogs(ctx context.Context, ld plog.Logs) (Result, error) {
	return f(ctx, ld)
}

// Result reports the items of an accepted batch that were rejected as invalid
// (OTLP "partial success"). Rejected items are not stored and the client must
// not retry them.
type Result struct {
	Rejected int64
	Message  string // English, for the client; empty when Rejected is 0 unless it is a warning
}

// Merge adds other's rejections to r, joining messages.
func (r Result) Merge(other Result) Result {
	r.Rejected += other.Rejected
	switch {
	case r.Message == "":
		r.Message = other.Message
	case other.Message != "":
		r.Message += "; " + other.Message
	}
	return r
}

// ErrOverloaded reports that a stage cannot take more data right now. The
// client should retry after RetryAfter (HTTP 503 + Retry-After, gRPC
// UNAVAILABLE + RetryInfo).
var ErrOverloaded = errors.New("overloaded")

// RetryAfter is how long receivers ask clients to wait after ErrOverloaded.
const RetryAfter = time.Second

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks err as not retryable (HTTP 400, gRPC INVALID_ARGUMENT).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// Permanentf is Permanent(fmt.Errorf(format, args...)).
func Permanentf(format string, args ...any) error {
	return Permanent(fmt.Errorf(format, args...))
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
