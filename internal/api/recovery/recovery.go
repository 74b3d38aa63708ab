// Package recovery is the panic guard every query-side HTTP handler (Jaeger,
// Tempo, span metrics, logs, error groups, /api/clew/) wraps itself in, so a
// bug that panics on one request costs that request a 500 in the API's own
// error shape instead of a dropped connection — and never a second response
// written after the first one had started.
package recovery

import (
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
)

// ErrInternal is what the client is told about a panic; the panic value and
// stack go to the log only, since they may name files, types or data.
var ErrInternal = errors.New("internal error")

// Fail writes an error answer in an API's own shape.
type Fail func(w http.ResponseWriter, r *http.Request, status int, err error)

// Wrap returns next guarded against panics. A panic before the response
// started is logged and answered by fail with 500 and ErrInternal. A panic
// after the status or body started cannot become a 500 any more (an error body
// would be appended to the half-written answer), so the connection is dropped
// (http.ErrAbortHandler) and the client sees a broken response rather than a
// well-formed wrong one. http.ErrAbortHandler itself passes through. A nil
// logger discards log output.
func Wrap(next http.Handler, logger *slog.Logger, fail Fail) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &trackingWriter{ResponseWriter: w}
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler { //nolint:errorlint // net/http compares the same way
				panic(p)
			}
			attrs := []any{"method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack())}
			if tw.started {
				logger.ErrorContext(r.Context(), "API handler panicked after the response started; dropping the connection", attrs...)
				panic(http.ErrAbortHandler)
			}
			logger.ErrorContext(r.Context(), "API handler panicked", attrs...)
			fail(w, r, http.StatusInternalServerError, ErrInternal)
		}()
		next.ServeHTTP(tw, r)
	})
}

// trackingWriter records whether the response has started.
type trackingWriter struct {
	http.ResponseWriter
	started bool
}

func (t *trackingWriter) WriteHeader(code int) {
	// 1xx informational answers precede the real one, which can still be a 500.
	if code >= 200 {
		t.started = true
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *trackingWriter) Write(b []byte) (int, error) {
	t.started = true
	return t.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (Flush, deadlines).
func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// FlushError sends what was written so far, which starts the response.
func (t *trackingWriter) FlushError() error {
	t.started = true
	return http.NewResponseController(t.ResponseWriter).Flush()
}
