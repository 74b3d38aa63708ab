// Package kitjwt verifies "Authorization: Bearer <jwt>" tokens and turns the
// verified claims into trace data: enduser.id, user.id, user.roles and
// session.id on the server span, the session ID in W3C baggage for downstream
// services, and the Identity on the request context.
//
// Keys come from an HMAC secret, a PEM file (RSA, ECDSA or Ed25519 public key
// or certificate) or a JWKS URL, which is cached and refetched when a token
// names an unknown key ID. The accepted algorithms are pinned per key source,
// so "alg: none" and HMAC/RSA confusion are rejected before any key is used.
// Expiry and audience are always checked, the issuer when configured.
//
// The token itself never reaches a span, an event, a log or an error message:
// failures are reported by a short machine-readable reason.
package kitjwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Config says where keys come from and how claims map to an Identity. Set
// exactly one of HMACSecret, PublicKeyFile and JWKSURL.
type Config struct {
	HMACSecret []byte
	// PublicKeyFile is a PEM file with a PUBLIC KEY, RSA PUBLIC KEY or
	// CERTIFICATE block.
	PublicKeyFile string
	JWKSURL       string

	// Audience is required: a token minted for another service must not work here.
	Audience string
	// Issuer is checked when set.
	Issuer string
	// Algorithms overrides the accepted "alg" values. Defaults: HS256 for
	// HMAC; for a PEM key the one algorithm its type and curve imply; RS256
	// and ES256 for JWKS. Mixing HMAC with public keys is refused.
	Algorithms []string
	// Leeway tolerates clock skew on exp, nbf and iat.
	Leeway time.Duration

	// Claim names, as dotted paths into nested objects
	// ("realm_access.roles"). Defaults: "sub", "roles", "sid".
	UserClaim    string
	RolesClaim   string
	SessionClaim string

	// JWKS fetching. Defaults: a client with a 10 s timeout, a one-hour
	// cache, and at most one refetch per minute caused by unknown key IDs
	// (so forged kids cannot turn the service into a JWKS flooder).
	HTTPClient             *http.Client
	JWKSCacheTTL           time.Duration
	JWKSMinRefreshInterval time.Duration

	// Logger receives verification failures (reason only). Default slog.Default().
	Logger *slog.Logger
}

// Identity is what a verified token says about the caller.
type Identity struct {
	UserID    string
	Roles     []string
	SessionID string
	// Claims are all verified claims, for application-specific checks.
	Claims map[string]any
}

// Reasons reported by VerificationError, in span events and in logs.
const (
	ReasonMissingToken         = "missing_token"
	ReasonMalformed            = "malformed"
	ReasonUnsupportedAlgorithm = "unsupported_algorithm"
	ReasonInvalidSignature     = "invalid_signature"
	ReasonUnknownKey           = "unknown_key"
	ReasonKeysUnavailable      = "keys_unavailable"
	ReasonExpired              = "expired"
	ReasonNotYetValid          = "not_yet_valid"
	ReasonInvalidAudience      = "invalid_audience"
	ReasonInvalidIssuer        = "invalid_issuer"
	ReasonMissingClaim         = "missing_claim"
	ReasonInvalidClaims        = "invalid_claims"
)

// VerificationError is returned by Verify. Reason is safe to log and to show
// clients; the wrapped error may describe the token and is for debugging only.
type VerificationError struct {
	Reason string
	Err    error
}

func (e *VerificationError) Error() string { return "jwt verification failed: " + e.Reason }

// Unwrap exposes the underlying jwt error for errors.Is (jwt.ErrTokenExpired...).
func (e *VerificationError) Unwrap() error { return e.Err }

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	cfg     Config
	parser  *jwt.Parser
	key     any // HMAC secret or PEM public key; nil with JWKS
	jwks    *jwksCache
	logger  *slog.Logger
	allowed []string
}

// NewVerifier validates cfg and loads the key. With a JWKS URL nothing is
// fetched yet: the first token triggers the fetch, so a service can start
// while its identity provider is still coming up.
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	_ = ctx // reserved: an eager JWKS fetch would use it
	sources := 0
	for _, set := range []bool{len(cfg.HMACSecret) > 0, cfg.PublicKeyFile != "", cfg.JWKSURL != ""} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return nil, errors.New("kitjwt: set exactly one of HMACSecret, PublicKeyFile, JWKSURL")
	}
	if cfg.Audience == "" {
		return nil, errors.New("kitjwt: Audience is required")
	}
	if cfg.UserClaim == "" {
		cfg.UserClaim = "sub"
	}
	if cfg.RolesClaim == "" {
		cfg.RolesClaim = "roles"
	}
	if cfg.SessionClaim == "" {
		cfg.SessionClaim = "sid"
	}
	v := &Verifier{cfg: cfg, logger: cfg.Logger}
	if v.logger == nil {
		v.logger = slog.Default()
	}

	var defaults []string
	switch {
	case len(cfg.HMACSecret) > 0:
		if len(cfg.HMACSecret) < 32 {
			// RFC 7518 §3.2: the key must be at least as long as the hash.
			return nil, errors.New("kitjwt: HMACSecret must be at least 32 bytes")
		}
		v.key = cfg.HMACSecret
		defaults = []string{"HS256"}
	case cfg.PublicKeyFile != "":
		key, err := loadPEM(cfg.PublicKeyFile)
		if err != nil {
			return nil, err
		}
		v.key = key
		defaults = []string{defaultAlgorithm(key)}
	default:
		v.jwks = newJWKSCache(cfg)
		defaults = []string{"RS256", "ES256"}
	}
	v.allowed = defaults
	if len(cfg.Algorithms) > 0 {
		v.allowed = slices.Clone(cfg.Algorithms)
	}
	for _, alg := range v.allowed {
		m := jwt.GetSigningMethod(alg)
		if m == nil || alg == jwt.SigningMethodNone.Alg() {
			return nil, fmt.Errorf("kitjwt: algorithm %q is not supported", alg)
		}
		if _, isHMAC := m.(*jwt.SigningMethodHMAC); isHMAC != (len(cfg.HMACSecret) > 0) {
			return nil, fmt.Errorf("kitjwt: algorithm %q does not fit the key source", alg)
		}
	}

	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.allowed),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithIssuedAt(),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Verify checks token and returns the caller's identity, or a
// *VerificationError.
func (v *Verifier) Verify(ctx context.Context, token string) (*Identity, error) {
	if token == "" {
		return nil, &VerificationError{Reason: ReasonMissingToken}
	}
	claims := jwt.MapClaims{}
	var keyErr *VerificationError
	parsed, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		key, err := v.keyFor(ctx, t)
		if err != nil {
			errors.As(err, &keyErr)
		}
		return key, err
	})
	if err != nil {
		if keyErr != nil {
			return nil, keyErr
		}
		return nil, &VerificationError{Reason: v.reason(parsed, err), Err: err}
	}

	id := &Identity{Claims: claims}
	user, ok := claimString(claims, v.cfg.UserClaim)
	if !ok || user == "" {
		return nil, &VerificationError{Reason: ReasonMissingClaim, Err: fmt.Errorf("claim %q missing", v.cfg.UserClaim)}
	}
	id.UserID = user
	id.Roles = claimStrings(claims, v.cfg.RolesClaim)
	id.SessionID, _ = claimString(claims, v.cfg.SessionClaim)
	return id, nil
}

// keyFor returns the verification key for t, checking that the key's type
// fits the token's algorithm: the library checks this too, but an explicit
// check keeps confusion attacks out even if Algorithms is misconfigured.
func (v *Verifier) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	key := v.key
	if v.jwks != nil {
		kid, _ := t.Header["kid"].(string)
		k, err := v.jwks.lookup(ctx, kid)
		if err != nil {
			return nil, err
		}
		if k.alg != "" && k.alg != t.Method.Alg() {
			return nil, &VerificationError{Reason: ReasonUnsupportedAlgorithm, Err: errors.New("token alg differs from the key's")}
		}
		key = k.key
	}
	if !keyFits(t.Method, key) {
		return nil, &VerificationError{Reason: ReasonUnsupportedAlgorithm, Err: errors.New("key type does not fit alg")}
	}
	return key, nil
}

func keyFits(m jwt.SigningMethod, key any) bool {
	switch m := m.(type) {
	case *jwt.SigningMethodHMAC:
		_, ok := key.([]byte)
		return ok
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		_, ok := key.(*rsa.PublicKey)
		return ok
	case *jwt.SigningMethodECDSA:
		k, ok := key.(*ecdsa.PublicKey)
		return ok && k.Curve.Params().BitSize == m.CurveBits
	case *jwt.SigningMethodEd25519:
		_, ok := key.(ed25519.PublicKey)
		return ok
	}
	return false
}

// reason maps a jwt error to a Reason. The order matters: the library wraps
// several sentinels in one error.
func (v *Verifier) reason(t *jwt.Token, err error) string {
	if t != nil {
		if alg, _ := t.Header["alg"].(string); alg != "" && !slices.Contains(v.allowed, alg) {
			return ReasonUnsupportedAlgorithm
		}
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ReasonMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return ReasonInvalidSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return ReasonExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ReasonNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return ReasonInvalidAudience
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return ReasonInvalidIssuer
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return ReasonMissingClaim
	}
	return ReasonInvalidClaims
}

func loadPEM(path string) (any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kitjwt: reading public key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("kitjwt: %s holds no PEM block", path)
	}
	var key any
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("kitjwt: PEM block %q is not a public key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("kitjwt: parsing public key: %w", err)
	}
	return checkPublicKey(key)
}

// checkPublicKey accepts the key types JWT signatures use, and refuses RSA
// keys too short to be trusted.
func checkPublicKey(key any) (any, error) {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("kitjwt: RSA key of %d bits is too short (minimum 2048)", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		if defaultAlgorithm(k) == "" {
			return nil, errors.New("kitjwt: ECDSA curve not usable with JWT")
		}
	case ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("kitjwt: unsupported public key type %T", key)
	}
	return key, nil
}

func defaultAlgorithm(key any) string {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return "RS256"
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256"
		case elliptic.P384():
			return "ES384"
		case elliptic.P521():
			return "ES512"
		}
	case ed25519.PublicKey:
		return "EdDSA"
	}
	return ""
}

// claim follows a dotted path through nested JSON objects.
func claim(claims map[string]any, path string) (any, bool) {
	var cur any = claims
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func claimString(claims map[string]any, path string) (string, bool) {
	v, ok := claim(claims, path)
	if !ok {
		return "", false
	}
	switch v := v.(type) {
	case string:
		return v, true
	case float64:
		// Some issuers send numeric user IDs.
		return fmt.Sprintf("%.0f", v), v == float64(int64(v))
	}
	return "", false
}

// claimStrings accepts a JSON array of strings or, OAuth-scope style, one
// space-separated string.
func claimStrings(claims map[string]any, path string) []string {
	v, ok := claim(claims, path)
	if !ok {
		return nil
	}
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
