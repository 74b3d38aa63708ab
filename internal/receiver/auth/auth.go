// Package auth guards the legacy receivers' HTTP endpoints with the optional
// ingest token (Authorization: Bearer <token>). The OTLP receiver has its own
// check because it must answer in OTLP's error format.
package auth

import (
	"crypto/subtle"
	"net/http"
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
