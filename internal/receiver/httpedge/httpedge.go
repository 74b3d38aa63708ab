// Package httpedge holds what the legacy receivers' HTTP endpoints (Jaeger,
// Zipkin) share at the edge: the mapping from a pipeline error to an HTTP
// status. The OTLP receiver does this itself because it must answer in OTLP's
// error format, with the same statuses. The ingest token is checked by
// internal/auth, the one check every listener uses.
package httpedge

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/clewtrace/clew/internal/consumer"
)

// Refuse answers a batch the pipeline did not accept and returns the status:
// 400 for a permanent error (retrying cannot help), otherwise 503 with
// Retry-After — overload, or the store briefly failing; nothing was
// acknowledged, so the client should send the batch again.
func Refuse(w http.ResponseWriter, err error) int {
	status := http.StatusServiceUnavailable
	if consumer.IsPermanent(err) && !errors.Is(err, consumer.ErrOverloaded) {
		status = http.StatusBadRequest
	} else {
		w.Header().Set("Retry-After", strconv.Itoa(int(consumer.RetryAfter.Seconds())))
	}
	http.Error(w, err.Error(), status)
	return status
}
