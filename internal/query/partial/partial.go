// Package partial carries, through a request's context, why a query's
// answer may be incomplete: a damaged block the store skipped, a head
// still being replayed after a crash. The store adds reasons as it reads;
// the API edge turns them into Jaeger's "errors" array or a response
// header. A query whose context holds no Report ignores the reasons, so
// callers that do not care (compaction, tests) need nothing.
package partial

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// maxReasons bounds a Report: a search over thousands of damaged blocks
// reports the first few, then a count.
const maxReasons = 8

// Report collects the distinct reasons one request's answer is partial.
// Safe for concurrent use (a search reads blocks in parallel).
type Report struct {
	mu      sync.Mutex
	reasons []string
	dropped int
}

type key struct{}

// With returns ctx carrying a new, empty Report.
func With(ctx context.Context) (context.Context, *Report) {
	r := &Report{}
	return context.WithValue(ctx, key{}, r), r
}

// From returns the Report in ctx, or nil.
func From(ctx context.Context) *Report {
	r, _ := ctx.Value(key{}).(*Report)
	return r
}

// Add records reason in ctx's Report, if it has one; repeats are ignored.
func Add(ctx context.Context, reason string) {
	if r := From(ctx); r != nil {
		r.add(reason)
	}
}

func (r *Report) add(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case slices.Contains(r.reasons, reason):
	case len(r.reasons) < maxReasons:
		r.reasons = append(r.reasons, reason)
	default:
		r.dropped++
	}
}

// Partial reports whether any reason was added. Nil-safe.
func (r *Report) Partial() bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reasons) > 0
}

// Reasons returns the reasons in the order they were first added, with a
// last line counting those left out past the bound. Nil-safe.
func (r *Report) Reasons() []string {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.reasons)
	if r.dropped > 0 {
		out = append(out, fmt.Sprintf("and %d more", r.dropped))
	}
	return out
}
