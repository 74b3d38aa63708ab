package otlp

import (
	"net"
	"sync"
	"sync/atomic"
)

// budget bounds the request bytes being processed at once. Requests take a
// lease and grow it as their body is read, so memory is refused before it is
// allocated; when the budget is spent the receiver answers "retry later"
// instead of queueing, which would only move the memory problem elsewhere.
//
// One client (a remote IP address) may hold at most share of it, so a client
// that sends many large or slow requests at once cannot starve the others:
// they always find limit−share free of it.
type budget struct {
	limit, share int64
	used         atomic.Int64 // written under mu; read without it by metrics and tests

	mu       sync.Mutex
	byClient map[string]int64 // bytes held per client key; entries at zero are removed
}

func newBudget(limit, share int64) *budget {
	return &budget{limit: limit, share: min(share, limit), byClient: map[string]int64{}}
}

// tryAcquire takes n bytes for client if they fit in both the whole budget
// and the client's share, without blocking.
func (b *budget) tryAcquire(client string, n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	held := b.byClient[client]
	if b.used.Load()+n > b.limit || held+n > b.share {
		return false
	}
	b.byClient[client] = held + n
	b.used.Add(n)
	return true
}

func (b *budget) release(client string, n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if held := b.byClient[client] - n; held > 0 {
		b.byClient[client] = held
	} else {
		delete(b.byClient, client)
	}
	b.used.Add(-n)
}

// exhausted reports whether not even one more byte fits for client; used to
// refuse a gRPC stream before its message is read.
func (b *budget) exhausted(client string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used.Load() >= b.limit || b.byClient[client] >= b.share
}

// clientKey is the budget key of a remote address: its IP, so a client
// cannot widen its share by opening more connections. Clients behind one
// NAT or proxy share one key.
func clientKey(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

// lease is one request's share of a budget. It is not safe for concurrent
// use; each request owns its lease.
type lease struct {
	b      *budget
	client string
	held   int64
}

func (l *lease) grow(n int64) bool {
	if !l.b.tryAcquire(l.client, n) {
		return false
	}
	l.held += n
	return true
}

// close returns everything the lease holds; safe to call more than once.
func (l *lease) close() {
	l.b.release(l.client, l.held)
	l.held = 0
}

// decodeFactor is the memory a decoded OTLP request takes per wire byte:
// decoding a protobuf export into pdata allocated 4.7–4.8 bytes per wire
// byte (measured on a Node SDK batch and on 20,000 spans with 11 attributes
// each), so a request is admitted for its wire bytes plus four times them.
const decodeFactor = 4

// growForDecode reserves the memory decoding wire bytes will take. A request
// whose decoded size exceeds what one client may hold is capped at what is
// left of that, so a maximal request can still be decoded, alone, rather
// than never.
func (l *lease) growForDecode(wire int) bool {
	n := int64(wire) * decodeFactor
	n = min(n, l.b.share-l.held)
	return l.grow(max(n, 0))
}
