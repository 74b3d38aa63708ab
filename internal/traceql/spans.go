package traceql

import (
	"errors"

	"github.com/clewtrace/clew/internal/model"
)

// SpanFields says which parts of a span a query reads.
type SpanFields struct {
	Name, Kind, Duration, Status, StatusMessage bool
	Resource, Scope, Attributes, Events, Links  bool
	IDs                                         bool // span and parent span IDs
	TraceID                                     bool // each span's own (not grouped with others)
}

// SpanLocal reports whether the query is a metrics query whose every
// decision depends on one span alone — a single { } filter, no pipeline
// stages, no trace-level intrinsics in the filter, the measured field or
// by() — and which fields of a span it reads. Such a query can be
// evaluated on spans from any traces, in any order (ObserveSpans), without
// reading whole traces.
func (q *Query) SpanLocal() (SpanFields, bool) {
	var f SpanFields
	if q.Metrics == nil || len(q.Root.Stages) > 0 {
		return f, false
	}
	filter, ok := q.Root.Source.(*Filter)
	if !ok {
		return f, false
	}
	local := fieldsOf(filter.Cond, &f) && fieldsOf(q.Metrics.Field, &f)
	for _, a := range q.Metrics.By {
		local = local && fieldsOf(a, &f)
	}
	return f, local
}

// fieldsOf adds what e reads to f and reports whether e is span-local.
func fieldsOf(e Field, f *SpanFields) bool {
	switch e := e.(type) {
	case nil, *Literal:
		return true
	case *Unary:
		return fieldsOf(e.X, f)
	case *Binary:
		return fieldsOf(e.L, f) && fieldsOf(e.R, f)
	case *Attr:
		switch e.Intrinsic {
		case INone:
			switch e.Scope {
			case ScopeSpan:
				f.Attributes = true
			case ScopeResource:
				f.Resource = true
			case ScopeNone:
				f.Attributes, f.Resource = true, true
			case ScopeEvent:
				f.Events = true
			case ScopeLink:
				f.Links = true
			case ScopeInstrumentation:
				f.Scope = true
			}
		case IName:
			f.Name = true
		case IStatus:
			f.Status = true
		case IStatusMessage:
			f.StatusMessage = true
		case IKind:
			f.Kind = true
		case IDuration:
			f.Duration = true
		case ISpanID, ISpanParentID:
			f.IDs = true
		case ITraceID:
			f.TraceID = true
		case IEventName, IEventTimeSinceStart:
			f.Events = true
		case ILinkTraceID, ILinkSpanID:
			f.Links = true
		case IInstrumentationName, IInstrumentationVersion:
			f.Scope = true
		default: // trace:rootService, trace:rootName, trace:duration
			return false
		}
		return true
	}
	return false
}

// ObserveSpans evaluates a span-local query (see SpanLocal) on spans of
// any traces and adds the spans it selects. spans[i] stands for
// len(starts[i]) spans alike in every field the query reads, starting at
// starts[i] (a store scan groups them so; nil starts: each span alone).
// Spans must have the fields SpanLocal named filled.
func (m *Metrics) ObserveSpans(q *Query, spans []model.Span, starts [][]int64) error {
	if m.err != nil {
		return m.err
	}
	filter, ok := q.Root.Source.(*Filter)
	if !ok || len(q.Root.Stages) > 0 {
		return errNotSpanLocal
	}
	t := &Trace{Spans: spans, root: -1}
	for i := range spans {
		if filter.Cond != nil && !matches(filter.Cond, t, i) {
			continue
		}
		var err error
		if starts == nil {
			err = m.observe(t, i)
		} else {
			err = m.observeAt(t, i, starts[i])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

var errNotSpanLocal = errors.New("traceql: the query is not span-local; observe whole traces")
