package redact

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Mask replaces every redacted value or part of a value.
const Mask = "***"

// EmailMode says what happens to e-mail addresses found in values.
type EmailMode string

const (
	EmailKeep EmailMode = "keep" // left as they are
	EmailMask EmailMode = "mask" // replaced by Mask
	EmailHash EmailMode = "hash" // replaced by "hmac:" and 16 hex digits of HMAC-SHA256(key, lower-cased address)
)

// Config is the `redaction` section. The key and value lists follow the
// Collector's redaction processor.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// AllowAllKeys false removes every attribute whose key is not in
	// AllowedKeys or IgnoredKeys (or Clew's own "clew." markers) — resource
	// attributes too, so list service.name.
	AllowAllKeys bool     `yaml:"allow_all_keys"`
	AllowedKeys  []string `yaml:"allowed_keys"`
	// IgnoredKeys are neither removed nor inspected.
	IgnoredKeys []string `yaml:"ignored_keys"`
	// BlockedKeyPatterns are regular expressions; the whole value of a
	// matching key is masked.
	BlockedKeyPatterns []string `yaml:"blocked_key_patterns"`
	// BlockedValues are regular expressions; matching parts of any string
	// value are masked.
	BlockedValues []string `yaml:"blocked_values"`
	// Credentials masks bearer/basic tokens, JWTs, auth-header and
	// secret-named attributes, and secret query parameters.
	Credentials bool `yaml:"credentials"`
	// CardNumbers masks 13–19 digit runs (spaces or dashes allowed) that
	// start with 2–6 and pass the Luhn check.
	CardNumbers  bool      `yaml:"card_numbers"`
	Emails       EmailMode `yaml:"emails"`
	EmailHashKey string    `yaml:"email_hash_key"`
}

// DefaultConfig masks credentials and card numbers and keeps e-mail addresses.
func DefaultConfig() Config {
	return Config{Enabled: true, AllowAllKeys: true, Credentials: true, CardNumbers: true, Emails: EmailKeep}
}

// minHashKey is the shortest e-mail hash key accepted: a short key would let
// anyone with a list of addresses recover them by brute force.
const minHashKey = 16

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	switch c.Emails {
	case EmailKeep, EmailMask, "":
	case EmailHash:
		if len(c.EmailHashKey) < minHashKey {
			return fmt.Errorf("emails: hash needs an email_hash_key of at least %d bytes", minHashKey)
		}
	default:
		return fmt.Errorf("emails must be %q, %q or %q, got %q", EmailKeep, EmailMask, EmailHash, c.Emails)
	}
	if _, err := compileAny(c.BlockedKeyPatterns); err != nil {
		return fmt.Errorf("blocked_key_patterns: %w", err)
	}
	if _, err := compileAny(c.BlockedValues); err != nil {
		return fmt.Errorf("blocked_values: %w", err)
	}
	return nil
}

// compileAny joins patterns into one alternation, so a value is scanned once
// however many patterns there are. No patterns gives nil.
func compileAny(patterns []string) (*regexp.Regexp, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	parts := make([]string, len(patterns))
	for i, p := range patterns {
		if _, err := regexp.Compile(p); err != nil {
			return nil, fmt.Errorf("pattern %q: %w", p, err)
		}
		parts[i] = "(?:" + p + ")"
	}
	return regexp.Compile(strings.Join(parts, "|"))
}

// Redactor applies a Config's rules. It is safe for concurrent use.
type Redactor struct {
	cfg           Config
	allowed       map[string]struct{}
	ignored       map[string]struct{}
	blockedKeys   *regexp.Regexp
	blockedValues *regexp.Regexp
	hashKey       []byte

	// keyVerdicts caches blockedKeys matches: keys repeat endlessly, and a
	// regexp per attribute would blow the budget. Bounded by keyCacheMax.
	keyVerdicts sync.Map // string -> bool
	keyCached   atomic.Int64
}

const keyCacheMax = 10_000

// NewRedactor compiles cfg's rules.
func NewRedactor(cfg Config) (*Redactor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("redaction: %w", err)
	}
	r := &Redactor{cfg: cfg, hashKey: []byte(cfg.EmailHashKey)}
	r.allowed = set(cfg.AllowedKeys)
	r.ignored = set(cfg.IgnoredKeys)
	r.blockedKeys, _ = compileAny(cfg.BlockedKeyPatterns)
	r.blockedValues, _ = compileAny(cfg.BlockedValues)
	return r, nil
}

func set(keys []string) map[string]struct{} {
	if len(keys) == 0 {
		return nil
	}
	m := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		m[k] = struct{}{}
	}
	return m
}

// RedactMap applies the rules to every attribute of m in place and returns how
// many attributes it changed or removed.
func (r *Redactor) RedactMap(m pcommon.Map) int {
	n := 0
	if !r.cfg.AllowAllKeys {
		m.RemoveIf(func(k string, _ pcommon.Value) bool {
			_, ok := r.allowed[k]
			_, ign := r.ignored[k]
			// Clew's own markers (clew.dropped_attributes_count, …) are
			// always kept: they tell users what the pipeline did.
			if !ok && !ign && !strings.HasPrefix(k, "clew.") {
				n++
				return true
			}
			return false
		})
	}
	m.Range(func(k string, v pcommon.Value) bool {
		if r.RedactValue(k, v) {
			n++
		}
		return true
	})
	return n
}

// RedactValue applies the rules to the value of attribute key in place and
// reports whether it changed. Allow-lists are RedactMap's business.
func (r *Redactor) RedactValue(key string, v pcommon.Value) bool {
	if r.ignored != nil {
		if _, ok := r.ignored[key]; ok {
			return false
		}
	}
	if r.secretKey(key) {
		return maskWhole(v)
	}
	switch v.Type() {
	case pcommon.ValueTypeStr:
		s, changed := r.redact(v.Str(), key == "url.query")
		if changed {
			v.SetStr(s)
		}
		return changed
	case pcommon.ValueTypeSlice:
		changed := false
		sl := v.Slice()
		for i := 0; i < sl.Len(); i++ {
			changed = r.RedactValue(key, sl.At(i)) || changed
		}
		return changed
	case pcommon.ValueTypeMap:
		return r.RedactMap(v.Map()) > 0
	}
	return false
}

// RedactString applies the value rules (not the key rules) to s, for log
// bodies and other free text.
func (r *Redactor) RedactString(s string) (string, bool) {
	return r.redact(s, false)
}

// maskWhole replaces a value (every element of an array: OTel records headers
// as string arrays) with Mask.
func maskWhole(v pcommon.Value) bool {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		if v.Str() == Mask || v.Str() == "" {
			return false
		}
	case pcommon.ValueTypeSlice:
		changed := false
		sl := v.Slice()
		for i := 0; i < sl.Len(); i++ {
			changed = maskWhole(sl.At(i)) || changed
		}
		return changed
	case pcommon.ValueTypeEmpty:
		return false
	}
	v.SetStr(Mask)
	return true
}

// secretKey reports whether the whole value of key must be masked.
func (r *Redactor) secretKey(key string) bool {
	if r.cfg.Credentials && secretKeyName(key) {
		return true
	}
	if r.blockedKeys == nil {
		return false
	}
	if v, ok := r.keyVerdicts.Load(key); ok {
		return v.(bool)
	}
	blocked := r.blockedKeys.MatchString(key)
	if r.keyCached.Load() < keyCacheMax {
		r.keyCached.Add(1)
		r.keyVerdicts.Store(key, blocked)
	}
	return blocked
}

// secretNames are header and field names whose values are credentials,
// compared with the last dot-separated segment of a key, case-insensitively
// and with '_' read as '-': "authorization", "http.request.header.cookie" and
// "rpc.grpc.request.metadata.x_api_key" all match.
var secretNames = []string{
	"authorization", "proxy-authorization", "cookie", "set-cookie",
	"x-api-key", "api-key", "apikey", "x-auth-token", "auth-token", "token",
	"access-token", "refresh-token", "password", "passwd", "secret", "client-secret",
}

// secretNamesByLen buckets secretNames by length: most keys are then rejected
// by one length lookup, without comparing bytes.
var secretNamesByLen = func() (t [24][]string) {
	for _, n := range secretNames {
		t[len(n)] = append(t[len(n)], n)
	}
	return t
}()

func secretKeyName(key string) bool {
	seg := key[strings.LastIndexByte(key, '.')+1:]
	if len(seg) >= len(secretNamesByLen) {
		return false
	}
	for _, name := range secretNamesByLen[len(seg)] {
		if equalFoldDash(seg, name) {
			return true
		}
	}
	return false
}

// equalFoldDash compares s with lower-case name, ASCII case-insensitively and
// reading '_' in s as '-'.
func equalFoldDash(s, name string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		} else if c == '_' {
			c = '-'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}

// Byte classes gathered in one pass over a value; each detector runs only if
// its trigger class is present.
const (
	clsDigit = 1 << iota
	clsAt
	clsEq
	clsJ     // 'J', for "eyJ"
	clsSpace // ' ', between an auth scheme and its token
	clsB     // 'b' or 'B', for Bearer and Basic
)

var classes = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = clsDigit
	}
	t['@'], t['='], t['J'], t[' '], t['b'], t['B'] = clsAt, clsEq, clsJ, clsSpace, clsB, clsB
	return t
}()

// redact applies the value rules to s. query says s is a bare query string
// (url.query), whose first parameter has no '?' before it.
func (r *Redactor) redact(s string, query bool) (string, bool) {
	var cls uint8
	digits := 0
	for i := 0; i < len(s); i++ {
		c := classes[s[i]]
		cls |= c
		digits += int(c & clsDigit)
	}
	out := s
	if r.cfg.Credentials {
		if cls&(clsSpace|clsB) == clsSpace|clsB {
			out = maskAuthSchemes(out)
		}
		if cls&clsJ != 0 {
			out = maskJWTs(out)
		}
		if cls&clsEq != 0 {
			out = maskQueryParams(out, query)
		}
	}
	if r.cfg.CardNumbers && digits >= 13 {
		out = maskCards(out)
	}
	if cls&clsAt != 0 && (r.cfg.Emails == EmailMask || r.cfg.Emails == EmailHash) {
		out = r.maskEmails(out)
	}
	// MatchString first: it allocates nothing, and most values do not match.
	if r.blockedValues != nil && r.blockedValues.MatchString(out) {
		out = r.blockedValues.ReplaceAllLiteralString(out, Mask)
	}
	return out, out != s
}

// hashEmail gives a stable pseudonym: the same address (any case) always maps
// to the same string, and without the key it cannot be reversed by hashing a
// list of known addresses.
func (r *Redactor) hashEmail(addr string) string {
	h := hmac.New(sha256.New, r.hashKey)
	h.Write([]byte(strings.ToLower(addr)))
	sum := h.Sum(nil)
	return "hmac:" + hex.EncodeToString(sum[:8])
}
