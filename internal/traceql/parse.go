package traceql

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"

	"github.com/clewtrace/clew/internal/model"
)

// Limits on what a query may cost to parse and compile.
const (
	MaxQueryBytes   = 16 << 10
	maxDepth        = 64
	maxRegexBytes   = 1 << 10
	maxRegexProgram = 4096 // instructions in the compiled program
)

// Parse parses a TraceQL query. Errors are *Error with the position.
func Parse(src string) (*Query, error) {
	if len(src) > MaxQueryBytes {
		return nil, &Error{Pos: 0, Msg: fmt.Sprintf("query is %d bytes; at most %d are allowed", len(src), MaxQueryBytes)}
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	q := &Query{Src: src}
	q.Root, q.Metrics, err = p.pipeline(true)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.expected(t, "'|', '&&', '||', a structural operator or end of query")
	}
	return q, nil
}

type parser struct {
	toks  []token
	i     int
	depth int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) isOp(s string) bool {
	t := p.peek()
	return t.kind == tOp && t.text == s
}

func (p *parser) isIdent(s string) bool {
	t := p.peek()
	return t.kind == tIdent && t.text == s
}

func (p *parser) expected(t token, what string) error {
	return &Error{Pos: t.pos, Msg: fmt.Sprintf("expected %s, found %s", what, t)}
}

func (p *parser) expect(op string) error {
	t := p.next()
	if t.kind != tOp || t.text != op {
		return p.expected(t, "'"+op+"'")
	}
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return &Error{Pos: p.peek().pos, Msg: fmt.Sprintf("query nests deeper than %d levels", maxDepth)}
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// pipeline parses spanset-expression { '|' stage }. A metrics function is
// allowed as the last stage only at the top level.
func (p *parser) pipeline(top bool) (*Pipeline, *MetricsFunc, error) {
	src, err := p.spansetOr()
	if err != nil {
		return nil, nil, err
	}
	pl := &Pipeline{Source: src}
	for p.isOp("|") {
		p.next()
		t := p.peek()
		if t.kind == tIdent && metricsFuncs[t.text] {
			if !top {
				return nil, nil, &Error{Pos: t.pos, Msg: t.text + "() is a metrics function: it may only end the whole query, not a query in parentheses"}
			}
			m, err := p.metrics()
			if err != nil {
				return nil, nil, err
			}
			if t := p.peek(); t.kind != tEOF {
				return nil, nil, p.expected(t, "end of query after the metrics function")
			}
			return pl, m, nil
		}
		st, err := p.stage()
		if err != nil {
			return nil, nil, err
		}
		pl.Stages = append(pl.Stages, st)
	}
	return pl, nil, nil
}

var structuralOps = map[string]bool{
	">": true, ">>": true, "<": true, "<<": true, "~": true,
	"!>": true, "!>>": true, "!<": true, "!<<": true, "!~": true,
	"&>": true, "&>>": true, "&<": true, "&<<": true, "&~": true,
}

func (p *parser) spansetOr() (Spanset, error) {
	return leftAssoc(p, p.spansetAnd, opIn("||"), joinSpansets)
}

func (p *parser) spansetAnd() (Spanset, error) {
	return leftAssoc(p, p.structural, opIn("&&"), joinSpansets)
}

func (p *parser) structural() (Spanset, error) {
	return leftAssoc(p, p.spansetPrimary, func(op string) bool { return structuralOps[op] }, joinSpansets)
}

func joinSpansets(op string, l, r Spanset) Spanset { return &SpansetOp{Op: op, L: l, R: r} }

func joinFields(op string, l, r Field) Field { return &Binary{Op: op, L: l, R: r} }

// opIn returns a test for the given operators.
func opIn(ops ...string) func(string) bool {
	return func(op string) bool { return slices.Contains(ops, op) }
}

// leftAssoc parses one left-associative level of the grammar,
// operand (op operand)*: operand parses the next tighter level, takes says
// which operators belong to this level, and join builds the node.
func leftAssoc[T any](p *parser, operand func() (T, error), takes func(op string) bool, join func(op string, l, r T) T) (T, error) {
	var zero T
	l, err := operand()
	if err != nil {
		return zero, err
	}
	for t := p.peek(); t.kind == tOp && takes(t.text); t = p.peek() {
		p.next()
		r, err := operand()
		if err != nil {
			return zero, err
		}
		l = join(t.text, l, r)
	}
	return l, nil
}

func (p *parser) spansetPrimary() (Spanset, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	t := p.next()
	switch {
	case t.kind == tOp && t.text == "{":
		if p.isOp("}") {
			p.next()
			return &Filter{}, nil
		}
		f, err := p.fieldOr()
		if err != nil {
			return nil, err
		}
		if !maybeBool(f) {
			return nil, &Error{Pos: t.pos + 1, Msg: "expected a condition inside { }, found a value"}
		}
		if err := p.expect("}"); err != nil {
			return nil, err
		}
		return &Filter{Cond: f}, nil
	case t.kind == tOp && t.text == "(":
		pl, _, err := p.pipeline(false)
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		if len(pl.Stages) == 0 {
			return pl.Source, nil
		}
		return pl, nil
	}
	return nil, p.expected(t, "'{' or '('")
}

// maybeBool reports whether f can evaluate to a boolean.
func maybeBool(f Field) bool {
	switch f := f.(type) {
	case *Binary:
		switch f.Op {
		case "+", "-", "*", "/", "%", "^":
			return false
		}
		return true
	case *Unary:
		return f.Op == "!"
	case *Literal:
		return f.Val.T == TBool
	case *Attr:
		return true
	}
	return false
}

// Field expressions, loosest binding first.

func (p *parser) fieldOr() (Field, error) {
	return leftAssoc(p, p.fieldAnd, opIn("||"), joinFields)
}

func (p *parser) fieldAnd() (Field, error) {
	return leftAssoc(p, p.fieldNot, opIn("&&"), joinFields)
}

func (p *parser) fieldNot() (Field, error) {
	if p.isOp("!") {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		p.next()
		x, err := p.fieldNot()
		if err != nil {
			return nil, err
		}
		return &Unary{Op: "!", X: x}, nil
	}
	return p.comparison()
}

var comparisonOps = map[string]bool{"=": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true, "=~": true, "!~": true}

func (p *parser) comparison() (Field, error) {
	l, err := p.additive()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if t.kind != tOp || !comparisonOps[t.text] {
		return l, nil
	}
	p.next()
	rt := p.peek()
	r, err := p.additive()
	if err != nil {
		return nil, err
	}
	b := &Binary{Op: t.text, L: l, R: r}
	ev, ln := readsMulti(l)
	ev2, ln2 := readsMulti(r)
	b.events, b.links = ev || ev2, ln || ln2
	b.nilTest = isNilLiteral(l) || isNilLiteral(r)
	if t.text == "=~" || t.text == "!~" {
		lit, ok := r.(*Literal)
		if !ok || lit.Val.T != TString {
			return nil, p.expected(rt, "a string literal (regular expression) after "+t.text)
		}
		b.re, err = compileRegex(lit.Val.S)
		if err != nil {
			return nil, &Error{Pos: rt.pos, Msg: err.Error()}
		}
	}
	if nt := p.peek(); nt.kind == tOp && comparisonOps[nt.text] {
		return nil, &Error{Pos: nt.pos, Msg: "comparisons do not chain: expected '&&', '||' or '}', found " + nt.String()}
	}
	return b, nil
}

// compileRegex compiles a fully anchored pattern with a bounded program size,
// so matching stays linear and cheap.
func compileRegex(pat string) (*regexp.Regexp, error) {
	if len(pat) > maxRegexBytes {
		return nil, fmt.Errorf("regular expression is %d bytes; at most %d are allowed", len(pat), maxRegexBytes)
	}
	full := "^(?:" + pat + ")$"
	re, err := syntax.Parse(full, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression: %w", err)
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression: %w", err)
	}
	if len(prog.Inst) > maxRegexProgram {
		return nil, fmt.Errorf("regular expression is too complex (%d instructions; at most %d)", len(prog.Inst), maxRegexProgram)
	}
	return regexp.Compile(full)
}

func (p *parser) additive() (Field, error) {
	return leftAssoc(p, p.multiplicative, opIn("+", "-"), joinFields)
}

func (p *parser) multiplicative() (Field, error) {
	return leftAssoc(p, p.power, opIn("*", "/", "%"), joinFields)
}

func (p *parser) power() (Field, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	if p.isOp("^") {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		p.next()
		r, err := p.power() // right-associative
		if err != nil {
			return nil, err
		}
		return &Binary{Op: "^", L: l, R: r}, nil
	}
	return l, nil
}

func (p *parser) unary() (Field, error) {
	if p.isOp("-") {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		if lit, ok := x.(*Literal); ok {
			switch lit.Val.T {
			case TInt, TDuration:
				return &Literal{Val: Value{T: lit.Val.T, N: -lit.Val.N}}, nil
			case TFloat:
				return &Literal{Val: Value{T: TFloat, F: -lit.Val.F}}, nil
			}
		}
		return &Unary{Op: "-", X: x}, nil
	}
	return p.fieldPrimary()
}

var statusWords = map[string]model.StatusCode{"error": model.StatusError, "ok": model.StatusOK, "unset": model.StatusUnset}

var kindWords = map[string]model.SpanKind{
	"unspecified": model.KindUnspecified, "internal": model.KindInternal, "server": model.KindServer,
	"client": model.KindClient, "producer": model.KindProducer, "consumer": model.KindConsumer,
}

func (p *parser) fieldPrimary() (Field, error) {
	t := p.next()
	switch t.kind {
	case tString:
		return &Literal{Val: Value{T: TString, S: t.text}}, nil
	case tInt:
		return &Literal{Val: Value{T: TInt, N: t.inum}}, nil
	case tFloat:
		return &Literal{Val: Value{T: TFloat, F: t.num}}, nil
	case tDuration:
		return &Literal{Val: Value{T: TDuration, N: t.inum}}, nil
	case tAttr:
		return &Attr{Scope: t.scope, Name: t.text}, nil
	case tIdent:
		if in, ok := intrinsicNames[t.text]; ok {
			return &Attr{Intrinsic: in}, nil
		}
		switch t.text {
		case "true", "false":
			return &Literal{Val: boolValue(t.text == "true")}, nil
		case "nil":
			return &Literal{Val: Value{T: TNil}}, nil
		}
		if s, ok := statusWords[t.text]; ok {
			return &Literal{Val: Value{T: TStatus, N: int64(s)}}, nil
		}
		if k, ok := kindWords[t.text]; ok {
			return &Literal{Val: Value{T: TKind, N: int64(k)}}, nil
		}
		return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("unknown name %q: expected an attribute (span.%s, resource.%s or .%s), an intrinsic such as name or duration, or a literal", t.text, t.text, t.text, t.text)}
	case tOp:
		if t.text == "(" {
			if err := p.enter(); err != nil {
				return nil, err
			}
			defer p.leave()
			f, err := p.fieldOr()
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			return f, nil
		}
	}
	return nil, p.expected(t, "an attribute, intrinsic or literal")
}

// Pipeline stages.

var aggregateFuncs = map[string]bool{"count": true, "avg": true, "min": true, "max": true, "sum": true}

var metricsFuncs = map[string]bool{
	"rate": true, "count_over_time": true, "quantile_over_time": true, "histogram_over_time": true,
	"min_over_time": true, "max_over_time": true, "avg_over_time": true, "sum_over_time": true,
}

func (p *parser) stage() (Stage, error) {
	t := p.peek()
	switch {
	case t.kind == tOp && (t.text == "{" || t.text == "("):
		s, err := p.spansetOr()
		if err != nil {
			return nil, err
		}
		return &SpansetStage{Expr: s}, nil
	case t.kind == tIdent && t.text == "by":
		p.next()
		fields, err := p.fieldList()
		if err != nil {
			return nil, err
		}
		return &ByStage{Fields: fields}, nil
	case t.kind == tIdent && t.text == "select":
		p.next()
		attrs, err := p.attrList()
		if err != nil {
			return nil, err
		}
		return &SelectStage{Fields: attrs}, nil
	case t.kind == tIdent && t.text == "coalesce":
		p.next()
		if err := p.expect("("); err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		return &CoalesceStage{}, nil
	case t.kind == tIdent && aggregateFuncs[t.text], t.kind == tInt, t.kind == tFloat, t.kind == tDuration:
		l, err := p.scalarAdditive()
		if err != nil {
			return nil, err
		}
		op := p.next()
		if op.kind != tOp || !comparisonOps[op.text] || op.text == "=~" || op.text == "!~" {
			return nil, p.expected(op, "a comparison (=, !=, <, <=, >, >=) after the aggregate")
		}
		r, err := p.scalarAdditive()
		if err != nil {
			return nil, err
		}
		return &ScalarFilter{Op: op.text, L: l, R: r}, nil
	}
	return nil, p.expected(t, "a pipeline stage ({ ... }, count(), avg(), min(), max(), sum(), by(), select(), coalesce() or a metrics function)")
}

func (p *parser) fieldList() ([]Field, error) {
	if err := p.expect("("); err != nil {
		return nil, err
	}
	var out []Field
	for {
		f, err := p.fieldOr()
		if err != nil {
			return nil, err
		}
		out = append(out, f)
		if !p.isOp(",") {
			break
		}
		p.next()
	}
	return out, p.expect(")")
}

func (p *parser) attrList() ([]*Attr, error) {
	if err := p.expect("("); err != nil {
		return nil, err
	}
	var out []*Attr
	for {
		t := p.peek()
		f, err := p.fieldPrimary()
		if err != nil {
			return nil, err
		}
		a, ok := f.(*Attr)
		if !ok {
			return nil, p.expected(t, "an attribute or intrinsic")
		}
		out = append(out, a)
		if !p.isOp(",") {
			break
		}
		p.next()
	}
	return out, p.expect(")")
}

func (p *parser) scalarAdditive() (Scalar, error) {
	return leftAssoc(p, p.scalarMul, opIn("+", "-"), joinScalars)
}

func (p *parser) scalarMul() (Scalar, error) {
	return leftAssoc(p, p.scalarPrimary, opIn("*", "/"), joinScalars)
}

func joinScalars(op string, l, r Scalar) Scalar { return &ScalarBinary{Op: op, L: l, R: r} }

func (p *parser) scalarPrimary() (Scalar, error) {
	t := p.next()
	switch t.kind {
	case tInt:
		return &ScalarLiteral{Val: Value{T: TInt, N: t.inum}}, nil
	case tFloat:
		return &ScalarLiteral{Val: Value{T: TFloat, F: t.num}}, nil
	case tDuration:
		return &ScalarLiteral{Val: Value{T: TDuration, N: t.inum}}, nil
	case tIdent:
		if !aggregateFuncs[t.text] {
			break
		}
		if err := p.expect("("); err != nil {
			return nil, err
		}
		agg := &Aggregate{Fn: t.text}
		if t.text != "count" {
			f, err := p.additive()
			if err != nil {
				return nil, err
			}
			agg.Field = f
		}
		return agg, p.expect(")")
	case tOp:
		if t.text == "-" {
			x, err := p.scalarPrimary()
			if err != nil {
				return nil, err
			}
			return &ScalarBinary{Op: "-", L: &ScalarLiteral{Val: Value{T: TInt}}, R: x}, nil
		}
	}
	return nil, p.expected(t, "count(), avg(), min(), max(), sum() or a number")
}

// metrics parses fn(args) [by (attrs)].
func (p *parser) metrics() (*MetricsFunc, error) {
	t := p.next()
	m := &MetricsFunc{Fn: t.text}
	if err := p.expect("("); err != nil {
		return nil, err
	}
	switch t.text {
	case "rate", "count_over_time":
	default:
		f, err := p.additive()
		if err != nil {
			return nil, err
		}
		m.Field = f
		if t.text == "quantile_over_time" {
			for p.isOp(",") {
				p.next()
				qt := p.next()
				var q float64
				switch qt.kind {
				case tFloat:
					q = qt.num
				case tInt:
					q = float64(qt.inum)
				default:
					return nil, p.expected(qt, "a quantile between 0 and 1")
				}
				if q < 0 || q > 1 {
					return nil, &Error{Pos: qt.pos, Msg: fmt.Sprintf("quantile %v is outside [0, 1]", q)}
				}
				m.Quantiles = append(m.Quantiles, q)
			}
			if len(m.Quantiles) == 0 {
				return nil, p.expected(p.peek(), "',' and at least one quantile, as in quantile_over_time(duration, .99)")
			}
		}
	}
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	if p.isIdent("by") {
		p.next()
		attrs, err := p.attrList()
		if err != nil {
			return nil, err
		}
		m.By = attrs
	}
	return m, nil
}

// String is the query text as given.
func (q *Query) String() string { return strings.TrimSpace(q.Src) }

func isNilLiteral(f Field) bool {
	lit, ok := f.(*Literal)
	return ok && lit.Val.T == TNil
}

// ParseField parses a single attribute or intrinsic name, such as
// resource.service.name, .http.method or duration (the form Tempo's tag
// endpoints take).
func ParseField(s string) (*Attr, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	t := p.peek()
	f, err := p.fieldPrimary()
	if err != nil {
		return nil, err
	}
	a, ok := f.(*Attr)
	if !ok {
		return nil, p.expected(t, "an attribute or intrinsic name")
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.expected(t, "end of the name")
	}
	return a, nil
}
