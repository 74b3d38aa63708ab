package query

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/store/block"
)

// Store is what the query layer reads. *store.Store implements it.
type Store interface {
	Trace(ctx context.Context, id model.TraceID) ([]model.Span, error)
	FindTraceIDs(ctx context.Context, p block.Predicate, limit int) ([]model.TraceID, error)
	Operations(ctx context.Context) (map[string][]block.OperationInfo, error)
	Dependencies(ctx context.Context, from, to time.Time) ([]block.Edge, error)
}

// Service answers queries over a Store.
type Service struct {
	store Store
}

// NewService returns a Service reading from st.
func NewService(st Store) *Service { return &Service{store: st} }

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
	p, err := Predicate(q)
	if err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	ids, err := s.store.FindTraceIDs(ctx, p, limit)
	if err != nil {
		return nil, err
	}
	traces := make([][]model.Span, 0, len(ids))
	total := 0
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err // the caller's deadline bounds the CPU a search may take
		}
		spans, err := s.store.Trace(ctx, id)
		if err != nil {
			return nil, err
		}
		if len(spans) > 0 {
			traces = append(traces, spans)
			total += len(spans)
		}
		if q.MaxSpans > 0 && total >= q.MaxSpans {
			break
		}
	}
	return traces, nil
}

// Predicate turns a query into the store's span predicate.
func Predicate(q TraceQuery) (block.Predicate, error) {
	p := block.Predicate{
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
