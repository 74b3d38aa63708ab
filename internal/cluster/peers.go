package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/predicate"
	"github.com/clewtrace/clew/internal/store"
	"github.com/clewtrace/clew/internal/store/block"
)

// PeerOptions configures Peers.
type PeerOptions struct {
	// Addrs are host:port of peers' query APIs. A host name is resolved at
	// most every ResolveEvery to all of its addresses, so one DNS name that
	// resolves to every node (a Kubernetes headless service) will do.
	Addrs  []string
	NodeID string // this node's ID: a peer answering with it is this node
	Token  string // the query token, sent as a bearer token
	// Timeout bounds one request to a peer [5 s]. A peer that does not
	// answer in time makes the answer partial, not failed.
	Timeout      time.Duration
	ResolveEvery time.Duration // [10 s]
	Transport    http.RoundTripper
	Resolver     interface {
		LookupHost(ctx context.Context, host string) ([]string, error)
	}
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Peers asks the other nodes for their recent data.
type Peers struct {
	opts   PeerOptions
	client *http.Client

	mu         sync.Mutex
	self       map[string]bool // addresses found to be this node
	resolved   []string
	resolvedAt time.Time
	resolveErr error
	warned     map[string]time.Time // peer -> last warning, to log one line per peer per 10 s

	requests *prometheus.CounterVec
}

// NewPeers returns a client for the given peers (none: every query is local).
func NewPeers(o PeerOptions) *Peers {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.ResolveEvery <= 0 {
		o.ResolveEvery = 10 * time.Second
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	transport := o.Transport
	if transport == nil {
		transport = &http.Transport{MaxIdleConnsPerHost: 8, IdleConnTimeout: 90 * time.Second,
			DialContext: (&net.Dialer{Timeout: o.Timeout}).DialContext}
	}
	p := &Peers{opts: o, client: &http.Client{Transport: transport}, self: map[string]bool{}, warned: map[string]time.Time{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clew_peer_requests_total",
			Help: "Requests to peers for their recent data, by result (ok, error); an error makes the query's answer partial.",
		}, []string{"result"})}
	if o.Registerer != nil {
		o.Registerer.MustRegister(p.requests)
	}
	return p
}

// targets are the peer addresses to ask now, without this node.
func (p *Peers) targets(ctx context.Context) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resolved == nil || time.Since(p.resolvedAt) > p.opts.ResolveEvery {
		var out []string
		var errs []error
		for _, a := range p.opts.Addrs {
			host, port, err := net.SplitHostPort(a)
			if err != nil {
				errs = append(errs, fmt.Errorf("peer %q: %w", a, err))
				continue
			}
			if net.ParseIP(host) != nil {
				out = append(out, a)
				continue
			}
			rctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
			ips, err := p.opts.Resolver.LookupHost(rctx, host)
			cancel()
			if err != nil {
				errs = append(errs, fmt.Errorf("peer %q: %w", a, err))
				continue
			}
			for _, ip := range ips {
				out = append(out, net.JoinHostPort(ip, port))
			}
		}
		sort.Strings(out)
		p.resolved, p.resolvedAt, p.resolveErr = out, time.Now(), errors.Join(errs...)
	}
	var out []string
	for _, a := range p.resolved {
		if !p.self[a] {
			out = append(out, a)
		}
	}
	return out, p.resolveErr
}

// errSelf is a peer address that turned out to be this node.
var errSelf = errors.New("this node")

// get asks one peer and decodes its answer with decode.
func (p *Peers) get(ctx context.Context, addr, method, path string, body []byte, decode func([]byte) error) error {
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	var rd *bytes.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	u := "http://" + addr + path
	var req *http.Request
	var err error
	if rd != nil {
		req, err = http.NewRequestWithContext(ctx, method, u, rd)
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			// The search only reads: marked idempotent, net/http may resend
			// it on a fresh connection when a kept-alive one turns out closed.
			req.Header.Set("X-Idempotency-Key", "read-only")
		}
	} else {
		req, err = http.NewRequestWithContext(ctx, method, u, nil)
	}
	if err != nil {
		return err
	}
	if p.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.opts.Token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if id := resp.Header.Get(NodeHeader); id != "" && id == p.opts.NodeID {
		p.mu.Lock()
		p.self[addr] = true
		p.mu.Unlock()
		return errSelf
	}
	data, err := readBounded(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		_ = json.Unmarshal(data, &e)
		return fmt.Errorf("%s: %s", resp.Status, e.Error)
	}
	return decode(data)
}

// each asks every peer at once; answers are handed to fn one at a time.
// Peers that fail are noted on the request as partial and logged.
func (p *Peers) each(ctx context.Context, method, path string, body []byte, decode func(addr string, data []byte) (any, error), fn func(any)) {
	addrs, err := p.targets(ctx)
	if err != nil {
		notePartial(ctx, "peer lookup failed: "+err.Error())
		p.opts.Logger.Warn("peer lookup failed; answers lack those peers' recent data", "err", err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var v any
			err := p.get(ctx, addr, method, path, body, func(data []byte) (err error) {
				v, err = decode(addr, data)
				return err
			})
			if errors.Is(err, errSelf) {
				return
			}
			if err != nil {
				p.requests.WithLabelValues("error").Inc()
				if ctx.Err() == nil {
					notePartial(ctx, "peer "+addr+" did not answer")
					if p.shouldWarn(addr) {
						p.opts.Logger.Warn("peer did not answer; answers lack its recent data (logged once per 10s per peer)", "peer", addr, "err", err)
					}
				}
				return
			}
			p.requests.WithLabelValues("ok").Inc()
			mu.Lock()
			fn(v)
			mu.Unlock()
		}()
	}
	wg.Wait()
}

func (p *Peers) shouldWarn(addr string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.warned[addr]) < 10*time.Second {
		return false
	}
	p.warned[addr] = time.Now()
	return true
}

// Local is this node's own store.
type Local interface {
	Trace(ctx context.Context, id model.TraceID) ([]model.Span, error)
	FindTraces(ctx context.Context, p *predicate.Compiled, limit int) ([]store.Match, error)
	Operations(ctx context.Context) (map[string][]block.OperationInfo, error)
	Dependencies(ctx context.Context, from, to time.Time) ([]block.Edge, error)
	HasBlock(id string) bool
	ScanSpansExcept(ctx context.Context, p *predicate.Compiled, fields block.Fields, alike func(lo, hi int64) bool, counted *store.SpanKeys, fn func([]model.Span, [][]int64) error) error
}

// Merged answers queries from the local store (this node's view of the
// bucket and its own head) plus every peer's recent data, merged and
// de-duplicated. It implements query.Store.
type Merged struct {
	local Local
	peers *Peers
}

// NewMerged joins local and peers.
func NewMerged(local Local, peers *Peers) *Merged { return &Merged{local: local, peers: peers} }

// Trace merges the local spans with every peer's recent spans.
func (m *Merged) Trace(ctx context.Context, id model.TraceID) ([]model.Span, error) {
	spans, err := m.local.Trace(ctx, id)
	if err != nil {
		return nil, err
	}
	n := len(spans)
	m.peers.each(ctx, http.MethodGet, RecentPath+"traces/"+id.String(), nil, func(addr string, data []byte) (any, error) {
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(data)
		if err != nil {
			return nil, fmt.Errorf("peer %s: %w", addr, err)
		}
		return model.AppendSpans(nil, td), nil
	}, func(v any) { spans = append(spans, v.([]model.Span)...) })
	if len(spans) == n {
		return spans, nil
	}
	return store.Dedupe(spans), nil
}

// FindTraceIDs merges the local matches with every peer's recent matches,
// each trace at its newest matching start, and keeps the limit newest.
func (m *Merged) FindTraceIDs(ctx context.Context, p *predicate.Compiled, limit int) ([]model.TraceID, error) {
	if limit <= 0 {
		limit = 20
	}
	local, err := m.local.FindTraces(ctx, p, limit)
	if err != nil {
		return nil, err
	}
	all := local
	body, _ := json.Marshal(searchRequest{Predicate: p.Predicate(), Limit: min(limit, maxSearchLimit)})
	m.peers.each(ctx, http.MethodPost, RecentPath+"search", body, func(addr string, data []byte) (any, error) {
		var wire []wireMatch
		if err := json.Unmarshal(data, &wire); err != nil {
			return nil, fmt.Errorf("peer %s: %w", addr, err)
		}
		out := make([]store.Match, 0, len(wire))
		for _, w := range wire {
			id, err := model.ParseTraceID(w.TraceID)
			if err != nil {
				return nil, fmt.Errorf("peer %s: %w", addr, err)
			}
			out = append(out, store.Match{TraceID: id, Start: w.Start})
		}
		return out, nil
	}, func(v any) { all = append(all, v.([]store.Match)...) })
	return store.NewestIDs(all, limit), nil
}

// ScanSpans streams the spans matching p (TraceQL metrics, see
// store.Store.ScanSpans) from the local store and every peer's recent
// data, each span once: a peer's recent block that this node lists itself
// is skipped, and a span held by a peer and here (a retried batch that
// reached two nodes) counts once. Peers' spans come whole, after the
// local ones; fn is called from one goroutine at a time.
func (m *Merged) ScanSpans(ctx context.Context, p *predicate.Compiled, fields block.Fields, alike func(lo, hi int64) bool, fn func([]model.Span, [][]int64) error) error {
	body, _ := json.Marshal(spansRequest{Predicate: p.Predicate()})
	counted := store.NewSpanKeys()
	var fromPeers []model.Span
	seenBlock := map[string]bool{}
	m.peers.each(ctx, http.MethodPost, RecentPath+"spans", body, func(addr string, data []byte) (any, error) {
		var wire []wireSpans
		if err := json.Unmarshal(data, &wire); err != nil {
			return nil, fmt.Errorf("peer %s: %w", addr, err)
		}
		out := make([]peerSpans, len(wire))
		for i, w := range wire {
			td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(w.OTLP)
			if err != nil {
				return nil, fmt.Errorf("peer %s: %w", addr, err)
			}
			out[i] = peerSpans{block: w.Block, spans: model.AppendSpans(nil, td)}
		}
		return out, nil
	}, func(v any) {
		for _, src := range v.([]peerSpans) {
			if src.block != "" && (seenBlock[src.block] || m.local.HasBlock(src.block)) {
				continue
			}
			seenBlock[src.block] = src.block != ""
			for i := range src.spans {
				if counted.Add(&src.spans[i]) {
					fromPeers = append(fromPeers, src.spans[i])
				}
			}
		}
	})
	if err := m.local.ScanSpansExcept(ctx, p, fields, alike, counted, fn); err != nil {
		return err
	}
	for len(fromPeers) > 0 {
		batch := fromPeers[:min(len(fromPeers), 4096)]
		fromPeers = fromPeers[len(batch):]
		starts := make([][]int64, len(batch))
		for i := range batch {
			starts[i] = []int64{batch[i].StartUnixNano}
		}
		if err := fn(batch, starts); err != nil {
			return err
		}
	}
	return nil
}

// peerSpans are the spans of one of a peer's recent sources.
type peerSpans struct {
	block string // "" for the peer's heads
	spans []model.Span
}

// Operations is the union of the local and the peers' operations.
func (m *Merged) Operations(ctx context.Context) (map[string][]block.OperationInfo, error) {
	local, err := m.local.Operations(ctx)
	if err != nil {
		return nil, err
	}
	all := block.OperationSet{}
	all.AddAll(local)
	peers := 0
	m.peers.each(ctx, http.MethodGet, RecentPath+"operations", nil, func(addr string, data []byte) (any, error) {
		var ops map[string][]block.OperationInfo
		if err := json.Unmarshal(data, &ops); err != nil {
			return nil, fmt.Errorf("peer %s: %w", addr, err)
		}
		return ops, nil
	}, func(v any) { peers++; all.AddAll(v.(map[string][]block.OperationInfo)) })
	if peers == 0 {
		return local, nil
	}
	return all.Sorted(), nil
}

// Dependencies adds the peers' recent edges to the local ones; a peer's
// block that this node already lists is counted once.
func (m *Merged) Dependencies(ctx context.Context, from, to time.Time) ([]block.Edge, error) {
	local, err := m.local.Dependencies(ctx, from, to)
	if err != nil {
		return nil, err
	}
	sources := []store.EdgeSource{{Edges: local}}
	q := url.Values{"from": {strconv.FormatInt(from.UnixNano(), 10)}, "to": {strconv.FormatInt(to.UnixNano(), 10)}}
	seen := map[string]bool{}
	m.peers.each(ctx, http.MethodGet, RecentPath+"dependencies?"+q.Encode(), nil, func(addr string, data []byte) (any, error) {
		var src []store.EdgeSource
		if err := json.Unmarshal(data, &src); err != nil {
			return nil, fmt.Errorf("peer %s: %w", addr, err)
		}
		return src, nil
	}, func(v any) {
		for _, s := range v.([]store.EdgeSource) {
			if s.Block != "" && (seen[s.Block] || m.local.HasBlock(s.Block)) {
				continue
			}
			seen[s.Block] = s.Block != ""
			sources = append(sources, s)
		}
	})
	if len(sources) == 1 {
		return local, nil
	}
	return store.SumEdges(sources), nil
}
