package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/trace"

	"github.com/clewtrace/clew/kit/kithttp"
)

// upstreamError is a non-2xx answer from another service.
type upstreamError struct {
	Service string
	Status  int
	Message string
}

func (e *upstreamError) Error() string {
	return fmt.Sprintf("%s answered %d: %s", e.Service, e.Status, e.Message)
}

// callJSON sends in (nil: no body) to url and decodes a 2xx answer into out
// (nil: discard). route is url's path as a template ("/orders/{id}"), which
// names the client span. Headers in hdr are copied. Non-2xx answers are
// returned as *upstreamError carrying the callee's {"error": ...} message.
func callJSON(ctx context.Context, client *http.Client, service, method, url, route string, hdr http.Header, in, out any) error {
	ctx = withRoute(ctx, route)
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding request to %s: %w", service, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return fmt.Errorf("building request to %s: %w", service, err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("calling %s: %w", service, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading answer from %s: %w", service, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = http.StatusText(resp.StatusCode)
		}
		return &upstreamError{Service: service, Status: resp.StatusCode, Message: e.Error}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("decoding answer from %s: %w", service, err)
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fail answers {"error": msg}. For 5xx it hands err to kithttp first, so the
// server span gets an exception event naming the real cause; every failure is
// logged with the trace and span IDs.
func fail(w http.ResponseWriter, r *http.Request, log *slog.Logger, status int, err error) {
	ctx := r.Context()
	if status >= 500 {
		kithttp.RecordError(ctx, err)
		log.ErrorContext(ctx, "request failed", "status", status, "error", err)
	} else {
		log.WarnContext(ctx, "request rejected", "status", status, "error", err)
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// failUpstream passes a downstream 4xx on unchanged and turns anything else
// into 502 Bad Gateway.
func failUpstream(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var ue *upstreamError
	if errors.As(err, &ue) && ue.Status >= 400 && ue.Status < 500 {
		fail(w, r, log, ue.Status, err)
		return
	}
	fail(w, r, log, http.StatusBadGateway, err)
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decoding request body: %w", err)
	}
	return nil
}

// demoFail returns the forced failure requested for this request ("auth",
// "partner", "none" or "").
func demoFail(ctx context.Context) string {
	return baggage.FromContext(ctx).Member(demoFailKey).Value()
}

// shouldFail decides whether the named failure happens: forced by the
// demo.fail baggage member, suppressed by demo.fail=none, otherwise random
// with probability rate.
func shouldFail(ctx context.Context, name string, rate float64) bool {
	switch demoFail(ctx) {
	case name:
		return true
	case "none":
		return false
	}
	return rate > 0 && rand.Float64() < rate
}

// pause simulates work: it waits d unless ctx ends first, and records the
// wait on the current span so it is visible in the trace.
func pause(ctx context.Context, d time.Duration, why string) error {
	if d <= 0 {
		return nil
	}
	trace.SpanFromContext(ctx).AddEvent(why)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", why, ctx.Err())
	}
}

// jitter returns a random duration in [lo, hi).
func jitter(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + rand.N(hi-lo)
}
