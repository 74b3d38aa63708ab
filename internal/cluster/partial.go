package cluster

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"sync"
)

// PartialHeader is the response header that marks an answer as possibly
// incomplete: some peer did not answer, so spans it had not yet written to
// the bucket are missing. Its value names the peers and why.
const PartialHeader = "Clew-Partial"

type partialKey struct{}

type partialNotes struct {
	mu    sync.Mutex
	notes map[string]bool
}

// notePartial records, for the request in ctx, that its answer lacks a
// peer's data. Without MarkPartial around the handler it does nothing.
func notePartial(ctx context.Context, note string) {
	p, _ := ctx.Value(partialKey{}).(*partialNotes)
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.notes == nil {
		p.notes = map[string]bool{}
	}
	p.notes[note] = true
	p.mu.Unlock()
}

func (p *partialNotes) header() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := make([]string, 0, len(p.notes))
	for n := range p.notes {
		list = append(list, n)
	}
	sort.Strings(list)
	return strings.Join(list, "; ")
}

// MarkPartial wraps a query API so that an answer missing a peer's data
// carries the Clew-Partial header (answers are computed before the first
// byte is written, so the header is known in time).
func MarkPartial(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := &partialNotes{}
		ctx := context.WithValue(r.Context(), partialKey{}, p)
		next.ServeHTTP(&partialWriter{ResponseWriter: w, p: p}, r.WithContext(ctx))
	})
}

type partialWriter struct {
	http.ResponseWriter
	p       *partialNotes
	written bool
}

func (w *partialWriter) mark() {
	if w.written {
		return
	}
	w.written = true
	if h := w.p.header(); h != "" {
		w.Header().Set(PartialHeader, h)
		w.Header().Add("Access-Control-Expose-Headers", PartialHeader)
	}
}

func (w *partialWriter) WriteHeader(code int) { w.mark(); w.ResponseWriter.WriteHeader(code) }
func (w *partialWriter) Write(b []byte) (int, error) {
	w.mark()
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer (flushes).
func (w *partialWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
