package traceql

import (
	"regexp"
	"strings"
)

// Scope says where an attribute is looked up.
type Scope uint8

// Attribute scopes. ScopeNone is the unscoped form (.key): the span's
// attribute if it has one, else the resource's.
const (
	ScopeNone Scope = iota
	ScopeSpan
	ScopeResource
	ScopeEvent
	ScopeLink
	ScopeInstrumentation
)

var scopeNames = map[string]Scope{
	"span": ScopeSpan, "resource": ScopeResource, "event": ScopeEvent,
	"link": ScopeLink, "instrumentation": ScopeInstrumentation,
}

func (s Scope) String() string {
	switch s {
	case ScopeSpan:
		return "span"
	case ScopeResource:
		return "resource"
	case ScopeEvent:
		return "event"
	case ScopeLink:
		return "link"
	case ScopeInstrumentation:
		return "instrumentation"
	}
	return ""
}

// Intrinsic is a built-in field of a span, its trace, event, link or scope.
type Intrinsic uint8

// Intrinsics.
const (
	INone Intrinsic = iota
	IName
	IStatus
	IStatusMessage
	IKind
	IDuration
	ISpanID
	ISpanParentID
	ITraceID
	ITraceRootService
	ITraceRootName
	ITraceDuration
	IEventName
	IEventTimeSinceStart
	ILinkTraceID
	ILinkSpanID
	IInstrumentationName
	IInstrumentationVersion
)

// intrinsicNames maps every accepted spelling to its intrinsic; the first
// spelling listed for each in intrinsicCanonical is how it is printed.
var intrinsicNames = map[string]Intrinsic{
	"name": IName, "span:name": IName,
	"status": IStatus, "span:status": IStatus,
	"statusMessage": IStatusMessage, "span:statusMessage": IStatusMessage,
	"kind": IKind, "span:kind": IKind,
	"duration": IDuration, "span:duration": IDuration,
	"span:id": ISpanID, "span:parentID": ISpanParentID,
	"trace:id":          ITraceID,
	"trace:rootService": ITraceRootService, "rootServiceName": ITraceRootService,
	"trace:rootName": ITraceRootName, "rootName": ITraceRootName,
	"trace:duration": ITraceDuration, "traceDuration": ITraceDuration,
	"event:name": IEventName, "event:timeSinceStart": IEventTimeSinceStart,
	"link:traceID": ILinkTraceID, "link:spanID": ILinkSpanID,
	"instrumentation:name": IInstrumentationName, "instrumentation:version": IInstrumentationVersion,
}

var intrinsicCanonical = map[Intrinsic]string{
	IName: "name", IStatus: "status", IStatusMessage: "statusMessage", IKind: "kind",
	IDuration: "duration", ISpanID: "span:id", ISpanParentID: "span:parentID", ITraceID: "trace:id",
	ITraceRootService: "trace:rootService", ITraceRootName: "trace:rootName",
	ITraceDuration: "trace:duration", IEventName: "event:name",
	IEventTimeSinceStart: "event:timeSinceStart", ILinkTraceID: "link:traceID",
	ILinkSpanID: "link:spanID", IInstrumentationName: "instrumentation:name",
	IInstrumentationVersion: "instrumentation:version",
}

// IntrinsicNames lists the canonical intrinsic names (for tag autocomplete).
func IntrinsicNames() []string {
	out := make([]string, 0, len(intrinsicCanonical))
	for i := IName; i <= IInstrumentationVersion; i++ {
		out = append(out, intrinsicCanonical[i])
	}
	return out
}

// Field is an expression evaluated on one span.
type Field interface{ fieldNode() }

// Attr is a scoped or unscoped attribute, or an intrinsic.
type Attr struct {
	Scope     Scope
	Name      string    // attribute key; empty for an intrinsic
	Intrinsic Intrinsic // INone for an attribute
}

// String prints the attribute as a query would spell it.
func (a *Attr) String() string {
	if a.Intrinsic != INone {
		return intrinsicCanonical[a.Intrinsic]
	}
	name := a.Name
	if strings.ContainsAny(name, " \t{}()=!<>~&|+*/%^,\"`") {
		name = `"` + strings.ReplaceAll(name, `"`, `\"`) + `"`
	}
	return a.Scope.String() + "." + name
}

// multi reports whether the field has one value per event or link.
func (a *Attr) multi() Scope {
	switch {
	case a.Scope == ScopeEvent || a.Intrinsic == IEventName || a.Intrinsic == IEventTimeSinceStart:
		return ScopeEvent
	case a.Scope == ScopeLink || a.Intrinsic == ILinkTraceID || a.Intrinsic == ILinkSpanID:
		return ScopeLink
	}
	return ScopeNone
}

// Literal is a constant.
type Literal struct{ Val Value }

// Binary is an arithmetic, comparison or logical operation.
type Binary struct {
	Op   string // + - * / % ^ = != < <= > >= =~ !~ && ||
	L, R Field
	re   *regexp.Regexp // compiled pattern for =~ and !~ with a literal right side
	// For comparisons: the sides read event or link fields, which have one
	// value per event or link; the comparison holds if it holds for any.
	events, links bool
	// nilTest: one side is the literal nil, so = and != test existence;
	// otherwise a missing value makes every comparison false.
	nilTest bool
}

// Unary is ! or unary minus.
type Unary struct {
	Op string // ! or -
	X  Field
}

func (*Attr) fieldNode()    {}
func (*Literal) fieldNode() {}
func (*Binary) fieldNode()  {}
func (*Unary) fieldNode()   {}

// Spanset is an expression that selects span sets from one trace.
type Spanset interface{ spansetNode() }

// Filter is { cond }: the spans for which cond is true. A nil Cond is {}.
type Filter struct{ Cond Field }

// SpansetOp combines two span-set expressions: && and || (set logic) or a
// structural relation (> >> < << ~, negated with !, union forms with &).
type SpansetOp struct {
	Op   string
	L, R Spanset
}

// Pipeline is a span-set expression followed by stages.
type Pipeline struct {
	Source Spanset
	Stages []Stage
}

func (*Filter) spansetNode()    {}
func (*SpansetOp) spansetNode() {}
func (*Pipeline) spansetNode()  {}

// Stage is one step after '|'.
type Stage interface{ stageNode() }

// SpansetStage filters the spans of each span set with a span-set
// expression evaluated over those spans only.
type SpansetStage struct{ Expr Spanset }

// ScalarFilter keeps span sets for which L Op R holds, such as count() > 2.
type ScalarFilter struct {
	Op   string
	L, R Scalar
}

// ByStage splits each span set into one per distinct value of the fields.
type ByStage struct{ Fields []Field }

// SelectStage adds the fields' values to the spans returned.
type SelectStage struct{ Fields []*Attr }

// CoalesceStage merges a trace's span sets into one.
type CoalesceStage struct{}

func (*SpansetStage) stageNode()  {}
func (*ScalarFilter) stageNode()  {}
func (*ByStage) stageNode()       {}
func (*SelectStage) stageNode()   {}
func (*CoalesceStage) stageNode() {}

// Scalar is a number computed from a span set.
type Scalar interface{ scalarNode() }

// Aggregate is count(), avg(f), min(f), max(f) or sum(f) over a span set.
type Aggregate struct {
	Fn    string
	Field Field // nil for count
}

// ScalarLiteral is a constant in a scalar filter.
type ScalarLiteral struct{ Val Value }

// ScalarBinary is arithmetic between scalars.
type ScalarBinary struct {
	Op   string
	L, R Scalar
}

func (*Aggregate) scalarNode()     {}
func (*ScalarLiteral) scalarNode() {}
func (*ScalarBinary) scalarNode()  {}

// MetricsFunc is the final stage of a metrics query.
type MetricsFunc struct {
	Fn        string    // rate, count_over_time, quantile_over_time, histogram_over_time, min/max/avg/sum_over_time
	Field     Field     // the measured field (nil for rate and count_over_time)
	Quantiles []float64 // quantile_over_time
	By        []*Attr
}

// Query is a parsed TraceQL query.
type Query struct {
	Src     string
	Root    *Pipeline
	Metrics *MetricsFunc // non-nil for a metrics query
}

// IsMetrics reports whether the query ends in a metrics function.
func (q *Query) IsMetrics() bool { return q.Metrics != nil }
