package cluster

import (
	"context"
	"fmt"
	"testing"

	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/query/predicate"
	"github.com/clewtrace/clew/internal/store"
)

// BenchmarkMergedQuery measures what asking peers adds to a query: node A
// answers alone, or merges the recent data of 1 or 2 peers over loopback
// HTTP. Every node holds 1,000 traces (2,000 spans) in its head.
func BenchmarkMergedQuery(b *testing.B) {
	ctx := context.Background()
	for _, peers := range []int{0, 1, 2} {
		bucket := objstore.NewMemory()
		nodes := make([]*store.Store, 1+peers)
		var addrs []string
		for i := range nodes {
			s, err := store.Open(ctx, store.Options{Dir: b.TempDir(), Bucket: bucket, Shared: true, DisableRunLoop: true})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close(ctx)
			nodes[i] = s
			for tr := range 1000 {
				if _, err := s.ConsumeTraces(ctx, trace(i*1000+tr, tr)); err != nil {
					b.Fatal(err)
				}
			}
			if i > 0 {
				addrs = append(addrs, hostPort(serve(b, fmt.Sprint("node-", i), s)))
			}
		}
		m := NewMerged(nodes[0], NewPeers(PeerOptions{Addrs: addrs, NodeID: "node-0"}))
		pred := predicate.MustCompile(predicate.Predicate{Service: "orders", Kind: -1})
		b.Run(fmt.Sprintf("trace-by-id/peers=%d", peers), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				spans, err := m.Trace(ctx, tid(i%1000))
				if err != nil || len(spans) != 2 {
					b.Fatalf("%d spans, %v", len(spans), err)
				}
			}
		})
		b.Run(fmt.Sprintf("search-limit-20/peers=%d", peers), func(b *testing.B) {
			for b.Loop() {
				ids, err := m.FindTraceIDs(ctx, pred, 20)
				if err != nil || len(ids) != 20 {
					b.Fatalf("%d ids, %v", len(ids), err)
				}
			}
		})
	}
}
