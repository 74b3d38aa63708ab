// Package predicate is Clew's one definition of "this span matches this
// search". The query layer builds a Predicate from a request and compiles it
// once; the store evaluates the compiled form over its in-memory head span by
// span (Match) and over columnar blocks value by value (the block scanner asks
// the same methods about resources, attribute key/values, durations and
// starts), so the two can never disagree on what a condition means.
//
// The package depends only on internal/model, so the store may import it
// without reaching up into the query service.
package predicate

import (
	"cmp"
	"fmt"
	"regexp"
	"sort"
	"strconv"

	"github.com/clewtrace/clew/internal/model"
)

// MaxAttributes bounds the attribute conditions of one query: each gets a
// bit in a uint64 per span while blocks are scanned.
const MaxAttributes = 64

// Predicate selects spans. Zero fields match everything, except Kind, where
// -1 means any kind (0 is KindUnspecified).
type Predicate struct {
	Service   string
	Operation string
	Kind      int // -1: any
	// ErrorStatus selects only spans whose status is ERROR (TraceQL's
	// status = error; unlike the "error"="true" attribute condition, no
	// attribute satisfies it).
	ErrorStatus bool
	MinDuration int64 // ns; 0: unbounded
	MaxDuration int64 // ns; 0: unbounded
	StartMin    int64 // ns; 0: unbounded
	StartMax    int64 // ns; 0: unbounded
	// Attributes must all match the same span. Each key/value matches an
	// attribute of the span, its resource, its instrumentation scope, one
	// of its events or one of its links with that key whose Value.String()
	// equals the value — any of them, when a key is repeated (Jaeger's
	// storage semantics: its memory store looks in all five places).
	// "error"="true" also matches spans with StatusCode error, and
	// otel.scope.name / otel.scope.version (the tags the Jaeger UI shows
	// for the scope) match the scope's name and version.
	Attributes map[string]string
	// Compares are attribute conditions other than text equality (ranges,
	// inequality, regular expressions). Each must be satisfied by some span,
	// resource or event attribute with its key, like Attributes; together
	// with Attributes at most MaxAttributes.
	Compares []Compare
}

// Attr is one attribute condition.
type Attr struct{ Key, Value string }

// Compare is an attribute condition: an attribute with Key whose value,
// in its string form (Value.String()), satisfies Op against Value.
//
// With Numeric, Value is a number (an integer, or a float as
// strconv.ParseFloat reads it) and the attribute's text is read as one:
// integers compare exactly, anything else as float64; a text that is not a
// number satisfies only "!=". Otherwise =, !=, <, <=, >, >= compare the
// text byte-wise and =~ / !~ test the regular expression Value, anchored at
// both ends (RE2: linear in the text).
//
// These are exactly the comparisons TraceQL makes, loosened where types
// differ (TraceQL never finds a string equal to a number; a Compare may),
// so a store search with them finds a superset of a query's matches.
type Compare struct {
	Key     string
	Op      string // = != < <= > >= =~ !~
	Value   string
	Numeric bool
	// SpanOrResource says that only the span's and its resource's
	// attributes need be compared (TraceQL's span., resource. and
	// unscoped attributes): a store may skip reading events and links for
	// it. A store that compares them too only admits more candidates.
	SpanOrResource bool `json:",omitempty"`
}

// MaxRegexBytes bounds a Compare's regular expression.
const MaxRegexBytes = 1024

// compiledCompare is a Compare ready to test texts.
type compiledCompare struct {
	Compare
	isInt bool
	i     int64
	f     float64
	re    *regexp.Regexp
}

func compileCompare(c Compare) (compiledCompare, error) {
	cc := compiledCompare{Compare: c}
	switch c.Op {
	case "=", "!=", "<", "<=", ">", ">=":
	case "=~", "!~":
		if c.Numeric {
			return cc, fmt.Errorf("predicate: %s on a number", c.Op)
		}
		if len(c.Value) > MaxRegexBytes {
			return cc, fmt.Errorf("predicate: regular expression of %d bytes, at most %d", len(c.Value), MaxRegexBytes)
		}
		re, err := regexp.Compile("^(?:" + c.Value + ")$")
		if err != nil {
			return cc, fmt.Errorf("predicate: %w", err)
		}
		cc.re = re
	default:
		return cc, fmt.Errorf("predicate: unknown comparison %q", c.Op)
	}
	if c.Numeric {
		if i, err := strconv.ParseInt(c.Value, 10, 64); err == nil {
			cc.isInt, cc.i, cc.f = true, i, float64(i)
		} else if f, err := strconv.ParseFloat(c.Value, 64); err == nil {
			cc.f = f
		} else {
			return cc, fmt.Errorf("predicate: %q is not a number", c.Value)
		}
	}
	return cc, nil
}

// match tests one attribute value's text.
func (c *compiledCompare) match(text string) bool {
	if !c.Numeric {
		switch c.Op {
		case "=~":
			return c.re.MatchString(text)
		case "!~":
			return !c.re.MatchString(text)
		}
		return Order(c.Op, cmp.Compare(text, c.Value))
	}
	if c.isInt {
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			return Order(c.Op, cmp.Compare(i, c.i))
		}
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || f != f { // not a number, or NaN: only != holds
		return c.Op == "!="
	}
	return Order(c.Op, compareFloats(f, c.f))
}

// Order reports whether the comparison operator op (= != < <= > >=) holds
// for c, the result of a three-way comparison (cmp.Compare). TraceQL's
// evaluator uses it too, so the store and the evaluator agree.
func Order(op string, c int) bool {
	switch op {
	case "=":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}

// compareFloats is cmp.Compare but for NaN, which it holds equal to anything
// (a NaN literal in a condition; a NaN value is refused before).
func compareFloats(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Compiled is a Predicate ready to evaluate. It is immutable and safe for
// concurrent use.
type Compiled struct {
	p     Predicate
	attrs []Attr // sorted by key: bit i is attrs[i]
	// compares follow: bit len(attrs)+j is compares[j]; sorted by key.
	compares []compiledCompare
	all      uint64 // every condition's bit
	errBits  uint64 // conditions that an error status satisfies
	empty    bool   // no span can match (MinDuration > MaxDuration)
}

// Compile checks p and prepares it for evaluation.
func Compile(p Predicate) (*Compiled, error) {
	if n := len(p.Attributes) + len(p.Compares); n > MaxAttributes {
		return nil, fmt.Errorf("predicate: %d attribute conditions, at most %d", n, MaxAttributes)
	}
	c := &Compiled{p: p}
	for k, v := range p.Attributes {
		c.attrs = append(c.attrs, Attr{k, v})
	}
	sort.Slice(c.attrs, func(i, j int) bool { return c.attrs[i].Key < c.attrs[j].Key })
	for i, a := range c.attrs {
		c.all |= 1 << i
		if a.Key == "error" && a.Value == "true" {
			c.errBits |= 1 << i
		}
	}
	for _, cmp := range p.Compares {
		cc, err := compileCompare(cmp)
		if err != nil {
			return nil, err
		}
		c.compares = append(c.compares, cc)
	}
	sort.SliceStable(c.compares, func(i, j int) bool { return c.compares[i].Key < c.compares[j].Key })
	for j := range c.compares {
		c.all |= 1 << (len(c.attrs) + j)
	}
	c.empty = p.MinDuration != 0 && p.MaxDuration != 0 && p.MinDuration > p.MaxDuration
	return c, nil
}

// MustCompile is Compile for predicates known to be valid (tests, fixed queries).
func MustCompile(p Predicate) *Compiled {
	c, err := Compile(p)
	if err != nil {
		panic(err)
	}
	return c
}

// Predicate returns the predicate c was compiled from.
func (c *Compiled) Predicate() Predicate { return c.p }

// Attrs returns the attribute equality conditions; condition i owns bit
// 1<<i.
func (c *Compiled) Attrs() []Attr { return c.attrs }

// Compares returns the comparison conditions, sorted by key; comparison j
// owns bit CompareBit(j).
func (c *Compiled) Compares() []Compare {
	out := make([]Compare, len(c.compares))
	for j := range c.compares {
		out[j] = c.compares[j].Compare
	}
	return out
}

// CompareBit is the bit of comparison j.
func (c *Compiled) CompareBit(j int) uint64 { return 1 << (len(c.attrs) + j) }

// MatchCompare tests comparison j against one attribute value's text.
func (c *Compiled) MatchCompare(j int, text string) bool { return c.compares[j].match(text) }

// AllBits has the bit of every attribute condition: a span matches the
// attribute part when its bits equal AllBits.
func (c *Compiled) AllBits() uint64 { return c.all }

// ErrorBits are the conditions an ERROR status satisfies ("error"="true").
func (c *Compiled) ErrorBits() uint64 { return c.errBits }

// Never reports that no span can match, whatever it holds.
func (c *Compiled) Never() bool { return c.empty }

// MatchService reports whether a span of service svc (model.UnknownService
// for none) can match.
func (c *Compiled) MatchService(svc string) bool { return c.p.Service == "" || svc == c.p.Service }

// MatchOperation reports whether a span named name can match.
func (c *Compiled) MatchOperation(name string) bool {
	return c.p.Operation == "" || name == c.p.Operation
}

// MatchStatus reports whether a span with this status code can match.
func (c *Compiled) MatchStatus(code int) bool {
	return !c.p.ErrorStatus || code == int(model.StatusError)
}

// MatchKind reports whether a span of this kind can match.
func (c *Compiled) MatchKind(kind int) bool { return c.p.Kind < 0 || kind == c.p.Kind }

// MatchDuration reports whether a span lasting d nanoseconds can match. A
// negative duration (end before start) counts as zero, as Span.Duration does.
func (c *Compiled) MatchDuration(d int64) bool {
	d = max(d, 0)
	return (c.p.MinDuration == 0 || d >= c.p.MinDuration) && (c.p.MaxDuration == 0 || d <= c.p.MaxDuration)
}

// MatchStart reports whether a span starting at start (Unix ns) can match.
func (c *Compiled) MatchStart(start int64) bool {
	return (c.p.StartMin == 0 || start >= c.p.StartMin) && (c.p.StartMax == 0 || start <= c.p.StartMax)
}

// OverlapsStart reports whether spans starting in [lo, hi] can match.
func (c *Compiled) OverlapsStart(lo, hi int64) bool {
	return !(c.p.StartMin != 0 && hi < c.p.StartMin || c.p.StartMax != 0 && lo > c.p.StartMax)
}

// OverlapsDuration reports whether spans lasting [lo, hi] ns can match.
func (c *Compiled) OverlapsDuration(lo, hi int64) bool {
	return !(c.p.MinDuration != 0 && max(hi, 0) < c.p.MinDuration || c.p.MaxDuration != 0 && max(lo, 0) > c.p.MaxDuration)
}

// AttrBits returns the conditions that one attribute satisfies, given its
// key and its value's text (Value.String()).
func (c *Compiled) AttrBits(key, value string) uint64 {
	var bits uint64
	// Equality conditions are sorted by key and keys are unique: at most
	// one hit.
	i := sort.Search(len(c.attrs), func(i int) bool { return c.attrs[i].Key >= key })
	if i < len(c.attrs) && c.attrs[i].Key == key && c.attrs[i].Value == value {
		bits |= 1 << i
	}
	if len(c.compares) == 0 {
		return bits
	}
	for j := sort.Search(len(c.compares), func(j int) bool { return c.compares[j].Key >= key }); j < len(c.compares) && c.compares[j].Key == key; j++ {
		if c.compares[j].match(value) {
			bits |= c.CompareBit(j)
		}
	}
	return bits
}

// AttrsBits returns the conditions that any of attrs satisfies.
func (c *Compiled) AttrsBits(attrs []model.Attribute) uint64 {
	var bits uint64
	if c.all == 0 {
		return 0
	}
	for i := range attrs {
		bits |= c.AttrBits(attrs[i].Key, attrs[i].Value.String())
	}
	return bits
}

// Keys under which the scope's name and version are searchable: the tags
// Jaeger shows for them (the Jaeger receivers move these tags into the
// scope, so they must stay searchable under the same names).
const (
	ScopeNameKey    = "otel.scope.name"
	ScopeVersionKey = "otel.scope.version"
)

// ScopeBits returns the conditions an instrumentation scope satisfies: its
// attributes, and its name and version under ScopeNameKey and
// ScopeVersionKey.
func (c *Compiled) ScopeBits(s *model.Scope) uint64 {
	if s == nil || c.all == 0 {
		return 0
	}
	bits := c.AttrsBits(s.Attributes)
	if s.Name != "" {
		bits |= c.AttrBits(ScopeNameKey, s.Name)
	}
	if s.Version != "" {
		bits |= c.AttrBits(ScopeVersionKey, s.Version)
	}
	return bits
}

// ResourceBits returns the conditions a resource's attributes satisfy.
func (c *Compiled) ResourceBits(r *model.Resource) uint64 {
	if r == nil {
		return 0
	}
	return c.AttrsBits(r.Attributes)
}

// Match reports whether one span satisfies every condition.
func (c *Compiled) Match(s *model.Span) bool {
	if c.empty || !c.MatchStart(s.StartUnixNano) || !c.MatchService(s.Service()) ||
		!c.MatchOperation(s.Name) || !c.MatchKind(int(s.Kind)) || !c.MatchStatus(int(s.StatusCode)) ||
		!c.MatchDuration(s.EndUnixNano-s.StartUnixNano) {
		return false
	}
	if c.all == 0 {
		return true
	}
	bits := c.ResourceBits(s.Resource) | c.ScopeBits(s.Scope)
	if s.StatusCode == model.StatusError {
		bits |= c.errBits
	}
	bits |= c.AttrsBits(s.Attributes)
	for i := 0; bits != c.all && i < len(s.Events); i++ {
		bits |= c.AttrsBits(s.Events[i].Attributes)
	}
	for i := 0; bits != c.all && i < len(s.Links); i++ {
		bits |= c.AttrsBits(s.Links[i].Attributes)
	}
	return bits == c.all
}
