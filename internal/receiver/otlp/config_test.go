package otlp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"defaults", Config{}, ""},
		{"negative cap", Config{MaxRequestBytes: -1}, "negative"},
		{"in-flight below cap", Config{MaxRequestBytes: 10 << 20, MaxInFlightBytes: 1 << 20}, "below MaxRequestBytes"},
		{"cap over 2 GiB", Config{MaxRequestBytes: 3 << 30, MaxInFlightBytes: 4 << 30}, "exceeds 2 GiB"},
		{"subdomain wildcard", Config{CORSAllowedOrigins: []string{"https://*.example.com"}}, "only allowed as the whole port"},
		{"path in origin", Config{CORSAllowedOrigins: []string{"https://example.com/app"}}, "without path"},
		{"no scheme", Config{CORSAllowedOrigins: []string{"example.com"}}, "scheme://host"},
		{"ipv6 any port", Config{CORSAllowedOrigins: []string{"http://[::1]:*"}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, &sink{}, nil, nil, nil)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestNewRequiresTraces(t *testing.T) {
	if _, err := New(Config{}, nil, nil, nil, nil); err == nil {
		t.Fatal("New accepted a nil traces consumer")
	}
}

func TestNewDuplicateRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(Config{}, &sink{}, nil, reg, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{}, &sink{}, nil, reg, nil); err == nil {
		t.Fatal("second receiver on one registry: want a registration error")
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxRequestBytes != 64<<20 || cfg.MaxInFlightBytes != 256<<20 || len(cfg.CORSAllowedOrigins) != 2 {
		t.Errorf("defaults %+v", cfg)
	}
	// A cap above the default in-flight bound raises the bound with it.
	cfg, err = Config{MaxRequestBytes: 512 << 20}.withDefaults()
	if err != nil || cfg.MaxInFlightBytes != 512<<20 {
		t.Errorf("in-flight %d err %v", cfg.MaxInFlightBytes, err)
	}
}

func TestOriginAllowed(t *testing.T) {
	tests := []struct {
		patterns []string
		origin   string
		want     bool
	}{
		{[]string{"http://localhost:*"}, "http://localhost:3000", true},
		{[]string{"http://localhost:*"}, "http://LOCALHOST:3000", true},
		{[]string{"http://localhost:*"}, "http://localhost", true},
		{[]string{"http://localhost:*"}, "https://localhost:3000", false},
		{[]string{"http://localhost:*"}, "http://localhost.evil.com:3000", false},
		{[]string{"http://localhost:*"}, "http://evil.com#localhost:1", false},
		{[]string{"http://localhost:3000"}, "http://localhost:3001", false},
		{[]string{"http://localhost"}, "http://localhost", true},
		{[]string{"http://localhost"}, "http://localhost:80", false},
		{[]string{"http://[::1]:*"}, "http://[::1]:8080", true},
		{[]string{"*"}, "null", true},
		{[]string{"http://localhost:*"}, "null", false},
		{[]string{"http://localhost:*"}, "", false},
		{nil, "http://localhost:3000", false},
	}
	for _, tc := range tests {
		var ps []originPattern
		for _, s := range tc.patterns {
			p, err := parseOriginPattern(s)
			if err != nil {
				t.Fatalf("pattern %q: %v", s, err)
			}
			ps = append(ps, p)
		}
		if got := originAllowed(ps, tc.origin); got != tc.want {
			t.Errorf("originAllowed(%q, %q) = %v, want %v", tc.patterns, tc.origin, got, tc.want)
		}
	}
}

// zeros is an endless stream of zero bytes, like a decompressed bomb.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestReadLimited(t *testing.T) {
	const limit = 100 << 10
	tests := []struct {
		name     string
		src      io.Reader
		hint     int64
		budget   int64
		wantLen  int
		wantErr  error
		wantHeld int64 // upper bound on the lease after the read
	}{
		{"small", bytes.NewReader(make([]byte, 10)), 0, limit, 10, nil, 32 << 10},
		{"exactly the limit", bytes.NewReader(make([]byte, limit)), 0, limit, limit, nil, limit},
		{"exactly the limit with hint", bytes.NewReader(make([]byte, limit)), limit, limit, limit, nil, limit},
		{"one over", bytes.NewReader(make([]byte, limit+1)), 0, limit, 0, errTooLarge, limit},
		{"endless", zeros{}, 0, limit, 0, errTooLarge, limit},
		{"hint too small", bytes.NewReader(make([]byte, 50<<10)), 10, limit, 50 << 10, nil, limit},
		{"hint too large", bytes.NewReader(make([]byte, 10)), 5000, limit, 10, nil, 5001},
		{"budget exhausted", bytes.NewReader(make([]byte, 50<<10)), 0, 40 << 10, 0, errNoBudget, 40 << 10},
		{"read error", io.MultiReader(bytes.NewReader([]byte{1}), errReader{}), 0, limit, 0, errBoom, 32 << 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBudget(tc.budget, tc.budget)
			l := &lease{b: b}
			got, err := readLimited(tc.src, limit, tc.hint, l)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if len(got) != tc.wantLen {
				t.Errorf("len %d, want %d", len(got), tc.wantLen)
			}
			if l.held > tc.wantHeld || int64(cap(got)) > l.held {
				t.Errorf("lease %d (bound %d), buffer cap %d", l.held, tc.wantHeld, cap(got))
			}
			l.close()
			if b.used.Load() != 0 {
				t.Errorf("budget not returned: %d", b.used.Load())
			}
		})
	}
}

var errBoom = errors.New("boom")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBoom }
