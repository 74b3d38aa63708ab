package partial

import (
	"context"
	"net/http"
	"strings"
	"sync"

	"github.com/felixge/httpsnoop"
)

// Header is the response header that lists, separated by "; ", why an
// answer is partial. Every query API carries it; Jaeger's legacy API also
// puts each reason in its "errors" array.
const Header = "Clew-Partial"

// Middleware gives each request a Report (keeping one already there) and,
// when the handler starts its answer, sets Header from it. Handlers that
// compute the whole answer before writing — all of Clew's — report every
// reason; a streamed answer reports those known when it started.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := From(r.Context())
		if rep == nil {
			var ctx context.Context
			ctx, rep = With(r.Context())
			r = r.WithContext(ctx)
		}
		var once sync.Once
		mark := func() {
			once.Do(func() {
				if reasons := rep.Reasons(); len(reasons) > 0 {
					w.Header().Set(Header, headerSafe(strings.Join(reasons, "; ")))
					w.Header().Add("Access-Control-Expose-Headers", Header) // the UI reads it cross-origin
				}
			})
		}
		w = httpsnoop.Wrap(w, httpsnoop.Hooks{
			WriteHeader: func(f httpsnoop.WriteHeaderFunc) httpsnoop.WriteHeaderFunc {
				return func(code int) { mark(); f(code) }
			},
			Write: func(f httpsnoop.WriteFunc) httpsnoop.WriteFunc {
				return func(b []byte) (int, error) { mark(); return f(b) }
			},
		})
		next.ServeHTTP(w, r)
	})
}

// headerSafe keeps a header value to printable ASCII.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return ' '
		}
		return r
	}, s)
}
