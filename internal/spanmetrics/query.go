package spanmetrics

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/clewtrace/clew/internal/minutes"
	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query"
)

// Stats are the RED figures of a set of spans over a window.
type Stats struct {
	Calls      uint64
	Errors     uint64
	ErrorRate  float64 // Errors / Calls; 0 without calls
	RatePerSec float64 // Calls per second of the window
	P50        time.Duration
	P95        time.Duration
	P99        time.Duration
	Hist       *Histogram // merged latencies, for other quantiles
}

// ServiceStats are a service's entry spans over a window: its SERVER and
// CONSUMER spans; for a service with none (a load generator, a batch job),
// its root spans, each one action; all its spans only if it has neither.
type ServiceStats struct {
	Service string
	Stats
}

// OperationStats are one operation (span name) and kind of a service.
type OperationStats struct {
	Operation string
	SpanKind  string // "server", "client", ...
	Stats
}

// EdgeStats are a service-graph edge's calls; latencies are the server (or
// consumer) side's, or the client's for an edge to a virtual node.
type EdgeStats struct {
	Client         string
	Server         string
	ConnectionType string // "http", "rpc", "messaging", "database" or ""
	ServerVirtual  bool   // Server is not an instrumented service (a database, an external peer)
	Stats
}

// SeriesQuery selects time series.
type SeriesQuery struct {
	Service          string // required
	Operation        string // empty: all operations
	SpanKind         string // comma-separated kinds ("server,consumer"); empty: entry spans as in ServiceStats (all kinds when Operation is set)
	From, To         time.Time
	Step             time.Duration // rounded up to a whole number of minutes; default 1 minute
	GroupByOperation bool          // one series per operation instead of one for the service
}

// Series is one time series; Points cover [From, To) at Step, empty steps
// included.
type Series struct {
	Service   string
	Operation string // empty unless grouped by operation
	Points    []Point
}

// Point is one step. Seconds is the part of the step that has elapsed, the
// denominator of RatePerSec.
type Point struct {
	Time    time.Time
	Seconds float64
	Stats
}

// MaxPoints bounds the points one series may have.
const MaxPoints = 11_000

// ErrBadQuery wraps invalid query arguments.
var ErrBadQuery = errors.New("bad query")

func finish(st *Stats, h *Histogram, seconds float64) {
	st.Hist = h
	if st.Calls > 0 {
		st.ErrorRate = float64(st.Errors) / float64(st.Calls)
	}
	if seconds > 0 {
		st.RatePerSec = float64(st.Calls) / seconds
	}
	st.P50, st.P95, st.P99 = h.Quantile(0.50), h.Quantile(0.95), h.Quantile(0.99)
}

// acc accumulates counts and a histogram.
type acc struct {
	calls, errors uint64
	hist          Histogram
}

func (a *acc) add(calls, errs uint64, h *Histogram) {
	a.calls += calls
	a.errors += errs
	a.hist.Merge(h)
}

func (a *acc) stats(seconds float64) Stats {
	st := Stats{Calls: a.calls, Errors: a.errors}
	h := a.hist
	finish(&st, &h, seconds)
	return st
}

func isEntry(k model.SpanKind) bool { return k == model.KindServer || k == model.KindConsumer }

// minutes returns every writer's minutes overlapping [from, to): from
// memory when they are there, read from the journal otherwise. The open
// minute is a copy.
func (s *Store) minutes(ctx context.Context, from, to time.Time) ([]*minute, error) {
	if !to.After(from) {
		return nil, nil
	}
	first := from.UTC().Truncate(time.Minute)
	in := func(t time.Time) bool { return !t.Before(first) && t.Before(to) }
	s.mu.Lock()
	var out []*minute
	have := map[minutes.Key]bool{}
	for _, m := range s.recent {
		if in(m.Start) {
			out = append(out, m)
			have[minutes.Key{Start: m.Start.UTC(), Writer: m.writer}] = true
		}
	}
	if in(s.open.Start) {
		out = append(out, cloneMinute(s.open))
	}
	s.mu.Unlock()
	for _, k := range s.journal.Keys(from, to) {
		if have[k] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m, err := s.journal.Read(ctx, k)
		if err != nil {
			s.logger.WarnContext(ctx, "skipping unreadable span-metrics minute", "minute", k.Start, "writer", k.Writer, "err", err)
			continue
		}
		out = append(out, m)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, nil
}

func cloneMinute(m *minute) *minute {
	c := newMinute(m.Start)
	for k, v := range m.Series {
		c.Series[k] = &seriesData{Calls: v.Calls, Errors: v.Errors, Hist: *v.Hist.clone()}
	}
	for k, v := range m.Edges {
		c.Edges[k] = &edgeData{Calls: v.Calls, Errors: v.Errors, Hist: *v.Hist.clone()}
	}
	return c
}

// elapsed is the part of [from, to) that is not in the future, in seconds.
func (s *Store) elapsed(from, to time.Time) float64 {
	if now := s.cfg.Clock.Now(); to.After(now) {
		to = now
	}
	return max(to.Sub(from).Seconds(), 0)
}

// Services returns every service seen in [from, to), sorted by name.
func (s *Store) Services(ctx context.Context, from, to time.Time) ([]ServiceStats, error) {
	ms, err := s.minutes(ctx, from, to)
	if err != nil {
		return nil, err
	}
	type svcAcc struct{ entry, roots, all acc }
	by := map[string]*svcAcc{}
	for _, m := range ms {
		for k, d := range m.Series {
			a := by[k.Service]
			if a == nil {
				a = &svcAcc{}
				by[k.Service] = a
			}
			a.all.add(d.Calls, d.Errors, &d.Hist)
			if isEntry(k.Kind) {
				a.entry.add(d.Calls, d.Errors, &d.Hist)
			}
			if k.Root {
				a.roots.add(d.Calls, d.Errors, &d.Hist)
			}
		}
	}
	secs := s.elapsed(from, to)
	out := make([]ServiceStats, 0, len(by))
	for name, a := range by {
		src := &a.all
		switch {
		case a.entry.calls > 0:
			src = &a.entry
		case a.roots.calls > 0:
			src = &a.roots
		}
		out = append(out, ServiceStats{Service: name, Stats: src.stats(secs)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out, nil
}

// Operations returns service's operations (per span kind) in [from, to),
// sorted by name and kind.
func (s *Store) Operations(ctx context.Context, service string, from, to time.Time) ([]OperationStats, error) {
	ms, err := s.minutes(ctx, from, to)
	if err != nil {
		return nil, err
	}
	type opKey struct {
		op   string
		kind model.SpanKind
	}
	by := map[opKey]*acc{}
	for _, m := range ms {
		for k, d := range m.Series {
			if k.Service != service {
				continue
			}
			ok := opKey{k.Operation, k.Kind}
			a := by[ok]
			if a == nil {
				a = &acc{}
				by[ok] = a
			}
			a.add(d.Calls, d.Errors, &d.Hist)
		}
	}
	secs := s.elapsed(from, to)
	out := make([]OperationStats, 0, len(by))
	for k, a := range by {
		out = append(out, OperationStats{Operation: k.op, SpanKind: k.kind.String(), Stats: a.stats(secs)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Operation != out[j].Operation {
			return out[i].Operation < out[j].Operation
		}
		return out[i].SpanKind < out[j].SpanKind
	})
	return out, nil
}

// parseKinds reads a comma-separated list of span kinds; nil for "".
func parseKinds(s string) (map[model.SpanKind]bool, error) {
	if s == "" {
		return nil, nil
	}
	kinds := map[model.SpanKind]bool{}
	for part := range strings.SplitSeq(s, ",") {
		k, ok := model.ParseSpanKind(strings.TrimSpace(part))
		if !ok {
			return nil, fmt.Errorf("%w: unknown span kind %q", ErrBadQuery, part)
		}
		kinds[k] = true
	}
	return kinds, nil
}

// Series returns q's time series, sorted by operation.
func (s *Store) Series(ctx context.Context, q SeriesQuery) ([]Series, error) {
	if q.Service == "" {
		return nil, fmt.Errorf("%w: service is required", ErrBadQuery)
	}
	if !q.To.After(q.From) {
		return nil, fmt.Errorf("%w: end must be after start", ErrBadQuery)
	}
	step := max(q.Step, time.Minute)
	if rem := step % time.Minute; rem != 0 {
		step += time.Minute - rem
	}
	kinds, err := parseKinds(q.SpanKind)
	if err != nil {
		return nil, err
	}
	start := q.From.UTC().Truncate(step)
	n := int((q.To.Sub(start) + step - 1) / step)
	if n > MaxPoints {
		return nil, fmt.Errorf("%w: %d points (at most %d): use a larger step", ErrBadQuery, n, MaxPoints)
	}
	ms, err := s.minutes(ctx, start, q.To)
	if err != nil {
		return nil, err
	}
	rootsOnly := false
	if kinds == nil && q.Operation == "" {
		// Entry spans, if the service has any in the window; else its roots.
		hasRoots := false
		for _, m := range ms {
			for k := range m.Series {
				if k.Service == q.Service && isEntry(k.Kind) {
					kinds = map[model.SpanKind]bool{model.KindServer: true, model.KindConsumer: true}
				}
				hasRoots = hasRoots || (k.Service == q.Service && k.Root)
			}
		}
		rootsOnly = kinds == nil && hasRoots
	}
	by := map[string][]acc{}
	for _, m := range ms {
		i := int(m.Start.Sub(start) / step)
		if i < 0 || i >= n {
			continue
		}
		for k, d := range m.Series {
			if k.Service != q.Service || (q.Operation != "" && k.Operation != q.Operation) || (kinds != nil && !kinds[k.Kind]) || (rootsOnly && !k.Root) {
				continue
			}
			op := ""
			if q.GroupByOperation {
				op = k.Operation
			}
			accs := by[op]
			if accs == nil {
				accs = make([]acc, n)
				by[op] = accs
			}
			accs[i].add(d.Calls, d.Errors, &d.Hist)
		}
	}
	if len(by) == 0 && !q.GroupByOperation {
		by[""] = make([]acc, n)
	}
	out := make([]Series, 0, len(by))
	for op, accs := range by {
		sr := Series{Service: q.Service, Operation: op, Points: make([]Point, n)}
		for i := range accs {
			t := start.Add(time.Duration(i) * step)
			secs := s.elapsed(t, t.Add(step))
			sr.Points[i] = Point{Time: t, Seconds: secs, Stats: accs[i].stats(secs)}
		}
		out = append(out, sr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Operation < out[j].Operation })
	return out, nil
}

// Graph returns the service-graph edges of [from, to), sorted.
func (s *Store) Graph(ctx context.Context, from, to time.Time) ([]EdgeStats, error) {
	ms, err := s.minutes(ctx, from, to)
	if err != nil {
		return nil, err
	}
	by := map[edgeKey]*acc{}
	for _, m := range ms {
		for k, d := range m.Edges {
			a := by[k]
			if a == nil {
				a = &acc{}
				by[k] = a
			}
			a.add(d.Calls, d.Errors, &d.Hist)
		}
	}
	secs := s.elapsed(from, to)
	keys := make([]edgeKey, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return lessEdge(keys[i], keys[j]) })
	out := make([]EdgeStats, 0, len(keys))
	for _, k := range keys {
		out = append(out, EdgeStats{Client: k.Client, Server: k.Server, ConnectionType: k.ConnectionType, ServerVirtual: k.Virtual, Stats: by[k].stats(secs)})
	}
	return out, nil
}

// DependenciesOf turns service-graph edges into Jaeger dependencies (parent =
// client, child = server): edges of one pair with different connection types
// are summed, self-calls left out, first-seen order kept.
func DependenciesOf(edges []EdgeStats) []query.Dependency {
	type pc struct{ p, c string }
	by := map[pc]*query.Dependency{}
	var order []pc
	for _, e := range edges {
		if e.Client == e.Server {
			continue
		}
		k := pc{e.Client, e.Server}
		d := by[k]
		if d == nil {
			d = &query.Dependency{Parent: e.Client, Child: e.Server}
			by[k] = d
			order = append(order, k)
		}
		d.CallCount += e.Calls
		d.ErrorCount += e.Errors
	}
	out := make([]query.Dependency, 0, len(order))
	for _, k := range order {
		out = append(out, *by[k])
	}
	return out
}
