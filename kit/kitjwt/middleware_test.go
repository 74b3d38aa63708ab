package kitjwt_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/clewtrace/clew/kit"
	"github.com/clewtrace/clew/kit/kithttp"
	"github.com/clewtrace/clew/kit/kitjwt"
)

const audience = "orders"

// testSecret is only a test fixture.
const testSecretText = "0123456789abcdef0123456789abcdef-test-only"

var testSecret = []byte(testSecretText)

// syncBuffer lets the race detector see that log writes and reads do not overlap.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness is one instrumented service behind the JWT middleware, with every
// span and log line captured.
type harness struct {
	exp     *tracetest.InMemoryExporter
	tp      *sdktrace.TracerProvider
	logs    *syncBuffer
	logger  *slog.Logger
	httpOpt []kithttp.Option
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{exp: tracetest.NewInMemoryExporter(), logs: &syncBuffer{}}
	h.tp = sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(kit.NewBaggageSpanProcessor()),
		sdktrace.WithSyncer(h.exp),
	)
	t.Cleanup(func() { _ = h.tp.Shutdown(context.Background()) })
	h.logger = slog.New(kit.NewLogHandler(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	h.httpOpt = []kithttp.Option{
		kithttp.WithTracerProvider(h.tp),
		kithttp.WithPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})),
	}
	return h
}

func (h *harness) serve(v *kitjwt.Verifier, next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /orders/{id}", next)
	return kithttp.Middleware(h.httpOpt...)(v.Middleware(mux))
}

// assertNoLeak fails when the token, or its signature segment, appears in
// any exported span field or log line.
func (h *harness) assertNoLeak(t *testing.T, token string) {
	t.Helper()
	if token == "" {
		return
	}
	needles := []string{token}
	if sig := token[strings.LastIndexByte(token, '.')+1:]; len(sig) > 8 {
		needles = append(needles, sig)
	}
	var hay []string
	for _, s := range h.exp.GetSpans() {
		hay = append(hay, s.Name, s.Status.Description)
		for _, a := range s.Attributes {
			hay = append(hay, string(a.Key), a.Value.Emit())
		}
		for _, e := range s.Events {
			hay = append(hay, e.Name)
			for _, a := range e.Attributes {
				hay = append(hay, string(a.Key), a.Value.Emit())
			}
		}
		for _, l := range s.Links {
			for _, a := range l.Attributes {
				hay = append(hay, a.Value.Emit())
			}
		}
	}
	hay = append(hay, h.logs.String())
	for _, n := range needles {
		for _, s := range hay {
			if strings.Contains(s, n) {
				t.Fatalf("token material leaked into telemetry: %q", s)
			}
		}
	}
}

func sign(t *testing.T, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return s
}

func validClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"sub":   "user-17",
		"aud":   audience,
		"iss":   "https://id.example.com",
		"exp":   now.Add(time.Hour).Unix(),
		"iat":   now.Unix(),
		"roles": []string{"admin", "billing"},
		"sid":   "sess-9f2c",
	}
}

func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	c[k] = v
	return c
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t *testing.T, pub any) (string, []byte) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(bytes.Replace(payload, []byte("user-17"), []byte("user-18"), 1))
	return strings.Join(parts, ".")
}

type outcome struct {
	status int
	body   map[string]string
	id     *kitjwt.Identity
}

func (h *harness) do(t *testing.T, handler http.Handler, authorization string) outcome {
	t.Helper()
	req := httptest.NewRequest("GET", "/orders/1", nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	var out outcome
	handler.ServeHTTP(rec, req)
	out.status = rec.Code
	if rec.Code == http.StatusUnauthorized {
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("401 Content-Type = %q", ct)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out.body); err != nil || out.body["error"] == "" {
			t.Errorf("401 body %q is not {\"error\": ...}: %v", rec.Body.String(), err)
		}
		if strings.Contains(rec.Body.String(), strings.TrimPrefix(authorization, "Bearer ")) && authorization != "" {
			t.Errorf("401 body echoes the token")
		}
	}
	return out
}

func TestMiddleware(t *testing.T) {
	rsaPriv := rsaKey(t)
	otherRSA := rsaKey(t)
	pemPath, pemBytes := writePEM(t, &rsaPriv.PublicKey)

	hmacCfg := kitjwt.Config{HMACSecret: testSecret, Audience: audience, Issuer: "https://id.example.com"}
	rsaCfg := kitjwt.Config{PublicKeyFile: pemPath, Audience: audience}

	tests := []struct {
		name       string
		cfg        kitjwt.Config
		header     func(t *testing.T) string
		wantReason string // "" means accepted
	}{
		{name: "HS256 accepted", cfg: hmacCfg,
			header: func(t *testing.T) string {
				return "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, "", validClaims())
			}},
		{name: "RS256 from PEM accepted, lowercase scheme", cfg: rsaCfg,
			header: func(t *testing.T) string {
				return "bearer " + sign(t, jwt.SigningMethodRS256, rsaPriv, "", validClaims())
			}},
		{name: "missing header", cfg: hmacCfg, header: func(*testing.T) string { return "" }, wantReason: kitjwt.ReasonMissingToken},
		{name: "basic auth is not a bearer token", cfg: hmacCfg,
			header: func(*testing.T) string { return "Basic dXNlcjpwYXNz" }, wantReason: kitjwt.ReasonMissingToken},
		{name: "expired", cfg: hmacCfg, wantReason: kitjwt.ReasonExpired,
			header: func(t *testing.T) string {
				return "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, "", with(validClaims(), "exp", time.Now().Add(-time.Minute).Unix()))
			}},
		{name: "no expiry", cfg: hmacCfg, wantReason: kitjwt.ReasonMissingClaim,
			header: func(t *testing.T) string {
				c := validClaims()
				delete(c, "exp")
				return "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, "", c)
			}},
		{name: "wrong audience", cfg: hmacCfg, wantReason: kitjwt.ReasonInvalidAudience,
			header: func(t *testing.T) string {
				return "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, "", with(validClaims(), "aud", "payments"))
			}},
		{name: "wrong issuer", cfg: hmacCfg, wantReason: kitjwt.ReasonInvalidIssuer,
			header: func(t *testing.T) string {
				return "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, "", with(validClaims(), "iss", "https://evil.example.com"))
			}},
		{name: "tampered payload", cfg: hmacCfg, wantReason: kitjwt.ReasonInvalidSignature,
			header: func(t *testing.T) string {
				return "Bearer " + tamper(t, sign(t, jwt.SigningMethodHS256, testSecret, "", validClaims()))
			}},
		{name: "wrong HMAC secret", cfg: hmacCfg, wantReason: kitjwt.ReasonInvalidSignature,
			header: func(t *testing.T) string {
				return "Bearer " + sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), "", validClaims())
			}},
		{name: "HS256 signed with the RSA public key (alg confusion)", cfg: rsaCfg, wantReason: kitjwt.ReasonUnsupportedAlgorithm,
			header: func(t *testing.T) string {
				return "Bearer " + sign(t, jwt.SigningMethodHS256, pemBytes, "", validClaims())
			}},
		{name: "alg none against RSA", cfg: rsaCfg, wantReason: kitjwt.ReasonUnsupportedAlgorithm,
			header: func(t *testing.T) string {
				return "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", validClaims())
			}},
		{name: "alg none against HMAC", cfg: hmacCfg, wantReason: kitjwt.ReasonUnsupportedAlgorithm,
			header: func(t *testing.T) string {
				return "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", validClaims())
			}},
		{name: "RS256 by another key", cfg: rsaCfg, wantReason: kitjwt.ReasonInvalidSignature,
			header: func(t *testing.T) string {
				return "Bearer " + sign(t, jwt.SigningMethodRS256, otherRSA, "", validClaims())
			}},
		{name: "RS512 not pinned", cfg: rsaCfg, wantReason: kitjwt.ReasonUnsupportedAlgorithm,
			header: func(t *testing.T) string {
				return "Bearer " + sign(t, jwt.SigningMethodRS512, rsaPriv, "", validClaims())
			}},
		{name: "garbage", cfg: hmacCfg, wantReason: kitjwt.ReasonMalformed,
			header: func(*testing.T) string { return "Bearer not.a.jwt-at-all" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			cfg := tt.cfg
			cfg.Logger = h.logger
			v, err := kitjwt.NewVerifier(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			var got *kitjwt.Identity
			handler := h.serve(v, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got, _ = kitjwt.IdentityFromContext(r.Context())
				h.logger.InfoContext(r.Context(), "handled")
			}))
			header := tt.header(t)
			out := h.do(t, handler, header)
			token := strings.TrimSpace(header[min(len(header), len("Bearer ")):])
			h.assertNoLeak(t, token)

			spans := h.exp.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("got %d spans, want the server span", len(spans))
			}
			span := spans[0]
			attrs := attribute.NewSet(span.Attributes...)
			if tt.wantReason != "" {
				if out.status != http.StatusUnauthorized {
					t.Fatalf("status = %d, want 401", out.status)
				}
				if got != nil {
					t.Fatal("handler ran for a rejected request")
				}
				var reasons []string
				for _, e := range span.Events {
					if e.Name == kitjwt.FailureEvent {
						s := attribute.NewSet(e.Attributes...)
						v, _ := s.Value("reason")
						reasons = append(reasons, v.AsString())
					}
				}
				if len(reasons) != 1 || reasons[0] != tt.wantReason {
					t.Errorf("failure events = %v, want one with reason %q", reasons, tt.wantReason)
				}
				if attrs.HasValue("enduser.id") {
					t.Error("enduser.id set on a rejected request")
				}
				return
			}
			if out.status != http.StatusOK {
				t.Fatalf("status = %d, want 200 (body %v)", out.status, out.body)
			}
			if got == nil || got.UserID != "user-17" || got.SessionID != "sess-9f2c" || strings.Join(got.Roles, ",") != "admin,billing" {
				t.Fatalf("identity = %+v", got)
			}
			for k, want := range map[string]string{"enduser.id": "user-17", "user.id": "user-17", "session.id": "sess-9f2c"} {
				if v, _ := attrs.Value(attribute.Key(k)); v.AsString() != want {
					t.Errorf("%s = %q, want %q", k, v.AsString(), want)
				}
			}
			if v, _ := attrs.Value("user.roles"); fmt.Sprint(v.AsStringSlice()) != "[admin billing]" {
				t.Errorf("user.roles = %v", v.AsStringSlice())
			}
			if span.Name != "GET /orders/{id}" {
				t.Errorf("span name = %q: the route pattern did not make it through the JWT middleware", span.Name)
			}
			if !strings.Contains(h.logs.String(), span.SpanContext.TraceID().String()) {
				t.Error("handler log line lacks the trace_id")
			}
		})
	}
}

// TestSessionBaggageReachesDownstream runs two services: the front verifies
// the JWT and calls the back over kithttp.NewTransport; the back never sees
// the token but its spans carry session.id from baggage.
func TestSessionBaggageReachesDownstream(t *testing.T) {
	h := newHarness(t)
	v, err := kitjwt.NewVerifier(t.Context(), kitjwt.Config{HMACSecret: testSecret, Audience: audience, Logger: h.logger})
	if err != nil {
		t.Fatal(err)
	}
	var downstreamAuth string
	backMux := http.NewServeMux()
	backMux.HandleFunc("GET /stock/{sku}", func(w http.ResponseWriter, r *http.Request) {
		downstreamAuth = r.Header.Get("Authorization")
		// A child span in the back service gets session.id too.
		_, child := h.tp.Tracer("back").Start(r.Context(), "db query")
		child.End()
		io.WriteString(w, "3")
	})
	back := httptest.NewServer(kithttp.Middleware(h.httpOpt...)(backMux))
	defer back.Close()

	client := &http.Client{Transport: kithttp.NewTransport(nil, h.httpOpt...)}
	front := h.serve(v, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), "GET", back.URL+"/stock/abc", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}))
	token := sign(t, jwt.SigningMethodHS256, testSecret, "", validClaims())
	if out := h.do(t, front, "Bearer "+token); out.status != http.StatusOK {
		t.Fatalf("status %d", out.status)
	}
	if downstreamAuth != "" {
		t.Error("the token itself was forwarded")
	}
	byName := map[string]tracetest.SpanStub{}
	for _, s := range h.exp.GetSpans() {
		byName[s.Name] = s
	}
	for _, name := range []string{"GET /stock/{sku}", "db query", "HTTP GET"} { // server, child, client
		s, ok := byName[name]
		if !ok {
			t.Fatalf("no span %q among %d", name, len(byName))
		}
		set := attribute.NewSet(s.Attributes...)
		if v, _ := set.Value("session.id"); v.AsString() != "sess-9f2c" {
			t.Errorf("span %q: session.id = %q, want it from baggage", name, v.AsString())
		}
		if set.HasValue("enduser.id") {
			t.Errorf("span %q: enduser.id should stay in the front service", name)
		}
	}
	h.assertNoLeak(t, token)
}
