package query

import (
	"errors"
	"time"

	"github.com/clewtrace/clew/internal/model"
)

// ErrNotFound is returned for a trace ID that no stored span has.
var ErrNotFound = errors.New("trace not found")

// TraceQuery selects traces. A trace matches when at least one of its spans
// matches every non-empty field at once (Jaeger's semantics).
type TraceQuery struct {
	ServiceName   string            // empty: any service
	OperationName string            // span name; empty: any
	SpanKind      string            // "server", "client", ...; empty: any
	Attributes    map[string]string // every pair must match the same span: span, resource or event attributes, compared as strings; "error"="true" also matches status ERROR
	DurationMin   time.Duration     // 0: no lower bound
	DurationMax   time.Duration     // 0: no upper bound
	StartTimeMin  time.Time         // span start time window; zero: unbounded
	StartTimeMax  time.Time
	Limit         int // maximum number of traces; <= 0 means DefaultLimit
	// MaxSpans bounds a search's memory: traces are added, most recent
	// first, until their spans reach MaxSpans (the trace that crosses it is
	// kept whole, so at least one trace comes back). <= 0: no bound.
	MaxSpans int
}

// DefaultLimit is the number of traces a search returns when no limit is given.
const DefaultLimit = 20

// Operation is a span name seen for a service, with its kind.
type Operation struct {
	Name     string
	SpanKind string // "server", "client", ... or "" when unspecified
}

// Dependency is a service-to-service edge: spans of Parent had child spans in Child.
type Dependency struct {
	Parent     string
	Child      string
	CallCount  uint64
	ErrorCount uint64 // calls whose child span failed
}

// TraceSummary describes one trace in a search result (model.TraceSummary).
type TraceSummary = model.TraceSummary

// ServiceSummary counts one service's spans in a trace.
type ServiceSummary = model.ServiceSummary
