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
	if consumer.IsPermanent(err) && !errors.Is(err, consumer.ErrOverloaded) {
		// A permanent error's text is written for the client (what was wrong
		// with the data).
		http.Error(w, err.Error(), http.StatusBadRequest)
		return http.StatusBadRequest
	}
	// Anything else is Clew's trouble: its text (file paths, the store's
	// state) stays in Clew's log and metrics.
	msg := "temporarily unable to store data, retry later"
	if errors.Is(err, consumer.ErrOverloaded) {
		msg = "server overloaded, retry later"
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(consumer.RetryAfter.Seconds())))
	http.Error(w, msg, http.StatusServiceUnavailable)
	return http.StatusServiceUnavailable
}
