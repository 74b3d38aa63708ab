// Package clewjson holds the conventions shared by Clew's own HTTP endpoints
// under /api/clew/ (analysis, errors, logs, span metrics): one error shape
// ({"error": "message"}, the status in the HTTP status line; docs/api.md), one
// JSON writer, the answers for unknown paths and methods, and the parser of
// time parameters. The Jaeger and Tempo APIs keep the shapes of the projects
// they imitate and do not use it.
package clewjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// ErrorBody is the one error shape of every endpoint under /api/clew/.
type ErrorBody struct {
	Error string `json:"error"`
}

// Write answers status with v as JSON. v is encoded completely before the
// status goes out, so a value that cannot be encoded becomes a clean 500 in
// the error shape; that encoding error is returned for the caller to log.
func Write(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	encErr := json.NewEncoder(&buf).Encode(v)
	if encErr != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"encoding response failed"}` + "\n")
		encErr = fmt.Errorf("encoding response: %w", encErr)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // a failed write is a client that went away: nothing left to tell it
	return encErr
}

// Error answers status with msg in the error shape.
func Error(w http.ResponseWriter, status int, msg string) {
	_ = Write(w, status, ErrorBody{Error: msg}) // a string always encodes
}

// Fail answers err in the error shape; its signature is recovery.Fail's.
func Fail(w http.ResponseWriter, _ *http.Request, status int, err error) {
	Error(w, status, err.Error())
}

// NoEndpoint answers 404 naming the method and path asked for.
func NoEndpoint(w http.ResponseWriter, r *http.Request) {
	Error(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path))
}

// OnlyGET answers 405 for a read-only endpoint asked with another method.
func OnlyGET(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "GET, HEAD")
	Error(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: only GET", r.Method, r.URL.Path))
}

// ParseTime reads a time parameter named name: Unix microseconds (what
// Jaeger's API and UI send) or RFC 3339 with optional fractional seconds. An
// empty value is the zero time, for the caller's default. Times are UTC.
func ParseTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMicro(n).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want RFC 3339 or Unix microseconds", name, s)
	}
	return t.UTC(), nil
}
