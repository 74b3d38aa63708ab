package otlp

import (
	"context"
	"sync"
	"time"
)

// receiveGate bounds the gRPC messages being received at once. grpc-go reads
// a whole message (up to MaxRequestBytes) into memory before Clew learns its
// size, and only opens the stream's flow-control window for it when the
// handler asks for the message; until then a stream buffers at most its
// (static, 64 KiB) window. Passing through this gate before asking bounds the
// bytes being received to slots × MaxRequestBytes, whatever the number of
// streams; the message is then admitted to the in-flight budget by its size
// before it is copied or decoded.
//
// One client (remote IP) may use at most perClient slots, so it cannot hold
// them all; and a slot is given back after hold even if the message is still
// arriving, so slow senders delay the others by at most hold rather than
// blocking them. Waiting is bounded by the request's context (the client's
// deadline).
type receiveGate struct {
	total, perClient int
	hold             time.Duration // 0: slots are held until the receive ends

	mu       sync.Mutex
	n        int
	waiting  int // callers blocked in enter (for tests)
	byClient map[string]int
	freed    chan struct{} // closed (and replaced) whenever a slot is given back
}

func newReceiveGate(total, perClient int, hold time.Duration) *receiveGate {
	return &receiveGate{total: max(total, 1), perClient: max(min(perClient, total), 1), hold: hold,
		byClient: map[string]int{}, freed: make(chan struct{})}
}

// enter waits for a slot for client and returns the function that gives it
// back (safe to call more than once), or ctx's error.
func (g *receiveGate) enter(ctx context.Context, client string) (func(), error) {
	for {
		g.mu.Lock()
		if g.n < g.total && g.byClient[client] < g.perClient {
			g.n++
			g.byClient[client]++
			g.mu.Unlock()
			var once sync.Once
			leave := func() { once.Do(func() { g.leave(client) }) }
			if g.hold <= 0 {
				return leave, nil
			}
			t := time.AfterFunc(g.hold, leave)
			return func() { t.Stop(); leave() }, nil
		}
		freed := g.freed
		g.waiting++
		g.mu.Unlock()
		var err error
		select {
		case <-freed:
		case <-ctx.Done():
			err = ctx.Err()
		}
		g.mu.Lock()
		g.waiting--
		g.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
}

// state reports the slots in use and the callers waiting for one.
func (g *receiveGate) state() (inUse, waiting int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n, g.waiting
}

func (g *receiveGate) leave(client string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.byClient[client]--; g.byClient[client] <= 0 {
		delete(g.byClient, client)
	}
	close(g.freed)
	g.freed = make(chan struct{})
}
