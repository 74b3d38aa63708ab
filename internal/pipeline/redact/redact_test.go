package redact

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/consumer"
)

const (
	jwt     = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	hashKey = "0123456789abcdef-test-key"
)

func mustRedactor(t testing.TB, cfg Config) *Redactor {
	t.Helper()
	r, err := NewRedactor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRedactString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		// Clean values stay as they are.
		{"plain", "GET /api/orders", "GET /api/orders"},
		{"url without secrets", "https://shop.example/api?x=1&page=2", "https://shop.example/api?x=1&page=2"},
		{"nanosecond timestamp", "1795296107574000000", "1795296107574000000"},
		{"uuid", "3f2b8c1e-4a5d-4e6f-9a7b-1c2d3e4f5a6b", "3f2b8c1e-4a5d-4e6f-9a7b-1c2d3e4f5a6b"},
		{"phone number", "+44 20 7946 0958", "+44 20 7946 0958"},
		{"prose with bearer", "Bearer token expired", "Bearer token expired"},
		{"prose with basic", "basic settings saved", "basic settings saved"},
		{"eyJ inside a word", "keyJar eyJ", "keyJar eyJ"},
		{"two-segment eyJ", "eyJhbGciOi.eyJzdWIi", "eyJhbGciOi.eyJzdWIi"},
		{"already masked", "Bearer ***", "Bearer ***"},
		{"e-mail kept by default", "alice@example.com", "alice@example.com"},

		// Credentials.
		{"bearer", "Bearer abcdef123456", "Bearer ***"},
		{"bearer lower case in text", "sent authorization=bearer abc.def-123_456 ok", "sent authorization=bearer *** ok"},
		{"basic", "Basic dXNlcjpwYXNzd29yZA==", "Basic ***"},
		{"jwt alone", jwt, "***"},
		{"jwt in text", "token " + jwt + " rejected", "token *** rejected"},
		{"jwt with empty signature", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "***"},
		{"bearer jwt", "Bearer " + jwt, "Bearer ***"},
		{"url api_key", "https://api.example/v1?api_key=sk_live_123&page=2", "https://api.example/v1?api_key=***&page=2"},
		{"url several", "/cb?code=abc&state=xyz&access_token=t0k#frag", "/cb?code=***&state=xyz&access_token=***#frag"},
		{"url case-insensitive", "/x?Token=abc&SIG=def", "/x?Token=***&SIG=***"},
		{"url aws presigned", "https://b.s3.amazonaws.com/o?X-Amz-Credential=AKIA%2F&X-Amz-Signature=ab12", "https://b.s3.amazonaws.com/o?X-Amz-Credential=***&X-Amz-Signature=***"},
		{"free text parameter", "login failed password=hunter2 for u-1", "login failed password=*** for u-1"},
		{"bare query start not a parameter", "key=v", "key=v"},

		// Card numbers.
		{"visa", "4111111111111111", "***"},
		{"visa spaced", "card 4111 1111 1111 1111 declined", "card *** declined"},
		{"mastercard dashed", "5500-0000-0000-0004", "***"},
		{"amex 15 digits", "378282246310005", "***"},
		{"visa 13 digits", "4222222222222", "***"},
		{"discover in json", `{"pan":"6011111111111117"}`, `{"pan":"***"}`},
		{"luhn invalid", "4111111111111112", "4111111111111112"},
		{"too short", "411111111111", "411111111111"},
		{"too long", "41111111111111111111", "41111111111111111111"},
		{"glued to letters", "id4111111111111111", "id4111111111111111"},
		{"issuer 1 (timestamps)", "1000000000000008", "1000000000000008"},
	}
	r := mustRedactor(t, DefaultConfig())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := r.RedactString(tt.in)
			if got != tt.want {
				t.Errorf("RedactString(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if changed != (tt.in != tt.want) {
				t.Errorf("changed = %v", changed)
			}
		})
	}
}

func TestEmails(t *testing.T) {
	mask := DefaultConfig()
	mask.Emails = EmailMask
	hash := DefaultConfig()
	hash.Emails, hash.EmailHashKey = EmailHash, hashKey
	other := hash
	other.EmailHashKey = "another-key-0123456789"

	rm, rh, ro := mustRedactor(t, mask), mustRedactor(t, hash), mustRedactor(t, other)
	tests := []struct {
		in, wantMask string
	}{
		{"alice@example.com", "***"},
		{"mail to Bob.Smith+shop@mail.example.co.uk, thanks", "mail to ***, thanks"},
		{"a@b.c", "a@b.c"}, // one-letter TLD: not an address
		{"@handle and user@", "@handle and user@"},
		{"x@y.com y@z.org", "*** ***"},
		{"git@github.com:org/repo.git", "***:org/repo.git"},
	}
	for _, tt := range tests {
		if got, _ := rm.RedactString(tt.in); got != tt.wantMask {
			t.Errorf("mask %q = %q, want %q", tt.in, got, tt.wantMask)
		}
	}

	a1, _ := rh.RedactString("alice@example.com")
	a2, _ := rh.RedactString("ALICE@Example.com")
	b, _ := rh.RedactString("bob@example.com")
	ao, _ := ro.RedactString("alice@example.com")
	if !strings.HasPrefix(a1, "hmac:") || len(a1) != len("hmac:")+16 {
		t.Errorf("hash = %q, want hmac: and 16 hex digits", a1)
	}
	if a1 != a2 {
		t.Errorf("the same address in another case hashes differently: %q, %q", a1, a2)
	}
	if a1 == b {
		t.Errorf("two addresses hash alike: %q", a1)
	}
	if a1 == ao {
		t.Errorf("the hash does not depend on the key")
	}
	if got, _ := rh.RedactString("user alice@example.com logged in"); got != "user "+a1+" logged in" {
		t.Errorf("hash in text = %q", got)
	}
}

func TestRedactMapKeys(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*Config)
		in   map[string]any
		want map[string]any
		n    int
	}{
		{
			name: "auth header keys in every form",
			in: map[string]any{
				"authorization":                         "opaque-secret",
				"http.request.header.authorization":     []any{"Token abc"},
				"http.request.header.Cookie":            []any{"sid=1", "theme=dark"},
				"http.response.header.set_cookie":       []any{"sid=2"},
				"rpc.grpc.request.metadata.x-api-key":   []any{"k"},
				"db.password":                           "pw",
				"http.request.header.content-type":      []any{"application/json"},
				"http.request.header.x-authorization-x": "not a known header",
				"retry.count":                           int64(3),
				"deploy.token":                          "t",
				"gen_ai.usage.output_tokens":            int64(7),
			},
			want: map[string]any{
				"authorization":                         "***",
				"http.request.header.authorization":     []any{"***"},
				"http.request.header.Cookie":            []any{"***", "***"},
				"http.response.header.set_cookie":       []any{"***"},
				"rpc.grpc.request.metadata.x-api-key":   []any{"***"},
				"db.password":                           "***",
				"http.request.header.content-type":      []any{"application/json"},
				"http.request.header.x-authorization-x": "not a known header",
				"retry.count":                           int64(3),
				"deploy.token":                          "***",
				"gen_ai.usage.output_tokens":            int64(7),
			},
			n: 7,
		},
		{
			name: "url.query is a bare query string",
			in:   map[string]any{"url.query": "token=abc&q=shoes", "url.full": "https://x.example/s?q=1&apikey=zz"},
			want: map[string]any{"url.query": "token=***&q=shoes", "url.full": "https://x.example/s?q=1&apikey=***"},
			n:    2,
		},
		{
			name: "non-string secret value is masked as a string",
			in:   map[string]any{"password": int64(1234)},
			want: map[string]any{"password": "***"},
			n:    1,
		},
		{
			name: "nested map",
			in:   map[string]any{"req": map[string]any{"headers": map[string]any{"Authorization": "x"}, "card": "4111111111111111"}},
			want: map[string]any{"req": map[string]any{"headers": map[string]any{"Authorization": "***"}, "card": "***"}},
			n:    1,
		},
		{
			name: "allow list removes other keys, keeps ignored and clew markers",
			cfg: func(c *Config) {
				c.AllowAllKeys = false
				c.AllowedKeys = []string{"service.name", "url.full"}
				c.IgnoredKeys = []string{"debug.raw"}
			},
			in: map[string]any{"service.name": "a", "url.full": "/x?token=t", "user.email": "a@b.example",
				"debug.raw": "Bearer abcdefghijk", "clew.dropped_attributes_count": int64(2)},
			want: map[string]any{"service.name": "a", "url.full": "/x?token=***",
				"debug.raw": "Bearer abcdefghijk", "clew.dropped_attributes_count": int64(2)},
			n: 2,
		},
		{
			name: "blocked key patterns and blocked values",
			cfg: func(c *Config) {
				c.BlockedKeyPatterns = []string{`(?i)^customer\.`, `ssn$`}
				c.BlockedValues = []string{`\b\d{3}-\d{2}-\d{4}\b`, `(?i)internal-[a-z]+`}
			},
			in: map[string]any{"customer.name": "Ann", "user.ssn": "x", "note": "ssn 123-45-6789 via internal-proxy",
				"plain": "ok"},
			want: map[string]any{"customer.name": "***", "user.ssn": "***", "note": "ssn *** via ***", "plain": "ok"},
			n:    3,
		},
		{
			name: "credentials off",
			cfg:  func(c *Config) { c.Credentials = false },
			in:   map[string]any{"authorization": "Bearer abcdefghij", "card": "4111111111111111"},
			want: map[string]any{"authorization": "Bearer abcdefghij", "card": "***"},
			n:    1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			r := mustRedactor(t, cfg)
			m := pcommon.NewMap()
			if err := m.FromRaw(tt.in); err != nil {
				t.Fatal(err)
			}
			n := r.RedactMap(m)
			want := pcommon.NewMap()
			if err := want.FromRaw(tt.want); err != nil {
				t.Fatal(err)
			}
			if !m.Equal(want) {
				t.Errorf("got  %v\nwant %v", m.AsRaw(), want.AsRaw())
			}
			if n != tt.n {
				t.Errorf("changed count = %d, want %d", n, tt.n)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"default", func(*Config) {}, ""},
		{"hash without key", func(c *Config) { c.Emails = EmailHash }, "email_hash_key"},
		{"hash with short key", func(c *Config) { c.Emails, c.EmailHashKey = EmailHash, "short" }, "email_hash_key"},
		{"hash with key", func(c *Config) { c.Emails, c.EmailHashKey = EmailHash, hashKey }, ""},
		{"unknown email mode", func(c *Config) { c.Emails = "drop" }, "emails"},
		{"bad key pattern", func(c *Config) { c.BlockedKeyPatterns = []string{"("} }, "blocked_key_patterns"},
		{"bad value pattern", func(c *Config) { c.BlockedValues = []string{"[a-"} }, "blocked_values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want error mentioning %q", err, tt.want)
			}
		})
	}
}

func loadFixture(t testing.TB, name string) ptrace.Traces {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return td
}

func allSpans(td ptrace.Traces) []ptrace.Span {
	var out []ptrace.Span
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		sss := td.ResourceSpans().At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			for k := 0; k < sss.At(j).Spans().Len(); k++ {
				out = append(out, sss.At(j).Spans().At(k))
			}
		}
	}
	return out
}

type sink struct{ got []ptrace.Traces }

func (s *sink) ConsumeTraces(_ context.Context, td ptrace.Traces) (consumer.Result, error) {
	s.got = append(s.got, td)
	return consumer.Result{}, nil
}

// TestFixtures runs real client payloads through the stage: as captured they
// hold no secrets, so nothing may change; with secrets planted in them the
// secrets, and only they, must go.
func TestFixtures(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Emails, cfg.EmailHashKey = EmailHash, hashKey
	for _, name := range []string{"browser-otlp-http.json", "node-otlp-http-json.json", "go-otlp-http-json.json"} {
		t.Run(name+"/clean", func(t *testing.T) {
			next := &sink{}
			p, err := New(cfg, next, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			td := loadFixture(t, name)
			want := loadFixture(t, name)
			if _, err := p.ConsumeTraces(context.Background(), td); err != nil {
				t.Fatal(err)
			}
			a, _ := (&ptrace.JSONMarshaler{}).MarshalTraces(next.got[0])
			b, _ := (&ptrace.JSONMarshaler{}).MarshalTraces(want)
			if string(a) != string(b) {
				t.Errorf("a clean fixture was changed:\n got %s\nwant %s", a, b)
			}
		})
		t.Run(name+"/planted", func(t *testing.T) {
			next := &sink{}
			p, err := New(cfg, next, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			td := loadFixture(t, name)
			spans := allSpans(td)
			s := spans[len(spans)-1]
			wantLen := s.Attributes().Len() + 1 // the count
			for _, k := range []string{"http.request.header.authorization", "url.full", "enduser.id"} {
				if _, ok := s.Attributes().Get(k); !ok {
					wantLen++
				}
			}
			s.Attributes().PutEmptySlice("http.request.header.authorization").AppendEmpty().SetStr("Bearer " + jwt)
			s.Attributes().PutStr("url.full", "https://pay.example/charge?amount=5&api_key=sk_live_51H")
			s.Attributes().PutStr("enduser.id", "carol@example.org")
			s.Events().AppendEmpty().Attributes().PutStr("exception.message", "card 4111-1111-1111-1111 declined")
			s.Links().AppendEmpty().Attributes().PutStr("cookie", "sid=abc")
			td.ResourceSpans().At(0).Resource().Attributes().PutStr("deploy.token", "Bearer ghp_abcdefgh123")
			s.SetName("GET /reset?token=abc123")

			if _, err := p.ConsumeTraces(context.Background(), td); err != nil {
				t.Fatal(err)
			}
			got := allSpans(next.got[0])
			out := got[len(got)-1]
			wantAttrs := map[string]string{
				"url.full":   "https://pay.example/charge?amount=5&api_key=***",
				"enduser.id": "hmac:",
			}
			for k, want := range wantAttrs {
				if v, _ := out.Attributes().Get(k); !strings.HasPrefix(v.Str(), want) {
					t.Errorf("%s = %q, want %q…", k, v.Str(), want)
				}
			}
			if v, _ := out.Attributes().Get("http.request.header.authorization"); v.Slice().At(0).Str() != "***" {
				t.Errorf("authorization header = %v", v.AsRaw())
			}
			if v, _ := out.Events().At(out.Events().Len() - 1).Attributes().Get("exception.message"); v.Str() != "card *** declined" {
				t.Errorf("event = %q", v.Str())
			}
			if v, _ := out.Links().At(out.Links().Len() - 1).Attributes().Get("cookie"); v.Str() != "***" {
				t.Errorf("link cookie = %q", v.Str())
			}
			if out.Name() != "GET /reset?token=***" {
				t.Errorf("name = %q", out.Name())
			}
			if v, _ := out.Attributes().Get(AttrRedactedCount); v.Int() != 6 {
				t.Errorf("%s = %d, want 6", AttrRedactedCount, v.Int())
			}
			if out.Attributes().Len() != wantLen {
				t.Errorf("attribute count %d, want %d (planted + the count): %v", out.Attributes().Len(), wantLen, out.Attributes().AsRaw())
			}
			res := next.got[0].ResourceSpans().At(0).Resource().Attributes()
			if v, _ := res.Get("deploy.token"); v.Str() != "***" {
				t.Errorf("resource deploy.token = %q", v.Str())
			}
			if v, _ := res.Get(AttrRedactedCount); v.Int() != 1 {
				t.Errorf("resource %s = %v, want 1", AttrRedactedCount, v.AsRaw())
			}
			for _, other := range got[:len(got)-1] {
				if _, ok := other.Attributes().Get(AttrRedactedCount); ok {
					t.Errorf("span %q has no secrets but was marked", other.Name())
				}
			}
		})
	}
}

func TestLuhn(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"4111111111111111", true},
		{"4111 1111 1111 1111", true},
		{"4111111111111112", false},
		{"79927398713", true},
		{"79927398710", false},
	}
	for _, tt := range tests {
		if got := luhn(tt.in); got != tt.want {
			t.Errorf("luhn(%q) = %v", tt.in, got)
		}
	}
}

// FuzzRedactString checks that redaction never panics, never lengthens a value
// beyond what masks and hashes explain, and is idempotent.
func FuzzRedactString(f *testing.F) {
	for _, s := range []string{"Bearer abcdefghij", jwt, "/x?token=a&key=b", "4111 1111 1111 1111", "a@b.example", "eyJ.eyJ.", "basic ", "Bearer \xff\xfe", "a\xff@b.example", "?token=\xc3"} {
		f.Add(s)
	}
	cfg := DefaultConfig()
	cfg.Emails, cfg.EmailHashKey = EmailHash, hashKey
	r := mustRedactor(f, cfg)
	f.Fuzz(func(t *testing.T, s string) {
		once, _ := r.RedactString(s)
		twice, changed := r.RedactString(once)
		if changed {
			t.Errorf("not idempotent: %q -> %q -> %q", s, once, twice)
		}
	})
}
