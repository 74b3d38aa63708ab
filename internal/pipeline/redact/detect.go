package redact

import (
	"bytes"
	"encoding/base64"
	"strings"
)

// The detectors below each return s itself when they find nothing, so a clean
// value costs no allocation; they build a new string only on a hit.

// editor rebuilds a string from s with some ranges replaced, allocating only
// at the first replacement.
type editor struct {
	s    string
	b    []byte
	last int // s[:last] has been copied or replaced
}

func (e *editor) replace(start, end int, with string) {
	if e.b == nil {
		e.b = make([]byte, 0, len(e.s))
	}
	e.b = append(e.b, e.s[e.last:start]...)
	e.b = append(e.b, with...)
	e.last = end
}

func (e *editor) String() string {
	if e.b == nil {
		return e.s
	}
	return string(append(e.b, e.s[e.last:]...))
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isBase64URL(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }

// tokenChar is a character of an HTTP auth token (RFC 7235 token68), plus the
// characters JWTs and opaque tokens use.
func tokenChar(c byte) bool {
	return isAlnum(c) || strings.IndexByte("-._~+/=", c) >= 0
}

// maskAuthSchemes masks the credentials after "Bearer " and "Basic ", in any
// case, keeping the scheme so the value stays readable.
func maskAuthSchemes(s string) string {
	e := editor{s: s}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c != 'b' || (i > 0 && isAlnum(s[i-1])) {
			continue
		}
		var n int
		basic := false
		switch {
		case hasPrefixFold(s[i:], "bearer "):
			n = len("bearer ")
		case hasPrefixFold(s[i:], "basic "):
			n, basic = len("basic "), true
		default:
			continue
		}
		start := i + n
		for start < len(s) && s[start] == ' ' {
			start++
		}
		end := start
		for end < len(s) && tokenChar(s[end]) {
			end++
		}
		// A short word after "Bearer" is prose ("Bearer token expired"), and
		// Basic credentials are base64 of "user:password": checking for the
		// colon spares "basic settings".
		tok := s[start:end]
		if len(tok) >= 8 && tok != Mask && (!basic || isBasicCredential(tok)) {
			e.replace(start, end, Mask)
		}
		i = end
	}
	return e.String()
}

func isBasicCredential(tok string) bool {
	b, err := base64.StdEncoding.DecodeString(tok)
	return err == nil && bytes.IndexByte(b, ':') > 0
}

func hasPrefixFold(s, lowerPrefix string) bool {
	if len(s) < len(lowerPrefix) {
		return false
	}
	for i := 0; i < len(lowerPrefix); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lowerPrefix[i] {
			return false
		}
	}
	return true
}

// maskJWTs masks JSON Web Tokens: a base64url header starting "eyJ" (the
// encoding of `{"`), a payload and a signature, separated by dots.
func maskJWTs(s string) string {
	e := editor{s: s}
	for from := 0; ; {
		i := strings.Index(s[from:], "eyJ")
		if i < 0 {
			break
		}
		i += from
		from = i + 3
		if i > 0 && isBase64URL(s[i-1]) {
			continue
		}
		end, ok := jwtEnd(s, i)
		if !ok {
			continue
		}
		e.replace(i, end, Mask)
		from = end
	}
	return e.String()
}

// jwtEnd returns the end of a JWT starting at s[i]: three base64url segments,
// the first two at least 4 characters long (an empty signature is allowed:
// "alg":"none" tokens are still credentials).
func jwtEnd(s string, i int) (int, bool) {
	j := i
	for seg := 0; seg < 3; seg++ {
		start := j
		for j < len(s) && isBase64URL(s[j]) {
			j++
		}
		if seg < 2 {
			if j-start < 4 || j >= len(s) || s[j] != '.' {
				return 0, false
			}
			j++ // the dot
		}
	}
	return j, true
}

// secretParams are query-parameter names whose values are credentials.
var secretParams = map[string]struct{}{
	"api_key": {}, "apikey": {}, "api-key": {}, "x-api-key": {}, "key": {},
	"token": {}, "access_token": {}, "refresh_token": {}, "id_token": {}, "auth": {},
	"auth_token": {}, "private_token": {}, "jwt": {}, "code": {},
	"password": {}, "passwd": {}, "pwd": {}, "secret": {}, "client_secret": {},
	"sig": {}, "signature": {}, "session": {}, "sessionid": {}, "session_id": {},
	"x-amz-signature": {}, "x-amz-credential": {}, "x-amz-security-token": {},
	"x-goog-signature": {}, "x-goog-credential": {},
}

func paramNameChar(c byte) bool { return isAlnum(c) || c == '_' || c == '-' || c == '.' }

// maskQueryParams masks the values of secret parameters: name=value where
// name follows '?', '&', ';' or a space (or starts s when query is set, for a
// bare query string).
func maskQueryParams(s string, query bool) string {
	e := editor{s: s}
	for from := 0; ; {
		i := strings.IndexByte(s[from:], '=')
		if i < 0 {
			break
		}
		i += from
		from = i + 1
		j := i
		for j > 0 && paramNameChar(s[j-1]) {
			j--
		}
		if j == i || i-j > 32 {
			continue
		}
		if j == 0 && !query {
			continue
		}
		if j > 0 && strings.IndexByte("?&; ", s[j-1]) < 0 {
			continue
		}
		var lower [32]byte
		for k := j; k < i; k++ {
			c := s[k]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			lower[k-j] = c
		}
		if _, ok := secretParams[string(lower[:i-j])]; !ok {
			continue
		}
		end := i + 1
		for end < len(s) && strings.IndexByte("&#; \t\r\n\"'", s[end]) < 0 {
			end++
		}
		if end > i+1 && s[i+1:end] != Mask {
			e.replace(i+1, end, Mask)
		}
		from = end
	}
	return e.String()
}

// maskCards masks payment card numbers: 13–19 digits, single spaces or dashes
// allowed between them, not glued to other letters or digits, starting with
// 2–6 (the issuer ranges in use; this spares nanosecond timestamps, which
// start with 1) and passing the Luhn check.
func maskCards(s string) string {
	e := editor{s: s}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) || (i > 0 && isAlnum(s[i-1])) {
			continue
		}
		end, n := i, 0
		for end < len(s) {
			if isDigit(s[end]) {
				n++
				end++
				continue
			}
			if (s[end] == ' ' || s[end] == '-') && end+1 < len(s) && isDigit(s[end+1]) && n > 0 {
				end++
				continue
			}
			break
		}
		if n >= 13 && n <= 19 && s[i] >= '2' && s[i] <= '6' &&
			(end == len(s) || !isAlnum(s[end])) && luhn(s[i:end]) {
			e.replace(i, end, Mask)
		}
		i = end
	}
	return e.String()
}

// luhn checks the Luhn digit of s, skipping separators.
func luhn(s string) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if !isDigit(c) {
			continue
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

func emailLocalChar(c byte) bool {
	return isAlnum(c) || strings.IndexByte("._%+-", c) >= 0
}

func emailDomainChar(c byte) bool { return isAlnum(c) || c == '.' || c == '-' }

// maskEmails masks or hashes e-mail addresses: local@domain where the domain
// has a dot and a top-level label of at least two letters.
func (r *Redactor) maskEmails(s string) string {
	e := editor{s: s}
	for from := 0; ; {
		i := strings.IndexByte(s[from:], '@')
		if i < 0 {
			break
		}
		i += from
		from = i + 1
		start := i
		for start > e.last && emailLocalChar(s[start-1]) {
			start--
		}
		end := i + 1
		for end < len(s) && emailDomainChar(s[end]) {
			end++
		}
		for end > i+1 && (s[end-1] == '.' || s[end-1] == '-') {
			end--
		}
		if start == i || !validDomain(s[i+1:end]) {
			continue
		}
		// "a@b.cc@d.ee": an address glued to another '@' is one run; replace
		// all of it, or the rest would pair with the replacement and form a
		// new "address" (and redacting twice would change the value again).
		for end < len(s) && s[end] == '@' {
			end++
			for end < len(s) && (emailDomainChar(s[end]) || emailLocalChar(s[end])) {
				end++
			}
		}
		with := Mask
		if r.cfg.Emails == EmailHash {
			with = r.hashEmail(s[start:end])
		}
		e.replace(start, end, with)
		from = end
	}
	return e.String()
}

func validDomain(d string) bool {
	dot := strings.LastIndexByte(d, '.')
	if dot <= 0 || len(d)-dot-1 < 2 {
		return false
	}
	for _, c := range []byte(d[dot+1:]) {
		if !('a' <= c|0x20 && c|0x20 <= 'z') {
			return false
		}
	}
	return true
}
