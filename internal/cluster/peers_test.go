package cluster

import (
	"context"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/query"
	"github.com/clewtrace/clew/internal/query/predicate"
	"github.com/clewtrace/clew/internal/store"
	"github.com/clewtrace/clew/internal/store/block"
	"github.com/clewtrace/clew/internal/store/wal"
	"github.com/clewtrace/clew/internal/traceql"
)

var t0 = time.Now().Add(-time.Minute).Truncate(time.Millisecond)

func openNode(t *testing.T, bucket objstore.Bucket) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{Dir: t.TempDir(), Bucket: bucket, Shared: true,
		WALSync: wal.SyncNever, DisableRunLoop: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func tid(i int) model.TraceID {
	var id model.TraceID
	copy(id[:], fmt.Sprintf("trace-%010d", i))
	return id
}

// trace makes trace i: a gateway span calling an orders span, at startMs.
func trace(i, startMs int) ptrace.Traces {
	td := ptrace.NewTraces()
	for j, svc := range []string{"gateway", "orders"} {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", svc)
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID(tid(i)))
		sp.SetSpanID(pcommon.SpanID{byte(i), byte(i >> 8), 0, 0, 0, 0, 0, byte(j + 1)})
		if j == 1 {
			sp.SetParentSpanID(pcommon.SpanID{byte(i), byte(i >> 8), 0, 0, 0, 0, 0, 1})
		}
		sp.SetName(svc + " op")
		sp.SetKind(ptrace.SpanKindServer)
		start := t0.Add(time.Duration(startMs) * time.Millisecond)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Millisecond)))
	}
	return td
}

func consume(t *testing.T, s *store.Store, td ptrace.Traces) {
	t.Helper()
	if _, err := s.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
}

// serve puts a node's recent data on a test server, as the query API does.
func serve(t testing.TB, id string, s *store.Store) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(NewHandler(id, s, nil))
	t.Cleanup(srv.Close)
	return srv
}

func hostPort(srv *httptest.Server) string { return strings.TrimPrefix(srv.URL, "http://") }

// Node A answers from its own view plus node B's head and B's new block,
// each trace once, edges counted once; a peer address that is A itself
// is skipped; a dead peer marks the answer partial.
func TestMergedReadsPeersRecentData(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewMemory()
	a, b := openNode(t, bucket), openNode(t, bucket)
	srvA, srvB := serve(t, "node-a", a), serve(t, "node-b", b)

	consume(t, a, trace(1, 0))   // A's own head
	consume(t, b, trace(2, 100)) // B, then written as a block A has not listed
	if err := b.Maintain(ctx, true); err != nil {
		t.Fatal(err)
	}
	consume(t, b, trace(3, 200)) // B's head
	consume(t, b, trace(1, 0))   // a retried batch: B holds copies of trace 1 too

	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()

	peers := NewPeers(PeerOptions{Addrs: []string{hostPort(srvA), hostPort(srvB)}, NodeID: "node-a", Timeout: 2 * time.Second})
	m := NewMerged(a, peers)
	for i := 1; i <= 3; i++ {
		spans, err := m.Trace(ctx, tid(i))
		if err != nil || len(spans) != 2 {
			t.Fatalf("trace %d through A: %d spans, %v; want 2", i, len(spans), err)
		}
	}
	ids, err := m.FindTraceIDs(ctx, predicate.MustCompile(predicate.Predicate{Service: "orders", Kind: -1}), 2)
	if err != nil || len(ids) != 2 || ids[0] != tid(3) || ids[1] != tid(2) {
		t.Fatalf("search through A = %v, %v; want traces 3, 2", ids, err)
	}
	ops, err := m.Operations(ctx)
	if err != nil || len(ops["gateway"]) != 1 || len(ops["orders"]) != 1 {
		t.Fatalf("operations = %+v, %v", ops, err)
	}
	edges, err := m.Dependencies(ctx, t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil || len(edges) != 1 || edges[0].Calls != 4 {
		// trace 1 twice (A's head and B's head: a retried batch that reached
		// two nodes counts on both, as in one node's head and block), 2 and 3 once.
		t.Fatalf("edges = %+v, %v; want gateway->orders with 4 calls", edges, err)
	}
	peers.mu.Lock()
	self := peers.self[hostPort(srvA)]
	peers.mu.Unlock()
	if !self {
		t.Fatal("A did not recognise its own address among its peers")
	}

	// A dead peer: the answer still comes, marked partial.
	withDead := NewMerged(a, NewPeers(PeerOptions{Addrs: []string{hostPort(srvB), deadAddr}, NodeID: "node-a", Timeout: 2 * time.Second}))
	h := MarkPartial(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		spans, err := withDead.Trace(r.Context(), tid(3))
		if err != nil || len(spans) != 2 {
			t.Errorf("trace 3 with a dead peer: %d spans, %v", len(spans), err)
		}
		w.WriteHeader(http.StatusOK)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/traces/x", nil))
	if got := rec.Header().Get(PartialHeader); !strings.Contains(got, deadAddr) {
		t.Fatalf("%s = %q, want it to name the dead peer %s", PartialHeader, got, deadAddr)
	}
	rec = httptest.NewRecorder()
	MarkPartial(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = m.Trace(r.Context(), tid(3))
		w.WriteHeader(http.StatusOK)
	})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if got := rec.Header().Get(PartialHeader); got != "" {
		t.Fatalf("complete answer marked partial: %q", got)
	}
}

// Edges of a block that A already lists are not counted again from B.
func TestMergedCountsBlockEdgesOnce(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewMemory()
	a, b := openNode(t, bucket), openNode(t, bucket)
	srvB := serve(t, "node-b", b)
	consume(t, b, trace(1, 0))
	if err := b.Maintain(ctx, true); err != nil {
		t.Fatal(err)
	}
	m := NewMerged(a, NewPeers(PeerOptions{Addrs: []string{hostPort(srvB)}, NodeID: "node-a"}))
	count := func() uint64 {
		edges, err := m.Dependencies(ctx, t0.Add(-time.Hour), t0.Add(time.Hour))
		if err != nil || len(edges) != 1 {
			t.Fatalf("edges = %+v, %v", edges, err)
		}
		return edges[0].Calls
	}
	if n := count(); n != 1 {
		t.Fatalf("before A polls: %d calls, want 1 (from B's recent block)", n)
	}
	if err := a.PollBucket(ctx); err != nil {
		t.Fatal(err)
	}
	if !a.HasBlock(blockOf(t, bucket)) {
		t.Fatal("A's poll did not find B's block")
	}
	if n := count(); n != 1 {
		t.Fatalf("after A polls: %d calls, want 1 (the block counted once)", n)
	}
}

// Peers given by a name that resolves to several addresses ask each.
func TestPeersResolveNames(t *testing.T) {
	p := NewPeers(PeerOptions{Addrs: []string{"clew-headless:16686", "10.0.0.9:16686"}, Resolver: fakeResolver{
		"clew-headless": {"10.0.0.1", "10.0.0.2"},
	}})
	got, err := p.targets(context.Background())
	if err != nil || strings.Join(got, ",") != "10.0.0.1:16686,10.0.0.2:16686,10.0.0.9:16686" {
		t.Fatalf("targets = %v, %v", got, err)
	}
}

func blockOf(t *testing.T, bucket objstore.Bucket) string {
	t.Helper()
	m, err := block.ListMetas(context.Background(), bucket)
	if err != nil || len(m) != 1 {
		t.Fatalf("blocks: %+v, %v", m, err)
	}
	return m[0].ID
}

type fakeResolver map[string][]string

func (f fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if ips, ok := f[host]; ok {
		return ips, nil
	}
	return nil, fmt.Errorf("no such host %s", host)
}

// TraceQL metrics through node A count A's own spans and B's recent ones
// (its head and a block A has not listed yet), each span once: a batch
// retried to both nodes counts once, and B's block counts once before and
// after A lists it.
func TestMergedMetricsAcrossNodes(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewMemory()
	a, b := openNode(t, bucket), openNode(t, bucket)
	srvA, srvB := serve(t, "node-a", a), serve(t, "node-b", b)
	consume(t, a, trace(1, 0))   // A's head
	consume(t, a, trace(4, 300)) // A's own block
	if err := a.Maintain(ctx, true); err != nil {
		t.Fatal(err)
	}
	consume(t, b, trace(2, 100)) // B's block, not yet listed by A
	if err := b.Maintain(ctx, true); err != nil {
		t.Fatal(err)
	}
	consume(t, b, trace(3, 200)) // B's head
	consume(t, b, trace(1, 0))   // a retried batch: B holds copies of trace 1
	consume(t, b, trace(4, 300)) // and of trace 4, which A wrote as a block

	svc := query.NewService(NewMerged(a, NewPeers(PeerOptions{Addrs: []string{hostPort(srvA), hostPort(srvB)}, NodeID: "node-a", Timeout: 2 * time.Second})))
	q, err := traceql.Parse(`{ } | count_over_time() by (resource.service.name)`)
	if err != nil {
		t.Fatal(err)
	}
	if _, local := q.SpanLocal(); !local {
		t.Fatal("the query is not span-local: it would not use the span scan")
	}
	check := func(when string) {
		t.Helper()
		for _, step := range []time.Duration{2 * time.Hour, time.Minute} {
			start := t0.Add(-time.Hour)
			series, st, err := svc.MetricsTraceQL(ctx, q, start, start.Add(2*time.Hour), step)
			if err != nil {
				t.Fatal(err)
			}
			if st.InspectedTraces != 0 || st.InspectedSpans == 0 {
				t.Fatalf("%+v: the answer was not computed by the span scan", st)
			}
			got := map[string]float64{}
			for _, s := range series {
				for _, v := range s.Values {
					if !math.IsNaN(v) {
						got[s.PromLabels()] += v
					}
				}
			}
			want := map[string]float64{`{resource.service.name="gateway"}`: 4, `{resource.service.name="orders"}`: 4}
			if !maps.Equal(got, want) {
				t.Errorf("%s, step %s: spans per service %v, want %v (traces 1-4, each span once)", when, step, got, want)
			}
		}
	}
	check("before A lists B's block")
	if err := a.PollBucket(ctx); err != nil {
		t.Fatal(err)
	}
	check("after A lists B's block")
}
