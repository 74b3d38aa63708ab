package otlp

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Defaults for Config fields left at their zero value.
const (
	DefaultMaxRequestBytes  int64 = 64 << 20
	DefaultMaxInFlightBytes int64 = 256 << 20
	// DefaultMinBodyRate and DefaultBodyGrace: an OTLP/HTTP body must arrive
	// at 32 KiB/s on average after the first 10 s, or the request is answered
	// 408 and its connection closed. A 64 MiB body may take 34 minutes that
	// way, the server's 2-minute read timeout cuts it first; a 1 MiB batch
	// over a slow mobile link still fits easily.
	DefaultMinBodyRate int64 = 32 << 10
	DefaultBodyGrace         = 10 * time.Second
)

// DefaultCORSAllowedOrigins lets a web page served from the developer's own
// machine send spans; anything else must be configured explicitly.
func DefaultCORSAllowedOrigins() []string {
	return []string{"http://localhost:*", "http://127.0.0.1:*"}
}

// Config configures a Receiver. The zero value of every field except the
// addresses means "use the default".
type Config struct {
	// GRPCAddr and HTTPAddr are "host:port" listen addresses; port 0 picks a
	// free port; an empty string disables that transport.
	GRPCAddr, HTTPAddr string
	// MaxRequestBytes caps a request's size after decompression (default 64 MiB).
	// Larger requests get HTTP 413 / gRPC RESOURCE_EXHAUSTED, not retryable.
	MaxRequestBytes int64
	// MaxInFlightBytes bounds the decoded request bytes being processed at
	// once (default 256 MiB). Over it the receiver answers 503 + Retry-After /
	// UNAVAILABLE + RetryInfo instead of growing memory. Must be at least
	// MaxRequestBytes, or a maximal request could never be admitted.
	MaxInFlightBytes int64
	// MaxClientInFlightBytes is the most of MaxInFlightBytes one client (a
	// remote IP address) may hold at once (default: half of it, at least
	// MaxRequestBytes), so one client cannot starve the rest. It also sets
	// how many gRPC messages one client may be receiving at once (see
	// receiveGate).
	MaxClientInFlightBytes int64
	// CORSAllowedOrigins lists origin patterns allowed to POST from a browser.
	// "*" in the port position matches any port; a lone "*" allows every
	// origin. nil means DefaultCORSAllowedOrigins; an empty non-nil slice
	// allows no cross-origin requests.
	CORSAllowedOrigins []string
	// MinBodyRate (bytes per second, default DefaultMinBodyRate) and
	// BodyGrace (default DefaultBodyGrace): an OTLP/HTTP body that has not
	// delivered MinBodyRate×(elapsed−BodyGrace) bytes is cut
	// off with 408, so slow uploads cannot hold connections and budget.
	MinBodyRate int64
	BodyGrace   time.Duration
	// AuthToken, when set, requires "Authorization: Bearer <token>" on every
	// export (HTTP 401 / gRPC UNAUTHENTICATED). It is never logged.
	AuthToken string
}

// withDefaults returns cfg with zero fields filled in, or an error for values
// that cannot work.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.MaxRequestBytes < 0 || cfg.MaxInFlightBytes < 0 || cfg.MaxClientInFlightBytes < 0 {
		return cfg, errors.New("otlp: MaxRequestBytes, MaxInFlightBytes and MaxClientInFlightBytes must not be negative")
	}
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.MaxInFlightBytes == 0 {
		cfg.MaxInFlightBytes = max(DefaultMaxInFlightBytes, cfg.MaxRequestBytes)
	}
	if cfg.MaxInFlightBytes < cfg.MaxRequestBytes {
		return cfg, fmt.Errorf("otlp: MaxInFlightBytes (%d) is below MaxRequestBytes (%d): a maximal request would be refused forever",
			cfg.MaxInFlightBytes, cfg.MaxRequestBytes)
	}
	if cfg.MaxClientInFlightBytes == 0 {
		cfg.MaxClientInFlightBytes = max(cfg.MaxInFlightBytes/2, cfg.MaxRequestBytes)
	}
	if cfg.MaxClientInFlightBytes < cfg.MaxRequestBytes || cfg.MaxClientInFlightBytes > cfg.MaxInFlightBytes {
		return cfg, fmt.Errorf("otlp: MaxClientInFlightBytes (%d) must be between MaxRequestBytes (%d) and MaxInFlightBytes (%d)",
			cfg.MaxClientInFlightBytes, cfg.MaxRequestBytes, cfg.MaxInFlightBytes)
	}
	// gRPC takes the cap as an int; refuse what it cannot represent rather
	// than silently truncate.
	if cfg.MaxRequestBytes > int64(^uint32(0)>>1) {
		return cfg, fmt.Errorf("otlp: MaxRequestBytes %d exceeds 2 GiB", cfg.MaxRequestBytes)
	}
	if cfg.MinBodyRate <= 0 {
		cfg.MinBodyRate = DefaultMinBodyRate
	}
	if cfg.BodyGrace <= 0 {
		cfg.BodyGrace = DefaultBodyGrace
	}
	if cfg.CORSAllowedOrigins == nil {
		cfg.CORSAllowedOrigins = DefaultCORSAllowedOrigins()
	}
	return cfg, nil
}

// originPattern is one parsed entry of Config.CORSAllowedOrigins.
type originPattern struct {
	all     bool   // lone "*"
	scheme  string // lower case
	host    string // lower case, IPv6 without brackets
	port    string // "" when the origin has no explicit port
	anyPort bool
}

// parseOriginPattern accepts "*", "scheme://host", "scheme://host:port" and
// "scheme://host:*". Wildcards elsewhere are refused: a pattern like
// "https://*.example.com" would silently allow less (or more) than intended.
func parseOriginPattern(s string) (originPattern, error) {
	if s == "*" {
		return originPattern{all: true}, nil
	}
	scheme, host, port, err := splitOrigin(s)
	if err != nil {
		return originPattern{}, fmt.Errorf("otlp: CORS origin pattern %q: %w", s, err)
	}
	p := originPattern{scheme: scheme, host: host, port: port}
	if port == "*" {
		p.port, p.anyPort = "", true
	}
	if strings.Contains(p.host, "*") || strings.Contains(p.scheme, "*") || strings.Contains(p.port, "*") {
		return originPattern{}, fmt.Errorf("otlp: CORS origin pattern %q: '*' is only allowed as the whole port", s)
	}
	return p, nil
}

// splitOrigin splits a serialized origin "scheme://host[:port]" into lower
// case parts. It refuses paths, user info and queries, which never appear in
// an Origin header.
func splitOrigin(s string) (scheme, host, port string, err error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || scheme == "" || rest == "" {
		return "", "", "", errors.New("want scheme://host[:port]")
	}
	if strings.ContainsAny(rest, "/?#@ ") {
		return "", "", "", errors.New("want scheme://host[:port] without path, query or user info")
	}
	host = rest
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.HasSuffix(rest, "]") {
		h, p, splitErr := net.SplitHostPort(rest)
		if splitErr != nil {
			return "", "", "", fmt.Errorf("bad host:port: %w", splitErr)
		}
		if p == "" {
			return "", "", "", errors.New("empty port")
		}
		host, port = h, p
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	if host == "" {
		return "", "", "", errors.New("empty host")
	}
	return strings.ToLower(scheme), strings.ToLower(host), port, nil
}

// originAllowed reports whether the Origin header value matches a pattern.
func originAllowed(patterns []originPattern, origin string) bool {
	if origin == "" {
		return false
	}
	for _, p := range patterns {
		if p.all {
			return true
		}
	}
	scheme, host, port, err := splitOrigin(origin)
	if err != nil || port == "*" || strings.Contains(host, "*") {
		return false
	}
	for _, p := range patterns {
		if p.scheme == scheme && p.host == host && (p.anyPort || p.port == port) {
			return true
		}
	}
	return false
}
