package httpedge

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clewtrace/clew/internal/consumer"
)

// TestRefuseKeepsInternalsInternal: the text of a store or overload error
// (file paths, the store's state) never reaches the client; a permanent
// error's text, written for the client, does.
func TestRefuseKeepsInternalsInternal(t *testing.T) {
	for _, c := range []struct {
		err        error
		status     int
		want, not  string
		retryAfter bool
	}{
		{fmt.Errorf("store: wal: write /var/lib/clew/wal/00000007.wal: no space left on device"), 503, "retry later", "/var/lib", true},
		{fmt.Errorf("store: 400000000 bytes waiting in /var/lib/clew: %w", consumer.ErrOverloaded), 503, "overloaded", "/var/lib", true},
		{consumer.Permanentf("span 3: bad trace ID"), 400, "bad trace ID", "retry", false},
	} {
		rec := httptest.NewRecorder()
		if got := Refuse(rec, c.err); got != c.status || rec.Code != c.status {
			t.Errorf("%v: status %d/%d, want %d", c.err, got, rec.Code, c.status)
		}
		body := rec.Body.String()
		if !strings.Contains(body, c.want) || strings.Contains(body, c.not) {
			t.Errorf("%v: body %q, want %q and not %q", c.err, body, c.want, c.not)
		}
		if (rec.Header().Get("Retry-After") != "") != c.retryAfter {
			t.Errorf("%v: Retry-After %q", c.err, rec.Header().Get("Retry-After"))
		}
	}
}
