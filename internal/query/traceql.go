package query

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/predicate"
	"github.com/clewtrace/clew/internal/store/block"
	"github.com/clewtrace/clew/internal/traceql"
)

// ErrBadQuery marks a query the caller must fix (an HTTP 400).
var ErrBadQuery = errors.New("bad query")

// Bounds on the work one TraceQL request may do.
const (
	// MaxTraceQLCandidates is how many candidate traces a search evaluates
	// at most before answering with what it found.
	MaxTraceQLCandidates = 20000
	// MaxMetricsTraces is how many traces a metrics query reads at most;
	// beyond it the answer is marked partial.
	MaxMetricsTraces = 200000
	// tagSampleTraces is how many recent traces tag autocomplete reads.
	tagSampleTraces = 200
	// MaxTagValues bounds the values one tag lookup returns.
	MaxTagValues = 1000
)

// TraceQLMatch is one trace a TraceQL search matched, with the span sets
// the query selected.
type TraceQLMatch struct {
	Trace *traceql.Trace
	Sets  []traceql.Set
}

// TraceQLStats says how much a TraceQL request read.
type TraceQLStats struct {
	InspectedTraces int
	InspectedSpans  int
	Partial         bool // a bound was hit; the answer covers part of the range
}

// predicateFor turns a query's hints and a time range into the store's
// search predicate.
func predicateFor(q *traceql.Query, start, end time.Time) predicate.Predicate {
	return predicateOf(q.Hints(), start, end)
}

func predicateOf(h traceql.Hints, start, end time.Time) predicate.Predicate {
	var lo, hi int64
	if !start.IsZero() {
		lo = start.UnixNano()
	}
	if !end.IsZero() {
		hi = end.UnixNano()
	}
	return h.Predicate(lo, hi)
}

// SearchTraceQL returns up to limit traces matching q, most recent first.
// The store's search narrows the candidates with the conditions it can
// check (service, span name, kind, duration, attributes compared with
// literals, time);
// the whole query is then evaluated on each candidate trace. Candidates are
// fetched in growing batches until limit traces match, the store has no
// more, or MaxTraceQLCandidates were evaluated.
func (s *Service) SearchTraceQL(ctx context.Context, q *traceql.Query, start, end time.Time, limit int) ([]TraceQLMatch, TraceQLStats, error) {
	var st TraceQLStats
	if q.IsMetrics() {
		return nil, st, fmt.Errorf("%w: a metrics query needs the metrics endpoints", ErrBadQuery)
	}
	if limit <= 0 {
		limit = DefaultLimit
	}
	done, err := s.admitSearch(ctx, limit)
	if err != nil {
		return nil, st, err
	}
	defer done()
	preds := requiredPredicates(q, start, end)
	seen := map[model.TraceID]bool{}
	var out []TraceQLMatch
	want := max(4*limit, 64)
	for {
		ids, complete, err := s.candidates(ctx, preds, want)
		if err != nil {
			return nil, st, err
		}
		fresh := make([]model.TraceID, 0, len(ids))
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				fresh = append(fresh, id)
			}
		}
		// Candidates are evaluated in chunks, most recent first, so a search
		// stops reading soon after it has limit matches.
		for len(fresh) > 0 {
			// As many as matches are still missing (at least a few): the
			// store reads a chunk's traces together, block by block.
			chunk := fresh[:min(len(fresh), max(limit-len(out), 2*fetchWorkers))]
			fresh = fresh[len(chunk):]
			err := s.eachTrace(ctx, chunk, func(spans []model.Span) {
				st.InspectedTraces++
				st.InspectedSpans += len(spans)
				if len(spans) == 0 || len(out) >= limit {
					return
				}
				t := traceql.NewTrace(spans)
				if sets := q.Eval(t); len(sets) > 0 {
					out = append(out, TraceQLMatch{Trace: t, Sets: sets})
				}
			})
			if err != nil {
				return nil, st, err
			}
			if len(out) >= limit {
				return out, st, nil
			}
		}
		if complete {
			return out, st, nil // every candidate the store has was evaluated
		}
		if want >= MaxTraceQLCandidates {
			st.Partial = true
			return out, st, nil
		}
		want = min(want*4, MaxTraceQLCandidates)
	}
}

// requiredPredicates is one store predicate per span a matching trace must
// have (at least one: the time range alone).
func requiredPredicates(q *traceql.Query, start, end time.Time) []predicate.Predicate {
	var out []predicate.Predicate
	for _, h := range q.RequiredHints() {
		out = append(out, predicateOf(h, start, end))
	}
	if len(out) == 0 {
		out = append(out, predicateOf(traceql.Hints{Kind: -1}, start, end))
	}
	return out
}

// candidates asks the store for up to want traces per predicate, most
// recent first. When one predicate's list is complete (shorter than want),
// it holds every trace that can match, and is the answer (complete). Else
// the answer is the traces on every list, in the first list's order: a
// matching trace has a span for each predicate.
func (s *Service) candidates(ctx context.Context, preds []predicate.Predicate, want int) ([]model.TraceID, bool, error) {
	var inAll []model.TraceID
	for k := range preds {
		ids, err := s.findIDs(ctx, preds[k], want)
		if err != nil {
			return nil, false, err
		}
		if len(ids) < want {
			return ids, true, nil
		}
		if k == 0 {
			inAll = ids
			continue
		}
		has := make(map[model.TraceID]bool, len(ids))
		for _, id := range ids {
			has[id] = true
		}
		kept := inAll[:0]
		for _, id := range inAll {
			if has[id] {
				kept = append(kept, id)
			}
		}
		inAll = kept
	}
	return inAll, false, nil
}

// fetchWorkers is how many traces are read at once: reads wait on block
// I/O and decompression, so a few in flight keep the cores busy.
const fetchWorkers = 4

// BulkTraces is a Store that reads many traces at once, each block once
// for all of them (*store.Store).
type BulkTraces interface {
	Traces(ctx context.Context, ids []model.TraceID, fn func(id model.TraceID, spans []model.Span) error) error
}

// eachTrace reads the traces of ids and calls fn with each one's spans, in
// the order of ids (no spans for a trace the store lacks), from the
// calling goroutine: in one bulk read when the store can, otherwise a few
// traces at a time concurrently.
func (s *Service) eachTrace(ctx context.Context, ids []model.TraceID, fn func([]model.Span)) error {
	if bulk, ok := s.store.(BulkTraces); ok {
		got := make(map[model.TraceID][]model.Span, len(ids))
		if err := bulk.Traces(ctx, ids, func(id model.TraceID, spans []model.Span) error {
			got[id] = spans
			return nil
		}); err != nil {
			return err
		}
		for _, id := range ids {
			fn(got[id])
		}
		return nil
	}
	type result struct {
		spans []model.Span
		err   error
	}
	results := make([]chan result, len(ids))
	sem := make(chan struct{}, fetchWorkers)
	for i, id := range ids {
		results[i] = make(chan result, 1)
		go func(i int, id model.TraceID) {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := ctx.Err(); err != nil {
				results[i] <- result{err: err}
				return
			}
			spans, err := s.store.Trace(ctx, id)
			results[i] <- result{spans, err}
		}(i, id)
	}
	var firstErr error
	for _, ch := range results {
		r := <-ch // drain every result so no goroutine is left blocked
		if firstErr == nil && r.err != nil {
			firstErr = r.err
		}
		if firstErr == nil {
			fn(r.spans)
		}
	}
	return firstErr
}

// SpanScanner is a Store that streams the spans matching a predicate, with
// only the fields asked for, in one pass per block (*store.Store).
type SpanScanner interface {
	ScanSpans(ctx context.Context, p *predicate.Compiled, fields block.Fields, alike func(lo, hi int64) bool, fn func(spans []model.Span, starts [][]int64) error) error
}

// MetricsTraceQL evaluates a metrics query over [start, end) in steps. It
// is a heavy query: it runs only when fewer than MaxHeavySearches others
// do (see admitSearch), within ctx.
//
// A span-local query (traceql.Query.SpanLocal: one { } filter whose
// conditions, measured field and by() read one span alone, the common
// case) is computed in one streaming pass over the stored spans of the
// range that the store's search conditions admit, reading only the
// columns the query needs; memory is bounded by the series kept (at most
// traceql.MaxSeries × steps), not by the spans read. Other queries
// (structural operators, pipelines, trace-level intrinsics) read each
// candidate trace whole, at most MaxMetricsTraces of them.
func (s *Service) MetricsTraceQL(ctx context.Context, q *traceql.Query, start, end time.Time, step time.Duration) ([]traceql.Series, TraceQLStats, error) {
	var st TraceQLStats
	m, err := q.NewMetrics(start.UnixNano(), end.UnixNano(), int64(step))
	if err != nil {
		return nil, st, fmt.Errorf("%w: %v", ErrBadQuery, err)
	}
	done, err := s.admitHeavy(ctx)
	if err != nil {
		return nil, st, err
	}
	defer done()
	if need, ok := q.SpanLocal(); ok {
		if sc, ok := s.store.(SpanScanner); ok {
			return s.metricsBySpan(ctx, sc, q, m, need, start, end)
		}
	}
	ids, err := s.findIDs(ctx, predicateFor(q, start, end), MaxMetricsTraces)
	if err != nil {
		return nil, st, err
	}
	st.Partial = len(ids) >= MaxMetricsTraces
	var observeErr error
	for len(ids) > 0 && observeErr == nil {
		chunk := ids[:min(len(ids), 256)]
		ids = ids[len(chunk):]
		err := s.eachTrace(ctx, chunk, func(spans []model.Span) {
			st.InspectedTraces++
			st.InspectedSpans += len(spans)
			if observeErr != nil {
				return
			}
			t := traceql.NewTrace(spans)
			observeErr = m.Observe(t, q.Eval(t))
		})
		if err != nil {
			return nil, st, err
		}
	}
	if observeErr != nil {
		return nil, st, fmt.Errorf("%w: %v", ErrBadQuery, observeErr)
	}
	series, err := m.Series()
	if err != nil {
		return nil, st, fmt.Errorf("%w: %v", ErrBadQuery, err)
	}
	return series, st, nil
}

// metricsBySpan computes a span-local metrics query from a span scan.
func (s *Service) metricsBySpan(ctx context.Context, sc SpanScanner, q *traceql.Query, m *traceql.Metrics, need traceql.SpanFields, start, end time.Time) ([]traceql.Series, TraceQLStats, error) {
	var st TraceQLStats
	p, err := compile(predicateFor(q, start, end))
	if err != nil {
		return nil, st, err
	}
	var observeErr error
	err = sc.ScanSpans(ctx, p, blockFields(need), m.SameStep, func(spans []model.Span, starts [][]int64) error {
		for _, st0 := range starts {
			st.InspectedSpans += len(st0)
		}
		if err := m.ObserveSpans(q, spans, starts); err != nil {
			observeErr = err
			return err
		}
		return nil
	})
	if observeErr != nil {
		return nil, st, fmt.Errorf("%w: %v", ErrBadQuery, observeErr)
	}
	if err != nil {
		return nil, st, err
	}
	series, err := m.Series()
	if err != nil {
		return nil, st, fmt.Errorf("%w: %v", ErrBadQuery, err)
	}
	return series, st, nil
}

// blockFields maps what a query reads to the span fields a store scan
// fills.
func blockFields(f traceql.SpanFields) block.Fields {
	var out block.Fields
	for _, x := range []struct {
		need bool
		f    block.Fields
	}{
		{f.Name, block.FieldName}, {f.Kind, block.FieldKind}, {f.Duration, block.FieldDuration},
		{f.Status, block.FieldStatus}, {f.StatusMessage, block.FieldExtra}, {f.Resource, block.FieldResource},
		{f.Scope, block.FieldScope}, {f.Attributes, block.FieldAttributes}, {f.Events, block.FieldExtra},
		{f.Links, block.FieldExtra}, {f.IDs, block.FieldIDs | block.FieldExtra}, {f.TraceID, block.FieldIDs},
	} {
		if x.need {
			out |= x.f
		}
	}
	return out
}

// TagScope lists attribute names of one scope.
type TagScope struct {
	Name string // span, resource, event, link, instrumentation or intrinsic
	Tags []string
}

// TagNames lists attribute names seen in recent traces of [start, end]
// (the most recent few hundred), by scope, plus the intrinsics. scope
// limits the answer to one scope ("" or "all": every one).
func (s *Service) TagNames(ctx context.Context, scope string, start, end time.Time) ([]TagScope, error) {
	sets := map[string]map[string]bool{}
	add := func(sc, k string) {
		if sets[sc] == nil {
			sets[sc] = map[string]bool{}
		}
		sets[sc][k] = true
	}
	err := s.sampleSpans(ctx, nil, start, end, func(t *traceql.Trace, i int) {
		sp := &t.Spans[i]
		for _, a := range sp.Attributes {
			add("span", a.Key)
		}
		if sp.Resource != nil {
			add("resource", "service.name")
			for _, a := range sp.Resource.Attributes {
				add("resource", a.Key)
			}
		}
		for _, e := range sp.Events {
			for _, a := range e.Attributes {
				add("event", a.Key)
			}
		}
		for _, l := range sp.Links {
			for _, a := range l.Attributes {
				add("link", a.Key)
			}
		}
		if sp.Scope != nil {
			for _, a := range sp.Scope.Attributes {
				add("instrumentation", a.Key)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	var out []TagScope
	for _, sc := range []string{"span", "resource", "event", "link", "instrumentation"} {
		if scope != "" && scope != "all" && scope != sc {
			continue
		}
		if len(sets[sc]) == 0 {
			continue
		}
		tags := make([]string, 0, len(sets[sc]))
		for k := range sets[sc] {
			tags = append(tags, k)
		}
		sort.Strings(tags)
		out = append(out, TagScope{Name: sc, Tags: tags})
	}
	if scope == "" || scope == "all" || scope == "intrinsic" {
		out = append(out, TagScope{Name: "intrinsic", Tags: traceql.IntrinsicNames()})
	}
	return out, nil
}

// TagValues lists distinct values of one attribute or intrinsic, from the
// spans matching filter (nil: every span) in recent traces of [start,
// end]. Service and span names come from the store's catalogue without
// reading traces.
func (s *Service) TagValues(ctx context.Context, field *traceql.Attr, filter *traceql.Query, start, end time.Time) ([]traceql.Value, error) {
	seen := map[string]traceql.Value{}
	switch {
	case field.Intrinsic == traceql.IStatus:
		for _, w := range []string{"error", "ok", "unset"} {
			seen[w] = traceql.Value{T: traceql.TStatus, N: map[string]int64{"unset": 0, "ok": 1, "error": 2}[w]}
		}
	case field.Intrinsic == traceql.IKind:
		for k := model.KindUnspecified; k <= model.KindConsumer; k++ {
			seen[k.String()] = traceql.Value{T: traceql.TKind, N: int64(k)}
		}
	case filter == nil && field.Intrinsic == traceql.INone && field.Name == "service.name" && field.Scope != traceql.ScopeSpan:
		names, err := s.Services(ctx)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			seen[n] = traceql.Value{T: traceql.TString, S: n}
		}
	case filter == nil && field.Intrinsic == traceql.IName:
		ops, err := s.store.Operations(ctx)
		if err != nil {
			return nil, err
		}
		for _, list := range ops {
			for _, op := range list {
				seen[op.Name] = traceql.Value{T: traceql.TString, S: op.Name}
			}
		}
	default:
		err := s.sampleSpans(ctx, filter, start, end, func(t *traceql.Trace, i int) {
			if len(seen) >= MaxTagValues {
				return
			}
			if v := t.Value(field, i); v.T != traceql.TNil {
				seen[v.String()+"\x00"+v.TypeName()] = v
			}
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]traceql.Value, 0, len(seen))
	for _, v := range seen {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	if len(out) > MaxTagValues {
		out = out[:MaxTagValues]
	}
	return out, nil
}

// sampleSpans calls fn for the spans of recent traces in [start, end]; with
// a filter query, only for the spans of the span sets it selects.
func (s *Service) sampleSpans(ctx context.Context, filter *traceql.Query, start, end time.Time, fn func(t *traceql.Trace, span int)) error {
	p := predicate.Predicate{Kind: -1}
	if filter != nil {
		p = predicateFor(filter, start, end)
	} else {
		if !start.IsZero() {
			p.StartMin = start.UnixNano()
		}
		if !end.IsZero() {
			p.StartMax = end.UnixNano()
		}
	}
	ids, err := s.findIDs(ctx, p, tagSampleTraces)
	if err != nil {
		return err
	}
	var all [][]model.Span
	if err := s.eachTrace(ctx, ids, func(spans []model.Span) {
		if len(spans) > 0 {
			all = append(all, spans)
		}
	}); err != nil {
		return err
	}
	for _, spans := range all {
		t := traceql.NewTrace(spans)
		if filter == nil {
			for i := range t.Spans {
				fn(t, i)
			}
			continue
		}
		for _, set := range filter.Eval(t) {
			for _, i := range set.Spans {
				fn(t, i)
			}
		}
	}
	return nil
}

// MatchTraceQL evaluates q on one trace (for highlighting the spans a
// search matched). It returns the trace's spans and the span sets; no sets
// means the trace does not match. An unknown trace is ErrNotFound.
func (s *Service) MatchTraceQL(ctx context.Context, id model.TraceID, q *traceql.Query) (*traceql.Trace, []traceql.Set, error) {
	if q.IsMetrics() {
		return nil, nil, fmt.Errorf("%w: a metrics query selects no spans", ErrBadQuery)
	}
	spans, err := s.GetTrace(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	t := traceql.NewTrace(spans)
	return t, q.Eval(t), nil
}
