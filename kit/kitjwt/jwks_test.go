package kitjwt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid, alg string, pub *rsa.PublicKey) map[string]string {
	m := map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())}
	if alg != "" {
		m["alg"] = alg
	}
	return m
}

func ecJWK(kid string, pub *ecdsa.PublicKey) map[string]string {
	raw, _ := pub.Bytes() // 0x04 || X || Y
	size := (len(raw) - 1) / 2
	return map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(raw[1 : 1+size]), "y": b64(raw[1+size:])}
}

// jwksServer serves whatever key set is current and counts fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []map[string]string
	status  int
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T, keys ...map[string]string) *jwksServer {
	s := &jwksServer{keys: keys, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.status != http.StatusOK {
			w.WriteHeader(s.status)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(status int, keys ...map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.keys = status, keys
}

// fakeClock is advanced by hand, so cache expiry needs no sleeping.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func token(t *testing.T, m jwt.SigningMethod, key any, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, jwt.MapClaims{"sub": "u1", "aud": "svc", "exp": time.Now().Add(time.Hour).Unix()})
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func reasonOf(err error) string {
	var ve *VerificationError
	if errors.As(err, &ve) {
		return ve.Reason
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

func TestJWKSRotationAndRefreshLimits(t *testing.T) {
	keyA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyB, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	srv := newJWKSServer(t, rsaJWK("a", "RS256", &keyA.PublicKey))
	v, err := NewVerifier(t.Context(), Config{
		JWKSURL: srv.URL, Audience: "svc",
		JWKSMinRefreshInterval: time.Minute, JWKSCacheTTL: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	v.jwks.now = clock.Now

	steps := []struct {
		name        string
		before      func()
		token       string
		wantReason  string
		wantFetches int32
	}{
		{name: "first token fetches", token: token(t, jwt.SigningMethodRS256, keyA, "a"), wantFetches: 1},
		{name: "cached", token: token(t, jwt.SigningMethodRS256, keyA, "a"), wantFetches: 1},
		{name: "rotated key, refetch allowed after the interval",
			before: func() { srv.set(http.StatusOK, rsaJWK("b", "RS256", &keyB.PublicKey)); clock.Add(2 * time.Minute) },
			token:  token(t, jwt.SigningMethodRS256, keyB, "b"), wantFetches: 2},
		{name: "retired key rejected without refetch", token: token(t, jwt.SigningMethodRS256, keyA, "a"),
			wantReason: ReasonUnknownKey, wantFetches: 2},
		{name: "forged kid flood is rate limited", token: token(t, jwt.SigningMethodRS256, keyA, "forged-1"),
			wantReason: ReasonUnknownKey, wantFetches: 2},
		{name: "forged kid flood is rate limited again", token: token(t, jwt.SigningMethodRS256, keyA, "forged-2"),
			wantReason: ReasonUnknownKey, wantFetches: 2},
		{name: "after the interval an unknown kid refetches once", before: func() { clock.Add(time.Minute) },
			token: token(t, jwt.SigningMethodRS256, keyA, "forged-3"), wantReason: ReasonUnknownKey, wantFetches: 3},
		{name: "cache expiry refetches a known kid", before: func() { clock.Add(2 * time.Hour) },
			token: token(t, jwt.SigningMethodRS256, keyB, "b"), wantFetches: 4},
		{name: "IdP down: stale key still verifies",
			before: func() { srv.set(http.StatusInternalServerError); clock.Add(2 * time.Hour) },
			token:  token(t, jwt.SigningMethodRS256, keyB, "b"), wantFetches: 5},
		{name: "wrong key for kid", before: func() { srv.set(http.StatusOK, rsaJWK("b", "RS256", &keyB.PublicKey)) },
			token: token(t, jwt.SigningMethodRS256, keyA, "b"), wantReason: ReasonInvalidSignature, wantFetches: 5},
		{name: "HS256 signed with JWKS modulus", token: token(t, jwt.SigningMethodHS256, keyB.PublicKey.N.Bytes(), "b"),
			wantReason: ReasonUnsupportedAlgorithm, wantFetches: 5},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		_, err := v.Verify(t.Context(), st.token)
		if got := reasonOf(err); got != st.wantReason {
			t.Errorf("%s: reason = %q, want %q", st.name, got, st.wantReason)
		}
		if got := srv.fetches.Load(); got != st.wantFetches {
			t.Errorf("%s: %d fetches, want %d", st.name, got, st.wantFetches)
		}
	}
}

func TestJWKSKeyKinds(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		keys       []map[string]string
		token      string
		wantReason string
	}{
		{name: "ES256", keys: []map[string]string{ecJWK("e", &ecKey.PublicKey)},
			token: token(t, jwt.SigningMethodES256, ecKey, "e")},
		{name: "single key, no kid in token", keys: []map[string]string{rsaJWK("only", "", &rsaKey.PublicKey)},
			token: token(t, jwt.SigningMethodRS256, rsaKey, "")},
		{name: "no kid with several keys", keys: []map[string]string{rsaJWK("r", "", &rsaKey.PublicKey), ecJWK("e", &ecKey.PublicKey)},
			token: token(t, jwt.SigningMethodRS256, rsaKey, ""), wantReason: ReasonUnknownKey},
		{name: "JWK pins another alg", keys: []map[string]string{rsaJWK("r", "RS384", &rsaKey.PublicKey)},
			token: token(t, jwt.SigningMethodRS256, rsaKey, "r"), wantReason: ReasonUnsupportedAlgorithm},
		{name: "RSA token against an EC kid", keys: []map[string]string{ecJWK("e", &ecKey.PublicKey)},
			token: token(t, jwt.SigningMethodRS256, rsaKey, "e"), wantReason: ReasonUnsupportedAlgorithm},
		{name: "symmetric JWK refused", keys: []map[string]string{{"kty": "oct", "kid": "s", "k": b64([]byte("secret"))}},
			token: token(t, jwt.SigningMethodRS256, rsaKey, "s"), wantReason: ReasonKeysUnavailable},
		{name: "encryption key ignored", keys: []map[string]string{
			func() map[string]string { m := rsaJWK("r", "", &rsaKey.PublicKey); m["use"] = "enc"; return m }(),
			ecJWK("e", &ecKey.PublicKey)},
			token: token(t, jwt.SigningMethodRS256, rsaKey, "r"), wantReason: ReasonUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t, tt.keys...)
			v, err := NewVerifier(t.Context(), Config{JWKSURL: srv.URL, Audience: "svc"})
			if err != nil {
				t.Fatal(err)
			}
			id, err := v.Verify(t.Context(), tt.token)
			if got := reasonOf(err); got != tt.wantReason {
				t.Fatalf("reason = %q, want %q", got, tt.wantReason)
			}
			if tt.wantReason == "" && id.UserID != "u1" {
				t.Errorf("user = %q", id.UserID)
			}
		})
	}
}

func TestParseJWKSRejectsBadKeys(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	offCurve := ecJWK("e", &ecKey.PublicKey)
	y, _ := base64.RawURLEncoding.DecodeString(offCurve["y"])
	y[len(y)-1] ^= 1
	offCurve["y"] = b64(y)

	tests := []struct {
		name, doc, wantErr string
	}{
		{"not json", `{`, "decoding JWKS"},
		{"empty", `{"keys":[]}`, "no usable"},
		{"short RSA", mustJSON(map[string]any{"keys": []any{rsaJWK("s", "", &small.PublicKey)}}), "too short"},
		{"point off curve", mustJSON(map[string]any{"keys": []any{offCurve}}), "kid \"e\""},
		{"bad base64", `{"keys":[{"kty":"RSA","kid":"x","n":"!!","e":"AQAB"}]}`, "n:"},
		{"unknown kty", `{"keys":[{"kty":"XYZ","kid":"x"}]}`, "unsupported kty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseJWKS([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestNewVerifierValidatesConfig(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no key source", Config{Audience: "a"}, "exactly one"},
		{"two key sources", Config{HMACSecret: secret, JWKSURL: "http://x", Audience: "a"}, "exactly one"},
		{"no audience", Config{HMACSecret: secret}, "Audience"},
		{"short secret", Config{HMACSecret: []byte("short"), Audience: "a"}, "32 bytes"},
		{"none algorithm", Config{HMACSecret: secret, Audience: "a", Algorithms: []string{"none"}}, "not supported"},
		{"RSA alg with HMAC secret", Config{HMACSecret: secret, Audience: "a", Algorithms: []string{"RS256"}}, "does not fit"},
		{"HMAC alg with JWKS", Config{JWKSURL: "http://x", Audience: "a", Algorithms: []string{"HS256"}}, "does not fit"},
		{"missing PEM", Config{PublicKeyFile: "/does/not/exist.pem", Audience: "a"}, "reading public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVerifier(t.Context(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestClaimMapping(t *testing.T) {
	claims := map[string]any{
		"sub":          "u",
		"uid":          float64(12345),
		"scope":        "read write",
		"realm_access": map[string]any{"roles": []any{"a", "b", 3}},
	}
	if got := claimStrings(claims, "realm_access.roles"); strings.Join(got, ",") != "a,b" {
		t.Errorf("nested roles = %v", got)
	}
	if got := claimStrings(claims, "scope"); strings.Join(got, ",") != "read,write" {
		t.Errorf("space-separated roles = %v", got)
	}
	if got, ok := claimString(claims, "uid"); !ok || got != "12345" {
		t.Errorf("numeric user = %q %v", got, ok)
	}
	if _, ok := claimString(claims, "realm_access.missing"); ok {
		t.Error("missing nested claim reported present")
	}
}
