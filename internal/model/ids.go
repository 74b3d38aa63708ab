package model

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// TraceID is a 128-bit trace identifier. 64-bit IDs from legacy tracers are
// left-padded with zeros.
type TraceID [16]byte

// SpanID is a 64-bit span identifier.
type SpanID [8]byte

// IsZero reports whether the ID is all zero bytes (invalid in OTLP).
func (t TraceID) IsZero() bool { return t == TraceID{} }

// IsZero reports whether the ID is all zero bytes (invalid in OTLP).
func (s SpanID) IsZero() bool { return s == SpanID{} }

// String is the 32-digit lowercase hex form.
func (t TraceID) String() string { return hex.EncodeToString(t[:]) }

// String is the 16-digit lowercase hex form.
func (s SpanID) String() string { return hex.EncodeToString(s[:]) }

// ParseTraceID accepts 1 to 32 hex digits in either case; shorter IDs (Jaeger's
// 64-bit IDs, IDs with leading zeros stripped) are left-padded with zeros.
func ParseTraceID(s string) (TraceID, error) {
	var id TraceID
	if err := parseHexID(id[:], s); err != nil {
		return TraceID{}, fmt.Errorf("trace ID %q: %w", s, err)
	}
	return id, nil
}

// ParseSpanID accepts 1 to 16 hex digits in either case, left-padded.
func ParseSpanID(s string) (SpanID, error) {
	var id SpanID
	if err := parseHexID(id[:], s); err != nil {
		return SpanID{}, fmt.Errorf("span ID %q: %w", s, err)
	}
	return id, nil
}

func parseHexID(dst []byte, s string) error {
	if s == "" {
		return fmt.Errorf("empty")
	}
	if len(s) > 2*len(dst) {
		return fmt.Errorf("longer than %d hex digits", 2*len(dst))
	}
	padded := strings.Repeat("0", 2*len(dst)-len(s)) + s
	if _, err := hex.Decode(dst, []byte(padded)); err != nil {
		return fmt.Errorf("not hexadecimal")
	}
	return nil
}
