package traceql

import (
	"math"
	"strconv"

	"github.com/clewtrace/clew/internal/query/predicate"
)

// Hints are conditions that one span of every trace matching a query must
// satisfy, in the form a store's search understands. They never exclude a
// matching trace (they may admit traces the query then rejects), so a caller
// can fetch candidate traces with them and evaluate the query on each.
type Hints struct {
	Service     string // the span's service (resource service.name)
	Name        string // span name
	Kind        int    // span kind (model.SpanKind); -1: any
	MinDuration int64  // ns, inclusive; 0: none
	MaxDuration int64  // ns, inclusive; 0: none
	ErrorStatus bool   // the span's status is error
	// Attributes the span, its resource or one of its events has, compared
	// in their string form.
	Attributes map[string]string
	// Compares are the other comparisons of attributes with literals
	// (ranges, !=, regular expressions), loosened as predicate.Compare
	// says.
	Compares []predicate.Compare
}

// Predicate is the store predicate of the hints over spans starting in
// [start, end] (Unix ns; 0: unbounded).
func (h Hints) Predicate(start, end int64) predicate.Predicate {
	return predicate.Predicate{
		Service: h.Service, Operation: h.Name, Kind: h.Kind, ErrorStatus: h.ErrorStatus,
		MinDuration: h.MinDuration, MaxDuration: h.MaxDuration,
		Attributes: h.Attributes, Compares: h.Compares,
		StartMin: start, StartMax: end,
	}
}

// constrains reports whether the hints rule out any span.
func (h Hints) constrains() bool {
	return h.Service != "" || h.Name != "" || h.Kind >= 0 || h.ErrorStatus || h.MinDuration > 0 || h.MaxDuration > 0 ||
		len(h.Attributes) > 0 || len(h.Compares) > 0
}

// Hints extracts the store conditions of the query.
func (q *Query) Hints() Hints {
	h := Hints{Kind: -1}
	if cond := requiredCond(q.Root); cond != nil {
		addHints(&h, cond)
	}
	return h
}

// requiredCond returns the condition of a { } filter that some span of
// every matching trace satisfies, or nil when there is no single one.
func requiredCond(s Spanset) Field {
	switch s := s.(type) {
	case *Filter:
		return s.Cond
	case *Pipeline:
		return requiredCond(s.Source)
	case *SpansetOp:
		switch s.Op {
		case "||":
			return nil
		case "!>", "!>>", "!<", "!<<", "!~":
			return requiredCond(s.R)
		}
		l, r := requiredCond(s.L), requiredCond(s.R)
		if score(l) >= score(r) {
			return l
		}
		return r
	}
	return nil
}

// score rates how selective a condition's hints are.
func score(f Field) int {
	if f == nil {
		return -1
	}
	h := Hints{Kind: -1}
	addHints(&h, f)
	n := len(h.Attributes) + len(h.Compares)
	if h.Service != "" {
		n += 2
	}
	if h.Name != "" {
		n += 2
	}
	if h.Kind >= 0 {
		n++
	}
	if h.ErrorStatus {
		n++
	}
	if h.MinDuration > 0 || h.MaxDuration > 0 {
		n++
	}
	return n
}

// addHints collects hints from the top-level conjuncts of cond.
func addHints(h *Hints, cond Field) {
	b, ok := cond.(*Binary)
	if !ok {
		return
	}
	if b.Op == "&&" {
		addHints(h, b.L)
		addHints(h, b.R)
		return
	}
	a, aok := b.L.(*Attr)
	lit, lok := b.R.(*Literal)
	op := b.Op
	if !aok || !lok {
		a, aok = b.R.(*Attr)
		lit, lok = b.L.(*Literal)
		op = flip[op]
	}
	if !aok || !lok {
		return
	}
	switch a.Intrinsic {
	case IDuration:
		if lit.Val.T != TDuration && lit.Val.T != TInt {
			return
		}
		switch op {
		case ">", ">=":
			if lit.Val.N > h.MinDuration {
				h.MinDuration = lit.Val.N
			}
		case "<", "<=":
			if lit.Val.N > 0 && (h.MaxDuration == 0 || lit.Val.N < h.MaxDuration) {
				h.MaxDuration = lit.Val.N
			}
		}
		return
	}
	if op != "=" || lit.Val.T == TFloat {
		addCompare(h, a, op, lit.Val)
		return
	}
	switch a.Intrinsic {
	case IName:
		if lit.Val.T == TString {
			h.Name = lit.Val.S
		}
	case IKind:
		if lit.Val.T == TKind {
			h.Kind = int(lit.Val.N)
		}
	case IStatus:
		if lit.Val.T == TStatus && lit.Val.N == 2 {
			h.ErrorStatus = true
		}
	case INone:
		if a.Name == "service.name" && (a.Scope == ScopeResource || a.Scope == ScopeNone) {
			if lit.Val.T == TString {
				h.Service = lit.Val.S
			}
			return
		}
		if a.Scope == ScopeLink || a.Scope == ScopeInstrumentation {
			return
		}
		switch lit.Val.T {
		case TString, TInt, TBool:
			setAttr(h, a.Name, lit.Val.String())
		}
	}
}

// addCompare adds a comparison of an attribute with a literal other than
// the equalities above. service.name of a resource is left out: blocks keep
// it in the resource's service name, not always among its attributes.
func addCompare(h *Hints, a *Attr, op string, v Value) {
	if a.Intrinsic != INone || op == "" || len(h.Compares)+len(h.Attributes) >= predicate.MaxAttributes {
		return
	}
	switch a.Scope {
	case ScopeLink, ScopeInstrumentation:
		return
	case ScopeNone, ScopeResource:
		if a.Name == "service.name" {
			return
		}
	}
	c := predicate.Compare{Key: a.Name, Op: op, SpanOrResource: a.Scope == ScopeSpan || a.Scope == ScopeResource || a.Scope == ScopeNone}
	switch v.T {
	case TInt, TDuration:
		c.Numeric, c.Value = true, strconv.FormatInt(v.N, 10)
	case TFloat:
		if math.IsNaN(v.F) || math.IsInf(v.F, 0) {
			return
		}
		c.Numeric, c.Value = true, strconv.FormatFloat(v.F, 'g', -1, 64)
	case TString:
		c.Value = v.S
	default:
		return
	}
	if c.Numeric && (op == "=~" || op == "!~") {
		return
	}
	h.Compares = append(h.Compares, c)
}

func setAttr(h *Hints, k, v string) {
	if h.Attributes == nil {
		h.Attributes = map[string]string{}
	}
	h.Attributes[k] = v
}

var flip = map[string]string{"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<=", "=~": "", "!~": ""}

// RequiredHints lists hints for every span a matching trace must have: one
// per side of && and of plain or union structural operators (the right side
// only for negated ones), none under ||. Hints that constrain nothing are
// left out. A caller may intersect the candidate traces of all of them.
func (q *Query) RequiredHints() []Hints {
	var out []Hints
	for _, cond := range requiredConds(q.Root) {
		h := Hints{Kind: -1}
		if cond != nil {
			addHints(&h, cond)
		}
		if h.constrains() {
			out = append(out, h)
		}
	}
	return out
}

func requiredConds(s Spanset) []Field {
	switch s := s.(type) {
	case *Filter:
		return []Field{s.Cond}
	case *Pipeline:
		return requiredConds(s.Source)
	case *SpansetOp:
		switch s.Op {
		case "||":
			return nil
		case "!>", "!>>", "!<", "!<<", "!~":
			return requiredConds(s.R)
		}
		return append(requiredConds(s.L), requiredConds(s.R)...)
	}
	return nil
}
