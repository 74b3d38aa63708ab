package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAllows(t *testing.T) {
	tok := NewToken("s3cret")
	cases := []struct {
		name   string
		values []string
		want   bool
	}{
		{"exact", []string{"Bearer s3cret"}, true},
		{"lower-case scheme", []string{"bearer s3cret"}, true},
		{"upper-case scheme", []string{"BEARER s3cret"}, true},
		{"several spaces", []string{"Bearer   s3cret"}, true},
		{"tab", []string{"Bearer\ts3cret"}, true},
		{"surrounding space", []string{"  Bearer s3cret  "}, true},
		{"second header value", []string{"Basic eDp5", "Bearer s3cret"}, true},
		{"none", nil, false},
		{"empty", []string{""}, false},
		{"wrong", []string{"Bearer wrong"}, false},
		{"prefix of token", []string{"Bearer s3cre"}, false},
		{"token plus suffix", []string{"Bearer s3crets"}, false},
		{"no scheme", []string{"s3cret"}, false},
		{"scheme glued", []string{"Bearers3cret"}, false},
		{"scheme only", []string{"Bearer"}, false},
		{"other scheme", []string{"Basic s3cret"}, false},
		{"two tokens", []string{"Bearer s3cret extra"}, false},
		{"token case matters", []string{"Bearer S3CRET"}, false},
	}
	for _, c := range cases {
		if got := tok.Allows(c.values); got != c.want {
			t.Errorf("%s: Allows(%q) = %v, want %v", c.name, c.values, got, c.want)
		}
	}
	if !NewToken("").Allows(nil) || NewToken("").Required() {
		t.Error("an empty token must allow everything")
	}
}

func TestRequire(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
	h := Require(NewToken("s3cret"), next, nil)
	for header, want := range map[string]int{"": 401, "Bearer s3cret": 202, "bearer s3cret": 202, "Bearer no": 401} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("%q: %d, want %d", header, rec.Code, want)
		}
		if want == 401 && rec.Header().Get("WWW-Authenticate") != Challenge {
			t.Errorf("%q: WWW-Authenticate %q", header, rec.Header().Get("WWW-Authenticate"))
		}
		if want == 401 && strings.Contains(rec.Body.String(), "s3cret") {
			t.Errorf("the 401 body echoes the token: %q", rec.Body.String())
		}
	}
}
