package httpedge

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clewtrace/clew/internal/consumer"
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

func TestRefuse(t *testing.T) {
	cases := []struct {
		err        error
		want       int
		retryAfter bool
	}{
		{fmt.Errorf("store: %w", consumer.ErrOverloaded), 503, true},
		{consumer.Permanentf("bad span"), 400, false},
		{errors.New("disk hiccup"), 503, true},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		if got := Refuse(rec, c.err); got != c.want || rec.Code != c.want || (rec.Header().Get("Retry-After") != "") != c.retryAfter {
			t.Errorf("%v: status %d/%d, Retry-After %q", c.err, got, rec.Code, rec.Header().Get("Retry-After"))
		}
	}
}
