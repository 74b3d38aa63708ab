// Package ratelog keeps a receiver's warnings about refused requests to one
// line per interval. A client sending bad or unstorable data as fast as it
// can must not flood the log (nor fill the disk under it); every refusal is
// still counted in /metrics, and the line that is logged says how many were
// left out since the last one.
package ratelog

import (
	"sync"
	"time"
)

// DefaultInterval is how often a receiver logs a refusal at most.
const DefaultInterval = 10 * time.Second

// Limiter decides which events are logged. The zero value is not usable;
// make one with New. It is safe for concurrent use.
type Limiter struct {
	every time.Duration
	now   func() time.Time

	mu         sync.Mutex
	next       time.Time // the first time the next line may be logged
	suppressed int
}

// New returns a Limiter that allows one line per every; now is the clock
// (nil: time.Now).
func New(every time.Duration, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{every: every, now: now}
}

// Allow reports whether to log this event, and if so how many events were
// not logged since the last line.
func (l *Limiter) Allow() (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.now()
	if t.Before(l.next) {
		l.suppressed++
		return false, 0
	}
	l.next = t.Add(l.every)
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}
