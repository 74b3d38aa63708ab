package spanmetrics

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

func graphOf(t *testing.T, s *Store) map[[3]string]EdgeStats {
	t.Helper()
	edges, err := s.Graph(context.Background(), t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	out := map[[3]string]EdgeStats{}
	for _, e := range edges {
		out[[3]string{e.Client, e.Server, e.ConnectionType}] = e
	}
	return out
}

func TestGraphPairsEitherOrderAcrossBatches(t *testing.T) {
	clock := &fakeClock{t: t0}
	s, _ := newTestStore(t, clock, nil)
	tap := NewTap(s, dropAll)
	http := map[string]string{"http.request.method": "GET"}
	// Trace 1: client first; trace 2: server first; trace 3: server fails.
	consume(t, tap, batch(sp{service: "gateway", name: "GET", kind: ptrace.SpanKindClient, trace: 1, id: 1, attrs: http, dur: 30 * time.Millisecond}))
	consume(t, tap, batch(sp{service: "orders", name: "GET /orders", kind: ptrace.SpanKindServer, trace: 1, id: 2, parent: 1, dur: 20 * time.Millisecond}))
	consume(t, tap, batch(sp{service: "orders", name: "GET /orders", kind: ptrace.SpanKindServer, trace: 2, id: 2, parent: 1, dur: 20 * time.Millisecond}))
	clock.Add(5 * time.Second)
	consume(t, tap, batch(sp{service: "gateway", name: "GET", kind: ptrace.SpanKindClient, trace: 2, id: 1, attrs: http}))
	consume(t, tap, batch(
		sp{service: "gateway", name: "GET", kind: ptrace.SpanKindClient, trace: 3, id: 1, attrs: http},
		sp{service: "orders", name: "GET /orders", kind: ptrace.SpanKindServer, trace: 3, id: 2, parent: 1, err: true, dur: 20 * time.Millisecond},
	))
	e, ok := graphOf(t, s)[[3]string{"gateway", "orders", "http"}]
	if !ok || e.Calls != 3 || e.Errors != 1 || e.ServerVirtual {
		t.Fatalf("edge %+v (found %v), want 3 calls, 1 error", e, ok)
	}
	// Edge latency is the server span's duration.
	if rel := float64(e.P50-20*time.Millisecond) / float64(20*time.Millisecond); rel > QuantileRelativeError || rel < -QuantileRelativeError {
		t.Errorf("p50 %v, want ~20ms", e.P50)
	}
	edges, err := s.Graph(context.Background(), t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	deps := DependenciesOf(edges)
	if len(deps) != 1 || deps[0].Parent != "gateway" || deps[0].Child != "orders" || deps[0].CallCount != 3 || deps[0].ErrorCount != 1 {
		t.Errorf("dependencies %+v", deps)
	}
}

func TestGraphProducerConsumerAcrossQueue(t *testing.T) {
	clock := &fakeClock{t: t0}
	s, _ := newTestStore(t, clock, nil)
	tap := NewTap(s, dropAll)
	kafka := map[string]string{"messaging.system": "kafka"}
	// Consumer is a child of the producer.
	consume(t, tap, batch(sp{service: "orders", name: "publish", kind: ptrace.SpanKindProducer, trace: 1, id: 1, attrs: kafka}))
	consume(t, tap, batch(sp{service: "billing", name: "process", kind: ptrace.SpanKindConsumer, trace: 1, id: 2, parent: 1, attrs: kafka}))
	// Consumer in a new trace, linked to the producer (arrives first).
	consume(t, tap, batch(sp{service: "billing", name: "process", kind: ptrace.SpanKindConsumer, trace: 9, id: 3, linkTrace: 2, linkSpan: 1}))
	consume(t, tap, batch(sp{service: "orders", name: "publish", kind: ptrace.SpanKindProducer, trace: 2, id: 1}))
	e, ok := graphOf(t, s)[[3]string{"orders", "billing", "messaging"}]
	if !ok || e.Calls != 2 {
		t.Fatalf("messaging edge %+v (found %v), want 2 calls", e, ok)
	}
}

func TestGraphDatabaseAndPeerVirtualNodes(t *testing.T) {
	clock := &fakeClock{t: t0}
	s, _ := newTestStore(t, clock, nil)
	tap := NewTap(s, dropAll)
	consume(t, tap, batch(
		sp{service: "orders", name: "SELECT", kind: ptrace.SpanKindClient, trace: 1, id: 1, attrs: map[string]string{"db.system.name": "sqlite"}, dur: time.Millisecond},
		sp{service: "orders", name: "INSERT", kind: ptrace.SpanKindClient, trace: 1, id: 2, attrs: map[string]string{"db.system": "postgresql"}, err: true},
		sp{service: "orders", name: "POST", kind: ptrace.SpanKindClient, trace: 1, id: 3, attrs: map[string]string{"server.address": "partner.example", "http.request.method": "POST"}},
		sp{service: "orders", name: "GET", kind: ptrace.SpanKindClient, trace: 1, id: 4}, // no peer: nothing
	))
	g := graphOf(t, s)
	if e := g[[3]string{"orders", "sqlite", "database"}]; e.Calls != 1 || !e.ServerVirtual {
		t.Errorf("sqlite edge %+v", e)
	}
	if e := g[[3]string{"orders", "postgresql", "database"}]; e.Calls != 1 || e.Errors != 1 {
		t.Errorf("postgresql edge %+v", e)
	}
	if _, ok := g[[3]string{"orders", "partner.example", "http"}]; ok {
		t.Error("peer edge made before the wait for a server span was over")
	}
	clock.Add(9 * time.Second)
	if err := s.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := graphOf(t, s)[[3]string{"orders", "partner.example", "http"}]; ok {
		t.Error("peer edge made before 10 s")
	}
	clock.Add(2 * time.Second)
	if err := s.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	g = graphOf(t, s)
	if e := g[[3]string{"orders", "partner.example", "http"}]; e.Calls != 1 || !e.ServerVirtual {
		t.Errorf("partner edge %+v", e)
	}
	if len(g) != 3 {
		t.Errorf("edges %v, want 3", g)
	}
	s.mu.Lock()
	pending, expired := len(s.pairs.pending), s.pairs.expired
	s.mu.Unlock()
	if pending != 0 || expired != 2 {
		t.Errorf("pending %d expired %d, want 0 and 2", pending, expired)
	}
}

func TestGraphExpiredHalfDoesNotPairLater(t *testing.T) {
	clock := &fakeClock{t: t0}
	s, _ := newTestStore(t, clock, func(c *Config) { c.MaxPending = 1 })
	tap := NewTap(s, dropAll)
	consume(t, tap, batch(sp{service: "a", name: "call", kind: ptrace.SpanKindClient, trace: 1, id: 1}))
	consume(t, tap, batch(sp{service: "c", name: "call", kind: ptrace.SpanKindClient, trace: 2, id: 1})) // store full: dropped
	clock.Add(11 * time.Second)
	consume(t, tap, batch(sp{service: "b", name: "serve", kind: ptrace.SpanKindServer, trace: 1, id: 2, parent: 1}))
	if g := graphOf(t, s); len(g) != 0 {
		t.Errorf("edges %v after expiry, want none", g)
	}
	s.mu.Lock()
	dropped := s.pairs.dropped
	s.mu.Unlock()
	if dropped != 1 {
		t.Errorf("dropped %d, want 1", dropped)
	}
}
