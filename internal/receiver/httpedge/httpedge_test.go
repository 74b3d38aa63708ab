package httpedge

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/clewtrace/clew/internal/consumer"
)

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
