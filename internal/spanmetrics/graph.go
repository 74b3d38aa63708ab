package spanmetrics

import (
	"time"

	"github.com/clewtrace/clew/internal/model"
)

// pairKey is the trace ID and span ID of the calling (CLIENT or PRODUCER)
// span: the called span's parent, or a CONSUMER span's link.
type pairKey [24]byte

func makePairKey(t model.TraceID, s model.SpanID) pairKey {
	var k pairKey
	copy(k[:16], t[:])
	copy(k[16:], s[:])
	return k
}

// half is one side of a call.
type half struct {
	service  string
	kind     model.SpanKind
	failed   bool
	dur      time.Duration
	connType string
	peer     string
}

// pendingPair waits for its other half until expires.
type pendingPair struct {
	seq     uint64
	expires time.Time
	traceID model.TraceID
	client  *half
	server  *half
}

type queued struct {
	key pairKey
	seq uint64
}

// pairer matches calling and called spans by pairKey, as Tempo's service
// graph processor does, holding at most max unmatched halves for wait.
// Callers hold the Store's lock.
type pairer struct {
	wait    time.Duration
	max     int
	pending map[pairKey]*pendingPair
	queue   []queued // insertion order = expiry order
	head    int
	seq     uint64

	dropped uint64 // halves not held because the store was full
	expired uint64 // halves that expired unpaired
}

func newPairer(wait time.Duration, maxPending int) *pairer {
	return &pairer{wait: wait, max: maxPending, pending: map[pairKey]*pendingPair{}}
}

// edgeFunc receives a completed call.
type edgeFunc func(k edgeKey, failed bool, dur time.Duration, traceID model.TraceID)

// add pairs o with a waiting half or starts waiting for one.
func (p *pairer) add(o *spanObs, now time.Time, emit edgeFunc) {
	h := half{service: o.service, kind: o.kind, failed: o.failed, dur: o.dur, connType: o.connType, peer: o.peer}
	switch o.kind {
	case model.KindClient, model.KindProducer:
		if o.dbSystem != "" {
			// Databases rarely emit spans: the call is an edge to a virtual node now.
			emit(edgeKey{Client: o.service, Server: o.dbSystem, ConnectionType: "database", Virtual: true}, o.failed, o.dur, o.traceID)
			return
		}
		p.match(makePairKey(o.traceID, o.spanID), o.traceID, &h, true, now, emit)
	case model.KindServer, model.KindConsumer:
		var first pairKey
		if !o.parentID.IsZero() {
			first = makePairKey(o.traceID, o.parentID)
			p.match(first, o.traceID, &h, false, now, emit)
		}
		for _, l := range o.links {
			if l != first {
				hl := h
				p.match(l, model.TraceID(l[:16]), &hl, false, now, emit)
			}
		}
	}
}

func (p *pairer) match(k pairKey, traceID model.TraceID, h *half, isClient bool, now time.Time, emit edgeFunc) {
	if pp := p.pending[k]; pp != nil {
		other := pp.server
		if !isClient {
			other = pp.client
		}
		if other != nil {
			delete(p.pending, k)
			if isClient {
				emitPair(h, other, traceID, emit)
			} else {
				emitPair(other, h, traceID, emit)
			}
			return
		}
		// Same side twice (a duplicate span): keep the first.
		return
	}
	if len(p.pending) >= p.max {
		p.dropped++
		return
	}
	p.seq++
	pp := &pendingPair{seq: p.seq, expires: now.Add(p.wait), traceID: traceID}
	if isClient {
		pp.client = h
	} else {
		pp.server = h
	}
	p.pending[k] = pp
	p.queue = append(p.queue, queued{key: k, seq: p.seq})
}

func emitPair(client, server *half, traceID model.TraceID, emit edgeFunc) {
	ct := client.connType
	if ct == "" {
		ct = server.connType
	}
	if client.kind == model.KindProducer || server.kind == model.KindConsumer {
		ct = "messaging"
	}
	emit(edgeKey{Client: client.service, Server: server.service, ConnectionType: ct}, client.failed || server.failed, server.dur, traceID)
}

// expire drops halves whose wait is over. A lone calling half that names its
// peer becomes an edge to that peer as a virtual node (latency: the calling
// span's duration); other lone halves are only counted.
func (p *pairer) expire(now time.Time, emit edgeFunc) {
	for p.head < len(p.queue) {
		q := p.queue[p.head]
		pp := p.pending[q.key]
		if pp != nil && pp.seq == q.seq {
			if pp.expires.After(now) {
				break
			}
			delete(p.pending, q.key)
			p.expired++
			if c := pp.client; c != nil && c.peer != "" {
				emit(edgeKey{Client: c.service, Server: c.peer, ConnectionType: c.connType, Virtual: true}, c.failed, c.dur, pp.traceID)
			}
		}
		p.queue[p.head] = queued{}
		p.head++
	}
	if p.head > 1024 && p.head > len(p.queue)/2 {
		p.queue = append(p.queue[:0], p.queue[p.head:]...)
		p.head = 0
	}
}
