package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/clewtrace/clew/internal/cluster"
	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/objstore/s3test"
	"github.com/clewtrace/clew/internal/store"
	"github.com/clewtrace/clew/internal/store/block"
	"github.com/clewtrace/clew/internal/store/wal"
)

// node is one Clew process of a cluster test.
type node struct {
	dir, query string // data directory and fixed query address (peers name it)
	child      *child
}

// startNodeProcess starts n as a Clew server process on its query port,
// with the cluster settings in env.
func startNodeProcess(t *testing.T, n *node, env ...string) {
	t.Helper()
	n.child = startChild(t, n.dir, append([]string{"CLEW_QUERY_ADDR=" + n.query}, env...)...)
}

func (n *node) kill(t *testing.T) {
	t.Helper()
	if err := n.child.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = n.child.cmd.Wait()
	n.child = nil
}

// freeAddr finds a loopback port free now. The nodes need their query
// ports before they start (each names the others in --peers), so they
// cannot use port 0. The port is drawn below Linux's ephemeral range
// (32768–60999 by default): a port the kernel handed out for a ":0"
// listener was found taken again, by another test's listener or outgoing
// connection, before the child bound it ("address already in use", once in
// a full suite run); the kernel never hands out these on its own.
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000)))
		if err != nil {
			continue // taken: draw again
		}
		defer l.Close()
		return l.Addr().String()
	}
	t.Fatal("no free loopback port in 20000–31999 after 100 draws")
	return ""
}

// eventually polls cond until it holds; the deadline only catches hangs.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 2 minutes; last state: %s", what, state)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// scrape reads one series from a node's /metrics, or -1 if it is absent.
func scrape(admin, series string) float64 {
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// fetchTrace reads a trace through a node: its span count (0: not found)
// and the Clew-Partial header.
func fetchTrace(t *testing.T, query, id string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + query + "/api/traces/" + id)
	if err != nil {
		t.Fatalf("GET trace %s through %s: %v", id, query, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return 0, resp.Header.Get(cluster.PartialHeader)
	}
	var got jaegerResponse[[]jaegerTrace]
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET trace %s through %s: %s, %v", id, query, resp.Status, err)
	}
	if len(got.Data) != 1 {
		return 0, resp.Header.Get(cluster.PartialHeader)
	}
	return len(got.Data[0].Spans), resp.Header.Get(cluster.PartialHeader)
}

// searchIDs searches through a node by service (and tags, if any).
func searchIDs(t *testing.T, query, service, tags string) map[string]bool {
	t.Helper()
	u := "http://" + query + "/api/traces?service=" + service + "&limit=1000&lookback=6h"
	if tags != "" {
		u += "&tags=" + tags
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got jaegerResponse[[]jaegerTrace]
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("search through %s: %s, %v", query, resp.Status, err)
	}
	if p := resp.Header.Get(cluster.PartialHeader); p != "" {
		t.Logf("search through %s is partial: %s", query, p)
	}
	ids := map[string]bool{}
	for _, tr := range got.Data {
		ids[tr.TraceID] = true
	}
	return ids
}

// TestScaleOutOnS3 runs three Clew processes on one bucket of a real S3
// server (versitygw), as docs/scale-out.md describes: OTel SDK exports,
// each trace to one node (as the Collector's loadbalancing exporter routes
// by trace ID), are found by ID and by search through every node at once
// after acknowledgment — from heads, peers' heads, and the bucket; retention
// deletes from the bucket; kill -9 of the compactor moves its lease to
// another node; kill -9 of a node holding acknowledged spans only in its
// WAL loses none of them and, restarted, it uploads them.
func TestScaleOutOnS3(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	ctx := context.Background()
	srv := s3test.Start(t)
	s3test.SetCredentials(t)
	bucket := srv.Bucket(t, "clew")
	probe, err := objstore.NewS3(ctx, objstore.S3Options{Bucket: bucket, Endpoint: srv.Endpoint, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}

	nodes := make([]*node, 3)
	var queries []string
	for i := range nodes {
		nodes[i] = &node{dir: t.TempDir(), query: freeAddr(t)}
		queries = append(queries, nodes[i].query)
	}
	// Node 2 keeps its head for an hour: its spans live only in its head
	// and WAL until it is killed. The others cut blocks every second.
	envFor := func(i int, blockAge string) []string {
		return []string{"CLEW_STORAGE=s3", "CLEW_S3_BUCKET=" + bucket, "CLEW_S3_ENDPOINT=" + srv.Endpoint, "CLEW_S3_INSECURE=true",
			"CLEW_PEERS=" + strings.Join(queries, ","), // every node, itself included (as a DNS name would)
			"CLEW_BLOCKS_POLL_INTERVAL=1s", "CLEW_BLOCKS_DELETE_DELAY=2s", "CLEW_COMPACTOR_LEASE_TTL=3s",
			"CLEW_RETENTION=1h", "CLEW_BLOCK_MAX_AGE=" + blockAge}
	}
	ages := []string{"1s", "1s", "1h"}
	for i, n := range nodes {
		startNodeProcess(t, n, envFor(i, ages[i])...)
	}

	// Retention: a trace that ended two hours ago goes to node 0, is cut
	// into a block, and that block is deleted from the bucket.
	expiredMetas := func() (int, string) {
		metas, err := block.ListMetas(ctx, probe)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range metas {
			if time.Unix(0, m.MaxEndUnixNano).Before(time.Now().Add(-time.Hour)) {
				n++
			}
		}
		return n, fmt.Sprintf("%d blocks, %d expired", len(metas), n)
	}
	old := provider(t, "scaleout", grpcExporter(t, nodes[0].child.addrs.OTLPGRPC))
	oldStart := time.Now().Add(-2 * time.Hour)
	_, oldSpan := old.Tracer("e2e").Start(ctx, "old", trace.WithTimestamp(oldStart))
	oldSpan.End(trace.WithTimestamp(oldStart.Add(time.Millisecond)))
	oldID := oldSpan.SpanContext().TraceID().String()
	eventually(t, "expired trace written as a block", func() (bool, string) {
		n, s := expiredMetas()
		if n > 0 {
			return true, s
		}
		// The block is expired from the start, so the compactor may delete
		// it between two listings; its counter then says it was written.
		// (No other block exists yet for it to have deleted.)
		for _, nd := range nodes {
			if scrape(nd.child.addrs.Admin, "clew_store_shared_blocks_deleted_total") > 0 {
				return true, s + ", and a compactor has deleted a block"
			}
		}
		return false, s
	})

	// Traces spread over the nodes, each found through every node at
	// once after the exporter's acknowledgment, with no waiting.
	const perNode = 6
	owner := map[string]int{}
	var ids []string
	for round := range perNode {
		for i, n := range nodes {
			tp := provider(t, "scaleout", grpcExporter(t, n.child.addrs.OTLPGRPC))
			ctx, root := tp.Tracer("e2e").Start(ctx, "checkout", trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(attribute.String("case", fmt.Sprintf("n%d-r%d", i, round))))
			_, child := tp.Tracer("e2e").Start(ctx, "charge")
			child.End()
			root.End() // the syncer exports here: returned means acknowledged
			id := root.SpanContext().TraceID().String()
			ids = append(ids, id)
			owner[id] = i
			for _, other := range nodes {
				if got, partial := fetchTrace(t, other.query, id); got != 2 {
					t.Fatalf("trace %s (ingested by node %d) through %s right after acknowledgment: %d spans, want 2 (partial: %q)", id, i, other.query, got, partial)
				}
			}
		}
	}
	expiredDeleted := false // until then a node may still read it (retention runs every few seconds)
	checkAll := func(when string) {
		t.Helper()
		for _, n := range nodes {
			for _, id := range ids {
				if got, partial := fetchTrace(t, n.query, id); got != 2 {
					t.Fatalf("%s: trace %s (node %d) through %s: %d spans, want 2 (partial: %q)", when, id, owner[id], n.query, got, partial)
				}
			}
			found := searchIDs(t, n.query, "scaleout", "")
			for _, id := range ids {
				if !found[id] {
					t.Fatalf("%s: search through %s misses trace %s of node %d (found %d)", when, n.query, id, owner[id], len(found))
				}
			}
			if expiredDeleted && found[oldID] {
				t.Fatalf("%s: search through %s finds the expired trace", when, n.query)
			}
		}
		one := searchIDs(t, nodes[1].query, "scaleout", `{"case":"n2-r3"}`)
		if len(one) != 1 {
			t.Fatalf("%s: search by tag through node 1: %v, want node 2's one trace", when, one)
		}
		// TraceQL (the Tempo API on the query port) goes through the same
		// merged store: node 0 finds a trace node 2 ingested.
		want := ""
		for id, o := range owner {
			if o == 2 {
				want = id
				break
			}
		}
		var tempo struct {
			Traces []struct {
				TraceID string `json:"traceID"`
			} `json:"traces"`
		}
		q := url.QueryEscape(`{ span.case =~ "n2-.*" }`)
		getJSON(t, "http://"+nodes[0].query+"/api/tempo/api/search?limit=100&q="+q, 200, &tempo)
		found := false
		for _, tr := range tempo.Traces {
			found = found || strings.TrimLeft(tr.TraceID, "0") == strings.TrimLeft(want, "0")
		}
		if len(tempo.Traces) != perNode || !found {
			t.Fatalf("%s: TraceQL through node 0 found %d traces (want node 2's %d, including %s): %+v", when, len(tempo.Traces), perNode, want, tempo.Traces)
		}
	}
	checkAll("after ingest")
	if n := scrape(nodes[2].child.addrs.Admin, "clew_store_head_spans"); n != 2*perNode {
		t.Fatalf("node 2 holds %v spans in its head, want %d (none uploaded)", n, 2*perNode)
	}
	eventually(t, "expired block deleted from the bucket by the compactor", func() (bool, string) { n, s := expiredMetas(); return n == 0, s })
	expiredDeleted = true
	for _, n := range nodes {
		if got, _ := fetchTrace(t, n.query, oldID); got != 0 {
			t.Fatalf("expired trace still found through %s", n.query)
		}
	}
	// Nodes 0 and 1 uploaded theirs; every node lists them from the bucket.
	eventually(t, "nodes 0 and 1 uploaded everything", func() (bool, string) {
		a, b := scrape(nodes[0].child.addrs.Admin, "clew_store_head_spans"), scrape(nodes[1].child.addrs.Admin, "clew_store_head_spans")
		return a == 0 && b == 0, fmt.Sprintf("head spans %v, %v", a, b)
	})
	checkAll("after upload")

	// The compactor: exactly one node holds the lease.
	holder := func(live []int) (int, string) {
		h, state := -1, ""
		for _, i := range live {
			v := scrape(nodes[i].child.addrs.Admin, "clew_compactor_lease_held")
			state += fmt.Sprintf("node %d: %v; ", i, v)
			if v == 1 {
				if h >= 0 {
					return -2, state
				}
				h = i
			}
		}
		return h, state
	}
	var first int
	eventually(t, "one compactor", func() (bool, string) { h, s := holder([]int{0, 1, 2}); first = h; return h >= 0, s })

	// kill -9 a node. While it is down, the others still answer for
	// everything in the bucket and mark answers partial (its WAL-only
	// spans are missing). Restarted, it replays its WAL: nothing is lost.
	crash := func(i int) {
		t.Helper()
		n := nodes[i]
		n.kill(t)
		other := nodes[(i+1)%3]
		for _, id := range ids {
			if owner[id] == i && i == 2 {
				continue // only in the dead node's WAL
			}
			if owner[id] == i {
				// Uploaded by the dead node, perhaps just before it died:
				// in the bucket, so found once the live node has polled.
				eventually(t, "dead node's uploaded trace found", func() (bool, string) {
					got, partial := fetchTrace(t, other.query, id)
					return got == 2, fmt.Sprintf("%d spans, partial %q", got, partial)
				})
				continue
			}
			got, partial := fetchTrace(t, other.query, id)
			if got != 2 {
				t.Fatalf("node %d down: trace %s of node %d through %s: %d spans", i, id, owner[id], other.query, got)
			}
			if !strings.Contains(partial, n.query) {
				t.Fatalf("node %d down: answer through %s not marked partial: %q", i, other.query, partial)
			}
		}
	}
	t.Logf("node %d holds the compactor lease; killing it", first)
	crash(first)
	var live []int
	for i := range nodes {
		if i != first {
			live = append(live, i)
		}
	}
	eventually(t, "the compactor lease moves to a live node", func() (bool, string) {
		h, s := holder(live)
		if h >= 0 {
			t.Logf("the lease moved to node %d", h)
		}
		return h >= 0, s
	})
	// A node comes back cutting blocks every second: node 2 replays its
	// WAL and uploads what it had not.
	startNodeProcess(t, nodes[first], envFor(first, "1s")...)
	if first != 2 {
		crash(2)
		startNodeProcess(t, nodes[2], envFor(2, "1s")...)
	}
	checkAll("after kill -9 and restart")
	eventually(t, "node 2 uploaded its replayed WAL", func() (bool, string) {
		h := scrape(nodes[2].child.addrs.Admin, "clew_store_head_spans")
		b := scrape(nodes[2].child.addrs.Admin, "clew_store_upload_backlog_spans")
		return h == 0 && b == 0, fmt.Sprintf("head %v, backlog %v", h, b)
	})
	// Every acknowledged span is in the bucket: a store that reads only
	// the bucket (no WAL, no peers) finds every trace.
	reader, err := store.Open(ctx, store.Options{Dir: t.TempDir(), Bucket: probe, Shared: true, WALSync: wal.SyncNever, DisableRunLoop: true})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close(ctx)
	for _, id := range ids {
		tid, err := model.ParseTraceID(id)
		if err != nil {
			t.Fatal(err)
		}
		spans, err := reader.Trace(ctx, tid)
		if err != nil || len(spans) != 2 {
			t.Fatalf("trace %s of node %d in the bucket: %d spans, %v", id, owner[id], len(spans), err)
		}
	}
}
