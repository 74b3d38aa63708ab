// Package auth is the one bearer-token check every Clew listener uses: OTLP
// over HTTP and gRPC, the Jaeger and Zipkin HTTP receivers, the query API and
// the admin port's profiles. One implementation, so a header that works on
// one port works on all of them (RFC 6750: "Bearer" is case-insensitive,
// one or more spaces before the token), and the comparison is constant-time
// everywhere. The token itself is never logged or echoed.
//
// It sits below every listener package and imports none of them, so both
// receivers and API handlers can use it without a dependency running back up
// the data flow.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// Token is a configured bearer token. The zero value requires nothing.
type Token struct {
	set  bool
	hash [sha256.Size]byte
}

// NewToken returns the check for token; an empty token requires nothing.
func NewToken(token string) Token {
	if token == "" {
		return Token{}
	}
	return Token{set: true, hash: sha256.Sum256([]byte(token))}
}

// Required reports whether a token is configured.
func (t Token) Required() bool { return t.set }

// Allows reports whether one of the Authorization header values carries the
// token as a bearer credential. With no token configured everything is
// allowed. Both sides are hashed before the constant-time comparison, so
// neither the token's bytes nor its length leak through timing.
func (t Token) Allows(authorization []string) bool {
	if !t.set {
		return true
	}
	ok := 0
	for _, v := range authorization {
		cred, found := bearerCredential(v)
		if !found {
			continue
		}
		got := sha256.Sum256([]byte(cred))
		ok |= subtle.ConstantTimeCompare(got[:], t.hash[:])
	}
	return ok == 1
}

// bearerCredential extracts the token from "Bearer <token>": the scheme
// matched case-insensitively, any run of spaces or tabs after it, and
// surrounding whitespace ignored (proxies and hand-written curl commands add
// it).
func bearerCredential(v string) (string, bool) {
	v = strings.TrimSpace(v)
	const scheme = "bearer"
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	rest := v[len(scheme):]
	if rest[0] != ' ' && rest[0] != '\t' {
		return "", false // "Bearerx..." is another scheme
	}
	cred := strings.TrimLeft(rest, " \t")
	if cred == "" || strings.ContainsAny(cred, " \t") {
		return "", false
	}
	return cred, true
}

// Challenge is the WWW-Authenticate value sent with every 401.
const Challenge = `Bearer realm="clew"`

// Require wraps next so that requests without the token are answered by deny
// (which should write a 401; the WWW-Authenticate challenge is already set).
// With no token configured next is returned unchanged. A nil deny writes a
// plain-text 401.
func Require(t Token, next http.Handler, deny http.HandlerFunc) http.Handler {
	if !t.Required() {
		return next
	}
	if deny == nil {
		deny = func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !t.Allows(r.Header.Values("Authorization")) {
			w.Header().Set("WWW-Authenticate", Challenge)
			deny(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
