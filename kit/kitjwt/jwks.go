package kitjwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// maxJWKSBytes bounds a JWKS document; real ones are a few kilobytes.
const maxJWKSBytes = 1 << 20

type jwk struct {
	key any
	alg string // "" when the JWKS does not pin one
}

// jwksCache holds the keys of one JWKS URL. Fresh known keys are served under
// a read lock; a miss or an expired cache takes the write lock and refetches,
// at most once per minRefresh, so concurrent misses cause one fetch.
type jwksCache struct {
	url        string
	client     *http.Client
	ttl        time.Duration
	minRefresh time.Duration
	logger     *slog.Logger
	now        func() time.Time

	mu          sync.RWMutex
	keys        map[string]jwk
	fetchedAt   time.Time // last successful fetch
	attemptedAt time.Time // last fetch attempt, successful or not
}

func newJWKSCache(cfg Config) *jwksCache {
	c := &jwksCache{
		url:        cfg.JWKSURL,
		client:     cfg.HTTPClient,
		ttl:        cfg.JWKSCacheTTL,
		minRefresh: cfg.JWKSMinRefreshInterval,
		logger:     cfg.Logger,
		now:        time.Now,
	}
	if c.client == nil {
		c.client = &http.Client{Timeout: 10 * time.Second}
	}
	if c.ttl <= 0 {
		c.ttl = time.Hour
	}
	if c.minRefresh <= 0 {
		c.minRefresh = time.Minute
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	return c
}

// lookup returns the key for kid. An empty kid matches when the set holds a
// single key, which is how issuers with one key often omit it.
func (c *jwksCache) lookup(ctx context.Context, kid string) (jwk, error) {
	c.mu.RLock()
	k, ok := c.find(kid)
	fresh := c.isFresh()
	c.mu.RUnlock()
	if ok && fresh {
		return k, nil
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	// Another request may have refreshed while this one waited.
	if k, ok := c.find(kid); ok && c.isFresh() {
		return k, nil
	}
	now := c.now()
	if c.attemptedAt.IsZero() || now.Sub(c.attemptedAt) >= c.minRefresh {
		c.attemptedAt = now
		keys, err := c.fetch(ctx)
		if err != nil {
			c.logger.WarnContext(ctx, "kitjwt: fetching JWKS failed", slog.String("url", c.url), slog.Any("error", err))
			if k, ok := c.find(kid); ok {
				return k, nil // a stale key beats locking every user out
			}
			return jwk{}, &VerificationError{Reason: ReasonKeysUnavailable, Err: err}
		}
		c.keys, c.fetchedAt = keys, now
	}
	if k, ok := c.find(kid); ok {
		return k, nil
	}
	if c.keys == nil {
		return jwk{}, &VerificationError{Reason: ReasonKeysUnavailable}
	}
	return jwk{}, &VerificationError{Reason: ReasonUnknownKey}
}

func (c *jwksCache) isFresh() bool {
	return !c.fetchedAt.IsZero() && c.now().Sub(c.fetchedAt) < c.ttl
}

func (c *jwksCache) find(kid string) (jwk, bool) {
	if kid == "" {
		if len(c.keys) == 1 {
			for _, k := range c.keys {
				return k, true
			}
		}
		return jwk{}, false
	}
	k, ok := c.keys[kid]
	return k, ok
}

func (c *jwksCache) fetch(ctx context.Context) (map[string]jwk, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, fmt.Errorf("building JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching JWKS: HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading JWKS: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, errors.New("JWKS larger than 1 MiB")
	}
	return parseJWKS(body)
}

// rawJWK holds the RFC 7517/7518 members the kit understands.
type rawJWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS keeps the signature keys it can use and skips the rest (with
// their reasons joined into the error only when nothing is usable): one odd
// key must not break verification with the others.
func parseJWKS(data []byte) (map[string]jwk, error) {
	var doc struct {
		Keys []rawJWK `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decoding JWKS: %w", err)
	}
	keys := make(map[string]jwk, len(doc.Keys))
	var skipped []error
	for i, raw := range doc.Keys {
		if raw.Use != "" && raw.Use != "sig" {
			continue
		}
		key, err := raw.publicKey()
		if err == nil {
			key, err = checkPublicKey(key)
		}
		if err != nil {
			skipped = append(skipped, fmt.Errorf("key %d (kid %q): %w", i, raw.Kid, err))
			continue
		}
		keys[raw.Kid] = jwk{key: key, alg: raw.Alg}
	}
	if len(keys) == 0 {
		return nil, errors.Join(append([]error{errors.New("JWKS has no usable signature key")}, skipped...)...)
	}
	return keys, nil
}

func (k rawJWK) publicKey() (any, error) {
	switch k.Kty {
	case "RSA":
		n, err := b64int(k.N)
		if err != nil {
			return nil, fmt.Errorf("n: %w", err)
		}
		e, err := b64int(k.E)
		if err != nil {
			return nil, fmt.Errorf("e: %w", err)
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
			return nil, errors.New("bad RSA exponent")
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("unsupported curve %q", k.Crv)
		}
		size := (curve.Params().BitSize + 7) / 8
		x, err := b64fixed(k.X, size)
		if err != nil {
			return nil, fmt.Errorf("x: %w", err)
		}
		y, err := b64fixed(k.Y, size)
		if err != nil {
			return nil, fmt.Errorf("y: %w", err)
		}
		// ParseUncompressedPublicKey rejects points not on the curve.
		return ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
	case "OKP":
		if k.Crv != "Ed25519" {
			return nil, fmt.Errorf("unsupported curve %q", k.Crv)
		}
		x, err := b64fixed(k.X, ed25519.PublicKeySize)
		if err != nil {
			return nil, fmt.Errorf("x: %w", err)
		}
		return ed25519.PublicKey(x), nil
	case "oct":
		// A shared secret published in a key set is a configuration error,
		// and accepting it would reopen HMAC confusion.
		return nil, errors.New("symmetric keys are not accepted from JWKS")
	}
	return nil, fmt.Errorf("unsupported kty %q", k.Kty)
}

func b64int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, errors.New("empty")
	}
	return new(big.Int).SetBytes(b), nil
}

func b64fixed(s string, size int) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) != size {
		return nil, fmt.Errorf("length %d, want %d", len(b), size)
	}
	return b, nil
}
