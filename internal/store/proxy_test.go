package store

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/objstore/s3test"
)

// faultProxy stands between Clew and the S3 server. While faulty, it
// answers a fraction of requests itself with 500 or 503, drops the
// connection of another fraction without answering, and delays the rest
// before passing them on.
type faultProxy struct {
	proxy  *httputil.ReverseProxy
	faulty atomic.Bool
	mu     sync.Mutex
	rng    *rand.Rand
	counts map[string]int
}

func newFaultProxy(t *testing.T, endpoint string) *httptest.Server {
	t.Helper()
	target, err := url.Parse("http://" + endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return httptest.NewServer(&faultProxy{proxy: httputil.NewSingleHostReverseProxy(target),
		rng: rand.New(rand.NewPCG(1, 2)), counts: map[string]int{}})
}

func (p *faultProxy) roll() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rng.Float64()
}

func (p *faultProxy) count(what string) {
	p.mu.Lock()
	p.counts[what]++
	p.mu.Unlock()
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.faulty.Load() {
		switch x := p.roll(); {
		case x < 0.15:
			p.count("500")
			_, _ = io.Copy(io.Discard, r.Body)
			http.Error(w, "<Error><Code>InternalError</Code><Message>injected</Message></Error>", http.StatusInternalServerError)
			return
		case x < 0.30:
			p.count("503")
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Retry-After", "0")
			http.Error(w, "<Error><Code>SlowDown</Code><Message>injected</Message></Error>", http.StatusServiceUnavailable)
			return
		case x < 0.40:
			p.count("drop")
			panic(http.ErrAbortHandler) // the connection is closed without an answer
		default:
			p.count("delay")
			time.Sleep(time.Duration(p.roll() * float64(20*time.Millisecond)))
		}
	}
	p.proxy.ServeHTTP(w, r)
}

// Between the store and a real S3 server, a proxy fails, drops and delays
// requests. Ingest keeps acknowledging (the WAL is local); every query
// answers either completely or with an error, never with part of a trace;
// two nodes sharing the bucket keep their block lists through failed
// polls; once the faults stop, the uploads catch up and a reader of the
// bucket alone finds every acknowledged span.
func TestStoreThroughFaultyProxy(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	s3test.SetCredentials(t)
	name := srv.Bucket(t, "faults")
	proxySrv := newFaultProxy(t, srv.Endpoint)
	defer proxySrv.Close()
	proxy := proxySrv.Config.Handler.(*faultProxy)
	open := func(endpoint string, retries int) objstore.Bucket {
		b, err := objstore.NewS3(ctx, objstore.S3Options{Bucket: name, Endpoint: endpoint, Insecure: true, MaxRetries: retries})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// Two tries per request, so that faults reach the store rather than
	// being hidden by the client's retries.
	viaProxy := open(strings.TrimPrefix(proxySrv.URL, "http://"), 2)
	clk := &clock{now: t0}
	writer := openShared(t, viaProxy, clk, &gate{held: true})
	defer writer.Close(ctx)
	reader := openShared(t, viaProxy, clk, &gate{})
	defer reader.Close(ctx)

	proxy.faulty.Store(true)
	began := time.Now()
	const traces = 40
	var complete, failed int
	for tr := range traces {
		mustConsume(t, writer, batch(tr,
			spanSpec{service: "web", name: "GET /", idx: 1, parent: -1, startMs: tr, durMs: 5},
			spanSpec{service: "db", name: "query", idx: 2, parent: 1, startMs: tr + 1, durMs: 2}))
		if tr%10 == 9 {
			_ = writer.flush(ctx, true) // may fail: the head stays queryable and in the WAL
			_ = reader.PollBucket(ctx)  // may fail: the block list stays as it was
		}
		for _, s := range []*Store{writer, reader} {
			spans, err := s.Trace(ctx, traceID(tr/2))
			switch {
			case err != nil:
				failed++
			case s == writer && len(spans) != 2:
				t.Fatalf("trace %d on the writer: %d spans, want 2 (or an error)", tr/2, len(spans))
			case s == reader && len(spans) != 0 && len(spans) != 2:
				t.Fatalf("trace %d on the reader: %d spans, want 0 (not listed yet), 2 or an error", tr/2, len(spans))
			default:
				complete++
			}
		}
	}
	proxy.mu.Lock()
	t.Logf("faults injected: %v; queries complete %d, failed with an error %d", proxy.counts, complete, failed)
	injected := proxy.counts["500"] + proxy.counts["503"] + proxy.counts["drop"]
	proxy.mu.Unlock()
	if injected == 0 || failed == 0 {
		t.Fatalf("the faults reached no query (%d injected): the test proves nothing", injected)
	}

	proxy.faulty.Store(false)
	t.Logf("faulty phase took %s", time.Since(began).Round(time.Millisecond))
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := writer.flush(ctx, true)
		if heads, _ := writer.core.Backlog(); err == nil && heads == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("uploads did not catch up after the faults stopped: %v", err)
		}
	}
	if err := reader.PollBucket(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("catch-up done at %s", time.Since(began).Round(time.Millisecond))
	fresh := openShared(t, open(srv.Endpoint, 0), clk, &gate{})
	defer fresh.Close(ctx)
	for tr := range traces {
		for _, s := range []*Store{writer, reader, fresh} {
			if n := spansOf(t, s, tr); n != 2 {
				t.Fatalf("trace %d after the faults: %d spans, want 2", tr, n)
			}
		}
	}
}
