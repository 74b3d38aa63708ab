package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestBearer(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
	cases := []struct {
		token, header string
		want          int
	}{
		{"", "", 202},
		{"s3cret", "Bearer s3cret", 202},
		{"s3cret", "", 401},
		{"s3cret", "Bearer wrong", 401},
		{"s3cret", "s3cret", 401},
		{"s3cret", "Basic czNjcmV0", 401},
	}
	for _, c := range cases {
		req := httptest.NewRequest(http.MethodPost, "/api/traces", nil)
		if c.header != "" {
			req.Header.Set("Authorization", c.header)
		}
		rec := httptest.NewRecorder()
		Bearer(c.token, ok).ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("token %q header %q: %d, want %d", c.token, c.header, rec.Code, c.want)
		}
	}
}
