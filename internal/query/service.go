package query

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/predicate"
	"github.com/clewtrace/clew/internal/store/block"
)

// Store is what the query layer reads. *store.Store implements it.
type Store interface {
	Trace(ctx context.Context, id model.TraceID) ([]model.Span, error)
	FindTraceIDs(ctx context.Context, p *predicate.Compiled, limit int) ([]model.TraceID, error)
	Operations(ctx context.Context) (map[string][]block.OperationInfo, error)
	Dependencies(ctx context.Context, from, to time.Time) ([]block.Edge, error)
}

// Service answers queries over a Store.
type Service struct {
	store Store
	// heavy holds one token per heavy search allowed to run at once.
	heavy chan struct{}
}

// NewService returns a Service reading from st.
func NewService(st Store) *Service {
	return &Service{store: st, heavy: make(chan struct{}, MaxHeavySearches)}
}

// HeavySearchLimit and MaxHeavySearches bound the CPU and memory searches
// take from ingestion: a search asking for more than HeavySearchLimit traces
// (reading and converting up to 1500 whole traces costs seconds of CPU) runs
// only when fewer than MaxHeavySearches others do, and otherwise waits, for
// as long as its context allows (the API's query deadline; then 503). Small
// searches, what the UIs send by default (20), never wait for them.
const (
	HeavySearchLimit = 100
	MaxHeavySearches = 1
)

// admitSearch waits for a heavy-search slot when limit makes the search
// heavy, and returns the function that gives it back.
func (s *Service) admitSearch(ctx context.Context, limit int) (func(), error) {
	if limit <= HeavySearchLimit {
		return func() {}, nil
	}
	return s.admitHeavy(ctx)
}

// admitHeavy waits for a heavy-query slot (heavy searches and TraceQL
// metrics share them), and returns the function that gives it back.
func (s *Service) admitHeavy(ctx context.Context) (func(), error) {
	select {
	case s.heavy <- struct{}{}:
		return func() { <-s.heavy }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for one of %d heavy-query slots (searches with limit > %d, TraceQL metrics): %w", MaxHeavySearches, HeavySearchLimit, ctx.Err())
	}
}

// Services lists every service name, sorted.
func (s *Service) Services(ctx context.Context) ([]string, error) {
	ops, err := s.store.Operations(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ops))
	for svc := range ops {
		names = append(names, svc)
	}
	sort.Strings(names)
	return names, nil
}

// Operations lists the operations of one service, optionally of one span
// kind, sorted by name.
func (s *Service) Operations(ctx context.Context, service, spanKind string) ([]Operation, error) {
	ops, err := s.store.Operations(ctx)
	if err != nil {
		return nil, err
	}
	var out []Operation
	for _, op := range ops[service] {
		kind := ""
		if k := model.SpanKind(op.Kind); k != model.KindUnspecified {
			kind = k.String()
		}
		if spanKind != "" && kind != spanKind {
			continue
		}
		out = append(out, Operation{Name: op.Name, SpanKind: kind})
	}
	return out, nil
}

// GetTrace returns every span of a trace, or ErrNotFound.
func (s *Service) GetTrace(ctx context.Context, id model.TraceID) ([]model.Span, error) {
	spans, err := s.store.Trace(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(spans) == 0 {
		return nil, ErrNotFound
	}
	return spans, nil
}

// FindTraces returns whole traces matching q, most recently started first.
func (s *Service) FindTraces(ctx context.Context, q TraceQuery) ([][]model.Span, error) {
	ids, limit, done, err := s.searchIDs(ctx, q)
	if err != nil {
		return nil, err
	}
	defer done()
	return s.fetchTraces(ctx, ids, q.MaxSpans, fetchersFor(limit))
}

// SummaryStore is a Store that also summarises traces without handing
// out their spans (*store.Store: from its blocks' summary rows).
type SummaryStore interface {
	// TraceSummaries returns the summaries of the traces ids, in order,
	// leaving out traces no longer stored.
	TraceSummaries(ctx context.Context, ids []model.TraceID) ([]model.TraceSummary, error)
}

// FindSummaries returns the summaries of the traces matching q, most
// recently started first: what FindTraces would return, summarised
// (Summarize), without reading the traces when the store keeps summaries.
// q.MaxSpans applies only when the traces must be read.
func (s *Service) FindSummaries(ctx context.Context, q TraceQuery) ([]TraceSummary, error) {
	ids, limit, done, err := s.searchIDs(ctx, q)
	if err != nil {
		return nil, err
	}
	defer done()
	if ss, ok := s.store.(SummaryStore); ok {
		return ss.TraceSummaries(ctx, ids)
	}
	traces, err := s.fetchTraces(ctx, ids, q.MaxSpans, fetchersFor(limit))
	if err != nil {
		return nil, err
	}
	out := make([]TraceSummary, 0, len(traces))
	for _, t := range traces {
		out = append(out, Summarize(t))
	}
	return out, nil
}

// fetchersFor is how many traces a search with this limit reads at once:
// fewer for heavy searches, which hold a heavy-search slot.
func fetchersFor(limit int) int {
	if limit > HeavySearchLimit {
		return heavySearchFetchers
	}
	return searchFetchers
}

// searchIDs runs the search part of q: the IDs of the matching traces,
// newest first, the limit used, and the function that gives back the
// heavy-search slot (call it when the answer is built).
func (s *Service) searchIDs(ctx context.Context, q TraceQuery) (ids []model.TraceID, limit int, done func(), err error) {
	p, err := Predicate(q)
	if err != nil {
		return nil, 0, nil, err
	}
	compiled, err := compile(p)
	if err != nil {
		return nil, 0, nil, err
	}
	limit = q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	done, err = s.admitSearch(ctx, limit)
	if err != nil {
		return nil, 0, nil, err
	}
	ids, err = s.store.FindTraceIDs(ctx, compiled, limit)
	if err != nil {
		done()
		return nil, 0, nil, err
	}
	return ids, limit, done, nil
}

// searchFetchers is how many traces of a search answer are read at once;
// heavySearchFetchers, for a heavy search, so that it takes at most about a
// core from ingestion while it runs.
const (
	searchFetchers      = 4
	heavySearchFetchers = 1
)

// fetchBatch is how many traces of a search answer a BulkTraces store is
// asked for at once: the UIs' default limit, and what a span budget
// (maxSpans) can overshoot by while it is read.
const fetchBatch = 20

// fetchTraces reads the traces of ids a few at a time, keeping their order
// and leaving out traces that no longer exist (expired since the search).
// With maxSpans > 0, traces are added in order until their spans reach it
// (the trace that crosses it is kept), and no further trace is read once
// the traces read hold that many.
//
// A store that reads many traces at once (BulkTraces) is asked for
// fetchBatch of them at a time — each block once per batch, the traces of
// one row group together: the answer of a search mostly sits in the same
// few blocks, and one by one, each trace paid for the block's pages and
// dictionaries again. Heavy searches keep reading one trace at a time,
// which bounds the CPU they take from ingestion.
func (s *Service) fetchTraces(ctx context.Context, ids []model.TraceID, maxSpans, workers int) ([][]model.Span, error) {
	if _, ok := s.store.(BulkTraces); ok && workers > heavySearchFetchers {
		traces := make([][]model.Span, 0, len(ids))
		total := 0
		full := func() bool { return maxSpans > 0 && total >= maxSpans }
		for from := 0; from < len(ids) && !full(); from += fetchBatch {
			if err := ctx.Err(); err != nil {
				return nil, err // the caller's deadline bounds the CPU a search may take
			}
			batch := ids[from:min(from+fetchBatch, len(ids))]
			err := s.eachTrace(ctx, batch, func(spans []model.Span) {
				if len(spans) > 0 && !full() {
					traces = append(traces, spans)
					total += len(spans)
				}
			})
			if err != nil {
				return nil, err
			}
		}
		return traces, nil
	}
	got := make([][]model.Span, len(ids))
	errs := make([]error, len(ids))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		next  int
		spans int
	)
	worker := func() {
		defer wg.Done()
		for {
			mu.Lock()
			i := next
			enough := maxSpans > 0 && spans >= maxSpans
			if i < len(ids) && !enough {
				next++
			}
			mu.Unlock()
			if i >= len(ids) || enough {
				return
			}
			if err := ctx.Err(); err != nil {
				errs[i] = err // the caller's deadline bounds the CPU a search may take
				return
			}
			t, err := s.store.Trace(ctx, ids[i])
			if err != nil {
				errs[i] = err
				cancel()
				return
			}
			got[i] = t
			mu.Lock()
			spans += len(t)
			mu.Unlock()
		}
	}
	n := min(max(workers, 1), len(ids))
	wg.Add(n)
	for range n {
		go worker()
	}
	wg.Wait()
	traces := make([][]model.Span, 0, len(ids))
	total := 0
	for i := range ids {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if maxSpans > 0 && total >= maxSpans {
			break
		}
		if len(got[i]) > 0 {
			traces = append(traces, got[i])
			total += len(got[i])
		}
	}
	return traces, nil
}

// Predicate turns a query into the span predicate.
func Predicate(q TraceQuery) (predicate.Predicate, error) {
	p := predicate.Predicate{
		Service:     q.ServiceName,
		Operation:   q.OperationName,
		Kind:        -1,
		MinDuration: int64(q.DurationMin),
		MaxDuration: int64(q.DurationMax),
		Attributes:  q.Attributes,
	}
	if q.SpanKind != "" {
		k, ok := model.ParseSpanKind(q.SpanKind)
		if !ok {
			return p, fmt.Errorf("unknown span kind %q", q.SpanKind)
		}
		p.Kind = int(k)
	}
	if !q.StartTimeMin.IsZero() {
		p.StartMin = q.StartTimeMin.UnixNano()
	}
	if !q.StartTimeMax.IsZero() {
		p.StartMax = q.StartTimeMax.UnixNano()
	}
	return p, nil
}

// Dependencies returns the service edges seen in [endTs-lookback, endTs].
func (s *Service) Dependencies(ctx context.Context, endTs time.Time, lookback time.Duration) ([]Dependency, error) {
	edges, err := s.store.Dependencies(ctx, endTs.Add(-lookback), endTs)
	if err != nil {
		return nil, err
	}
	out := make([]Dependency, len(edges))
	for i, e := range edges {
		out[i] = Dependency{Parent: e.Parent, Child: e.Child, CallCount: e.Calls, ErrorCount: e.Errors}
	}
	return out, nil
}

// compile prepares a search predicate; one the store cannot run (too many
// conditions) is the query's fault.
func compile(p predicate.Predicate) (*predicate.Compiled, error) {
	c, err := predicate.Compile(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadQuery, err)
	}
	return c, nil
}

// findIDs compiles p and asks the store for up to limit matching traces.
func (s *Service) findIDs(ctx context.Context, p predicate.Predicate, limit int) ([]model.TraceID, error) {
	c, err := compile(p)
	if err != nil {
		return nil, err
	}
	return s.store.FindTraceIDs(ctx, c, limit)
}
