package traceql

import (
	"cmp"
	"strings"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/predicate"
)

// Set is one span set of a trace: indices into the trace's spans (as passed
// to Eval), ascending, plus the by() values that formed it.
type Set struct {
	Spans []int
	By    []Labeled
}

// Labeled is a field and its value, such as a by() group key.
type Labeled struct {
	Name string
	Val  Value
}

// Trace is one trace prepared for evaluation. Build it with NewTrace.
type Trace struct {
	Spans []model.Span

	start, end  int64
	root        int // index of the root span, -1 if none
	byID        map[model.SpanID][]int
	parentsMemo [][]int
}

// NewTrace prepares spans (all of one trace) for evaluation.
func NewTrace(spans []model.Span) *Trace {
	t := &Trace{Spans: spans, root: -1}
	for i := range spans {
		s := &spans[i]
		if i == 0 || s.StartUnixNano < t.start {
			t.start = s.StartUnixNano
		}
		if i == 0 || s.EndUnixNano > t.end {
			t.end = s.EndUnixNano
		}
		if s.ParentSpanID.IsZero() && (t.root < 0 || s.StartUnixNano < spans[t.root].StartUnixNano) {
			t.root = i
		}
	}
	return t
}

// Root is the root span's index, or -1.
func (t *Trace) Root() int { return t.root }

// StartEnd is the earliest start and latest end of the trace's spans.
func (t *Trace) StartEnd() (int64, int64) { return t.start, t.end }

func (t *Trace) parents(i int) []int {
	if t.byID == nil {
		t.byID = make(map[model.SpanID][]int, len(t.Spans))
		for j := range t.Spans {
			id := t.Spans[j].SpanID
			t.byID[id] = append(t.byID[id], j)
		}
	}
	p := t.Spans[i].ParentSpanID
	if p.IsZero() {
		return nil
	}
	return t.byID[p]
}

// Eval runs the query's pipeline (not its metrics stage) over one trace and
// returns the span sets it selects; none means the trace does not match.
func (q *Query) Eval(t *Trace) []Set {
	all := make([]int, len(t.Spans))
	for i := range all {
		all[i] = i
	}
	return evalPipeline(q.Root, t, all)
}

func evalPipeline(p *Pipeline, t *Trace, universe []int) []Set {
	sets := evalSpanset(p.Source, t, universe)
	for _, st := range p.Stages {
		if len(sets) == 0 {
			return nil
		}
		sets = applyStage(st, t, sets)
	}
	return sets
}

func single(spans []int) []Set {
	if len(spans) == 0 {
		return nil
	}
	return []Set{{Spans: spans}}
}

func evalSpanset(e Spanset, t *Trace, universe []int) []Set {
	switch e := e.(type) {
	case *Filter:
		if e.Cond == nil {
			return single(append([]int(nil), universe...))
		}
		var out []int
		for _, i := range universe {
			if matches(e.Cond, t, i) {
				out = append(out, i)
			}
		}
		return single(out)
	case *Pipeline:
		return evalPipeline(e, t, universe)
	case *SpansetOp:
		l := union(evalSpanset(e.L, t, universe))
		r := union(evalSpanset(e.R, t, universe))
		switch e.Op {
		case "&&":
			if len(l) == 0 || len(r) == 0 {
				return nil
			}
			return single(merge(l, r))
		case "||":
			return single(merge(l, r))
		}
		return single(structural(e.Op, t, l, r))
	}
	return nil
}

// union is every span of the sets, ascending, without repeats.
func union(sets []Set) []int {
	if len(sets) == 1 {
		return sets[0].Spans
	}
	var out []int
	for _, s := range sets {
		out = merge(out, s.Spans)
	}
	return out
}

// merge unions two ascending index lists.
func merge(a, b []int) []int {
	out := make([]int, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j >= len(b) || i < len(a) && a[i] < b[j]:
			out = append(out, a[i])
			i++
		case i >= len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// inverse maps a structural relation to the one seen from the other side.
var inverse = map[string]string{">": "<", ">>": "<<", "<": ">", "<<": ">>", "~": "~"}

// structural evaluates l OP r: the spans of r related to some span of l
// (plain), not related to any (negated, !OP), or both sides' related spans
// (union, &OP).
func structural(op string, t *Trace, l, r []int) []int {
	switch op[0] {
	case '!':
		rel := related(op[1:], t, l, r)
		out := make([]int, 0, len(r))
		k := 0
		for _, i := range r {
			if k < len(rel) && rel[k] == i {
				k++
				continue
			}
			out = append(out, i)
		}
		return out
	case '&':
		return merge(related(op[1:], t, l, r), related(inverse[op[1:]], t, r, l))
	}
	return related(op, t, l, r)
}

// related returns the spans of cand that stand in relation op to some span
// of target: for ">", cand spans whose parent is in target; ">>": with an
// ancestor in target; "<": that are the parent of a target span; "<<": that
// are an ancestor of one; "~": that share a parent with one (not itself).
func related(op string, t *Trace, target, cand []int) []int {
	if len(target) == 0 || len(cand) == 0 {
		return nil
	}
	in := make([]bool, len(t.Spans))
	for _, i := range target {
		in[i] = true
	}
	var ok func(i int) bool
	switch op {
	case ">":
		ok = func(i int) bool {
			for _, p := range t.parents(i) {
				if in[p] {
					return true
				}
			}
			return false
		}
	case ">>":
		// state: 0 unknown, 1 visiting, 2 has a target ancestor, 3 has none.
		state := make([]uint8, len(t.Spans))
		var anc func(i int) bool
		anc = func(i int) bool {
			switch state[i] {
			case 1, 3:
				return false // a cycle, or known
			case 2:
				return true
			}
			state[i] = 1
			found := false
			for _, p := range t.parents(i) {
				if in[p] || anc(p) {
					found = true
					break
				}
			}
			state[i] = 3
			if found {
				state[i] = 2
			}
			return found
		}
		ok = anc
	case "<", "<<":
		mark := make([]bool, len(t.Spans))
		for _, i := range target {
			if op == "<" {
				for _, p := range t.parents(i) {
					mark[p] = true
				}
				continue
			}
			// Walk up, stopping where an earlier walk already went.
			stack := append([]int(nil), t.parents(i)...)
			for len(stack) > 0 {
				p := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if mark[p] {
					continue
				}
				mark[p] = true
				stack = append(stack, t.parents(p)...)
			}
		}
		ok = func(i int) bool { return mark[i] }
	case "~":
		count := map[model.SpanID]int{}
		for _, i := range target {
			if p := t.Spans[i].ParentSpanID; !p.IsZero() {
				count[p]++
			}
		}
		ok = func(i int) bool {
			p := t.Spans[i].ParentSpanID
			if p.IsZero() {
				return false
			}
			n := count[p]
			if in[i] {
				n--
			}
			return n > 0
		}
	default:
		return nil
	}
	var out []int
	for _, i := range cand {
		if ok(i) {
			out = append(out, i)
		}
	}
	return out
}

func applyStage(st Stage, t *Trace, sets []Set) []Set {
	switch st := st.(type) {
	case *SpansetStage:
		var out []Set
		for _, s := range sets {
			if spans := union(evalSpanset(st.Expr, t, s.Spans)); len(spans) > 0 {
				out = append(out, Set{Spans: spans, By: s.By})
			}
		}
		return out
	case *ScalarFilter:
		var out []Set
		for _, s := range sets {
			l, lok := scalar(st.L, t, s.Spans)
			r, rok := scalar(st.R, t, s.Spans)
			if lok && rok && predicate.Order(st.Op, cmp.Compare(l, r)) && l == l && r == r {
				out = append(out, s)
			}
		}
		return out
	case *ByStage:
		var out []Set
		for _, s := range sets {
			index := map[string]int{}
			for _, i := range s.Spans {
				vals := make([]Labeled, len(st.Fields))
				var key strings.Builder
				for k, f := range st.Fields {
					v := eval(f, &ctx{t: t, s: &t.Spans[i], i: i, ev: -1, ln: -1})
					vals[k] = Labeled{Name: fieldName(f), Val: v}
					key.WriteString(v.String())
					key.WriteByte(byte(v.T))
					key.WriteByte(0)
				}
				g, ok := index[key.String()]
				if !ok {
					g = len(out)
					index[key.String()] = g
					out = append(out, Set{By: append(append([]Labeled(nil), s.By...), vals...)})
				}
				out[g].Spans = append(out[g].Spans, i)
			}
		}
		return out
	case *CoalesceStage:
		return single(union(sets))
	case *SelectStage:
		return sets // select only widens what is returned; see Query.OutputFields
	}
	return sets
}

// scalar evaluates an aggregate expression over a span set. ok is false when
// there is nothing to aggregate (avg of no numeric values).
func scalar(s Scalar, t *Trace, spans []int) (float64, bool) {
	switch s := s.(type) {
	case *ScalarLiteral:
		return s.Val.Float(), true
	case *ScalarBinary:
		l, lok := scalar(s.L, t, spans)
		r, rok := scalar(s.R, t, spans)
		if !lok || !rok {
			return 0, false
		}
		v := arith(s.Op, Value{T: TFloat, F: l}, Value{T: TFloat, F: r})
		return v.F, v.T == TFloat
	case *Aggregate:
		if s.Fn == "count" {
			return float64(len(spans)), true
		}
		var sum, mn, mx float64
		n := 0
		for _, i := range spans {
			v := eval(s.Field, &ctx{t: t, s: &t.Spans[i], i: i, ev: -1, ln: -1})
			if !v.IsNumeric() {
				continue
			}
			f := v.Float()
			if n == 0 || f < mn {
				mn = f
			}
			if n == 0 || f > mx {
				mx = f
			}
			sum += f
			n++
		}
		if n == 0 {
			return 0, false
		}
		switch s.Fn {
		case "avg":
			return sum / float64(n), true
		case "min":
			return mn, true
		case "max":
			return mx, true
		}
		return sum, true
	}
	return 0, false
}

func fieldName(f Field) string {
	if a, ok := f.(*Attr); ok {
		return a.String()
	}
	return "expr"
}

// ctx is one span being evaluated, with the event and link a comparison is
// currently looking at (-1: none).
type ctx struct {
	t      *Trace
	s      *model.Span
	i      int
	ev, ln int
}

func matches(f Field, t *Trace, i int) bool {
	return truth(eval(f, &ctx{t: t, s: &t.Spans[i], i: i, ev: -1, ln: -1}))
}

// Matches reports whether span i of t satisfies a { } condition (exported
// for callers that highlight matching spans).
func Matches(f Field, t *Trace, i int) bool { return f == nil || matches(f, t, i) }

func eval(f Field, c *ctx) Value {
	switch f := f.(type) {
	case *Literal:
		return f.Val
	case *Attr:
		return lookup(f, c)
	case *Unary:
		x := eval(f.X, c)
		if f.Op == "!" {
			return boolValue(!truth(x))
		}
		return arith("-", Value{T: TInt}, x)
	case *Binary:
		switch f.Op {
		case "&&":
			return boolValue(truth(eval(f.L, c)) && truth(eval(f.R, c)))
		case "||":
			return boolValue(truth(eval(f.L, c)) || truth(eval(f.R, c)))
		case "+", "-", "*", "/", "%", "^":
			return arith(f.Op, eval(f.L, c), eval(f.R, c))
		}
		return boolValue(compareAny(f, c))
	}
	return Value{T: TNil}
}

// compareAny evaluates a comparison, trying every event and link when the
// sides read them.
func compareAny(b *Binary, c *ctx) bool {
	if b.events && c.ev < 0 {
		for e := range c.s.Events {
			c.ev = e
			ok := compareAny(b, c)
			c.ev = -1
			if ok {
				return true
			}
		}
		return false
	}
	if b.links && c.ln < 0 {
		for l := range c.s.Links {
			c.ln = l
			ok := compareAny(b, c)
			c.ln = -1
			if ok {
				return true
			}
		}
		return false
	}
	return compare(b, eval(b.L, c), eval(b.R, c))
}

// readsMulti reports whether f reads event or link fields.
func readsMulti(f Field) (events, links bool) {
	switch f := f.(type) {
	case *Attr:
		switch f.multi() {
		case ScopeEvent:
			return true, false
		case ScopeLink:
			return false, true
		}
	case *Unary:
		return readsMulti(f.X)
	case *Binary:
		if comparisonOps[f.Op] || f.Op == "&&" || f.Op == "||" {
			return false, false // a nested comparison loops by itself
		}
		e1, l1 := readsMulti(f.L)
		e2, l2 := readsMulti(f.R)
		return e1 || e2, l1 || l2
	}
	return false, false
}

func attrValue(attrs []model.Attribute, key string) (Value, bool) {
	for i := range attrs {
		if attrs[i].Key == key {
			return FromModel(attrs[i].Value), true
		}
	}
	return Value{}, false
}

func resourceAttr(s *model.Span, key string) (Value, bool) {
	if s.Resource == nil {
		if key == "service.name" {
			return Value{T: TString, S: model.UnknownService}, true
		}
		return Value{}, false
	}
	if v, ok := attrValue(s.Resource.Attributes, key); ok {
		return v, true
	}
	if key == "service.name" {
		return Value{T: TString, S: s.Service()}, true
	}
	return Value{}, false
}

func lookup(a *Attr, c *ctx) Value {
	s := c.s
	nilv := Value{T: TNil}
	if a.Intrinsic == INone {
		var v Value
		var ok bool
		switch a.Scope {
		case ScopeSpan:
			v, ok = attrValue(s.Attributes, a.Name)
		case ScopeResource:
			v, ok = resourceAttr(s, a.Name)
		case ScopeNone:
			if v, ok = attrValue(s.Attributes, a.Name); !ok {
				v, ok = resourceAttr(s, a.Name)
			}
		case ScopeEvent:
			if c.ev >= 0 && c.ev < len(s.Events) {
				v, ok = attrValue(s.Events[c.ev].Attributes, a.Name)
			}
		case ScopeLink:
			if c.ln >= 0 && c.ln < len(s.Links) {
				v, ok = attrValue(s.Links[c.ln].Attributes, a.Name)
			}
		case ScopeInstrumentation:
			if s.Scope != nil {
				v, ok = attrValue(s.Scope.Attributes, a.Name)
			}
		}
		if !ok {
			return nilv
		}
		return v
	}
	t := c.t
	switch a.Intrinsic {
	case IName:
		return Value{T: TString, S: s.Name}
	case IStatus:
		return Value{T: TStatus, N: int64(s.StatusCode)}
	case IStatusMessage:
		return Value{T: TString, S: s.StatusMessage}
	case IKind:
		return Value{T: TKind, N: int64(s.Kind)}
	case IDuration:
		return Value{T: TDuration, N: int64(s.Duration())}
	case ISpanID:
		return Value{T: TString, S: s.SpanID.String()}
	case ISpanParentID:
		if s.ParentSpanID.IsZero() {
			return nilv
		}
		return Value{T: TString, S: s.ParentSpanID.String()}
	case ITraceID:
		return Value{T: TString, S: s.TraceID.String()}
	case ITraceRootService:
		if t.root < 0 {
			return nilv
		}
		return Value{T: TString, S: t.Spans[t.root].Service()}
	case ITraceRootName:
		if t.root < 0 {
			return nilv
		}
		return Value{T: TString, S: t.Spans[t.root].Name}
	case ITraceDuration:
		return Value{T: TDuration, N: t.end - t.start}
	case IEventName:
		if c.ev >= 0 && c.ev < len(s.Events) {
			return Value{T: TString, S: s.Events[c.ev].Name}
		}
	case IEventTimeSinceStart:
		if c.ev >= 0 && c.ev < len(s.Events) {
			return Value{T: TDuration, N: s.Events[c.ev].TimeUnixNano - s.StartUnixNano}
		}
	case ILinkTraceID:
		if c.ln >= 0 && c.ln < len(s.Links) {
			return Value{T: TString, S: s.Links[c.ln].TraceID.String()}
		}
	case ILinkSpanID:
		if c.ln >= 0 && c.ln < len(s.Links) {
			return Value{T: TString, S: s.Links[c.ln].SpanID.String()}
		}
	case IInstrumentationName:
		if s.Scope != nil {
			return Value{T: TString, S: s.Scope.Name}
		}
	case IInstrumentationVersion:
		if s.Scope != nil {
			return Value{T: TString, S: s.Scope.Version}
		}
	}
	return nilv
}

// Value evaluates a field on span i of t (for select() output and metrics
// labels). Event and link fields read the first event or link.
func (t *Trace) Value(f Field, i int) Value {
	c := &ctx{t: t, s: &t.Spans[i], i: i, ev: -1, ln: -1}
	if ev, ln := readsMulti(f); ev || ln {
		if ev && len(c.s.Events) > 0 {
			c.ev = 0
		}
		if ln && len(c.s.Links) > 0 {
			c.ln = 0
		}
	}
	return eval(f, c)
}

// OutputFields lists the attributes a search result shows for each matching
// span: those the query's conditions read, then those select() names,
// without repeats, in order of appearance.
func (q *Query) OutputFields() []*Attr {
	var out []*Attr
	seen := map[string]bool{}
	add := func(a *Attr) {
		k := a.String()
		if !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	var walkField func(f Field)
	walkField = func(f Field) {
		switch f := f.(type) {
		case *Attr:
			add(f)
		case *Unary:
			walkField(f.X)
		case *Binary:
			walkField(f.L)
			walkField(f.R)
		}
	}
	var walkSet func(s Spanset)
	var walkPipe func(p *Pipeline)
	walkSet = func(s Spanset) {
		switch s := s.(type) {
		case *Filter:
			if s.Cond != nil {
				walkField(s.Cond)
			}
		case *SpansetOp:
			walkSet(s.L)
			walkSet(s.R)
		case *Pipeline:
			walkPipe(s)
		}
	}
	walkPipe = func(p *Pipeline) {
		walkSet(p.Source)
		for _, st := range p.Stages {
			switch st := st.(type) {
			case *SpansetStage:
				walkSet(st.Expr)
			case *SelectStage:
				for _, a := range st.Fields {
					add(a)
				}
			}
		}
	}
	walkPipe(q.Root)
	return out
}
