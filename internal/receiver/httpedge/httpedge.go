// Package httpedge holds what the legacy receivers' HTTP endpoints (Jaeger,
// Zipkin) share at the edge: the optional ingest token, and the mapping from
// a pipeline error to an HTTP status. The OTLP receiver does both itself
// because it must answer in OTLP's error format, with the same statuses.
package httpedge

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"

	"github.com/clewtrace/clew/internal/consumer"
)

// Bearer returns next unchanged when token is empty; otherwise requests
// without "Authorization: Bearer <token>" get 401 and never reach next.
// The token is compared in constant time and never logged.
func Bearer(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="clew"`)
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

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
