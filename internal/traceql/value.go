package traceql

import (
	"cmp"
	"math"
	"strconv"
	"time"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/predicate"
)

// Type is the type of a Value.
type Type uint8

// Value types. TNil is a missing attribute (or the literal nil).
const (
	TNil Type = iota
	TInt
	TFloat
	TString
	TBool
	TDuration
	TStatus
	TKind
)

// Value is what a field evaluates to.
type Value struct {
	T Type
	S string
	N int64 // TInt, TDuration (ns), TBool (0/1), TStatus, TKind
	F float64
}

func boolValue(b bool) Value {
	if b {
		return Value{T: TBool, N: 1}
	}
	return Value{T: TBool}
}

// FromModel converts a stored attribute value.
func FromModel(v model.Value) Value {
	switch v.Type {
	case model.ValueString:
		return Value{T: TString, S: v.Str}
	case model.ValueBool:
		return Value{T: TBool, N: v.Int}
	case model.ValueInt:
		return Value{T: TInt, N: v.Int}
	case model.ValueDouble:
		return Value{T: TFloat, F: v.Float}
	case model.ValueEmpty:
		return Value{T: TNil}
	}
	return Value{T: TString, S: v.String()}
}

// IsNumeric reports whether v is an int, float or duration.
func (v Value) IsNumeric() bool { return v.T == TInt || v.T == TFloat || v.T == TDuration }

// Float is the numeric value as a float64 (durations in nanoseconds).
func (v Value) Float() float64 {
	if v.T == TFloat {
		return v.F
	}
	return float64(v.N)
}

// String renders the value as TraceQL would print it.
func (v Value) String() string {
	switch v.T {
	case TInt:
		return strconv.FormatInt(v.N, 10)
	case TFloat:
		return strconv.FormatFloat(v.F, 'g', -1, 64)
	case TString:
		return v.S
	case TBool:
		return strconv.FormatBool(v.N != 0)
	case TDuration:
		return time.Duration(v.N).String()
	case TStatus:
		switch model.StatusCode(v.N) {
		case model.StatusError:
			return "error"
		case model.StatusOK:
			return "ok"
		}
		return "unset"
	case TKind:
		return model.SpanKind(v.N).String()
	}
	return "nil"
}

// TypeName is the name Tempo's tag-value API uses for the type.
func (v Value) TypeName() string {
	switch v.T {
	case TInt:
		return "int"
	case TFloat:
		return "float"
	case TString:
		return "string"
	case TBool:
		return "bool"
	case TDuration:
		return "duration"
	case TStatus:
		return "keyword"
	case TKind:
		return "keyword"
	}
	return "nil"
}

func truth(v Value) bool { return v.T == TBool && v.N != 0 }

func intLike(t Type) bool { return t == TInt || t == TDuration }

// compare applies a comparison operator. A missing value compares false,
// except in = nil and != nil; values of different types never compare true.
func compare(b *Binary, l, r Value) bool {
	if l.T == TNil || r.T == TNil {
		if !b.nilTest {
			return false
		}
		switch b.Op {
		case "=":
			return l.T == TNil && r.T == TNil
		case "!=":
			return (l.T == TNil) != (r.T == TNil)
		}
		return false
	}
	switch {
	case l.IsNumeric() && r.IsNumeric():
		if b.Op == "=~" || b.Op == "!~" {
			return false
		}
		if intLike(l.T) && intLike(r.T) {
			return predicate.Order(b.Op, cmp.Compare(l.N, r.N))
		}
		lf, rf := l.Float(), r.Float()
		if math.IsNaN(lf) || math.IsNaN(rf) {
			return b.Op == "!="
		}
		return predicate.Order(b.Op, cmp.Compare(lf, rf))
	case l.T == TString && r.T == TString:
		switch b.Op {
		case "=~":
			return b.re.MatchString(l.S)
		case "!~":
			return !b.re.MatchString(l.S)
		}
		return predicate.Order(b.Op, cmp.Compare(l.S, r.S))
	case l.T == r.T && (l.T == TBool || l.T == TStatus || l.T == TKind):
		switch b.Op {
		case "=":
			return l.N == r.N
		case "!=":
			return l.N != r.N
		}
	}
	return false
}

// arith applies + - * / % ^. Non-numeric operands give nil. Integer and
// duration operands stay integral except for / and ^.
func arith(op string, l, r Value) Value {
	if !l.IsNumeric() || !r.IsNumeric() {
		return Value{T: TNil}
	}
	if intLike(l.T) && intLike(r.T) && op != "/" && op != "^" {
		t := TInt
		if l.T == TDuration || r.T == TDuration {
			t = TDuration
		}
		switch op {
		case "+":
			return Value{T: t, N: l.N + r.N}
		case "-":
			return Value{T: t, N: l.N - r.N}
		case "*":
			return Value{T: t, N: l.N * r.N}
		case "%":
			if r.N == 0 {
				return Value{T: TNil}
			}
			return Value{T: t, N: l.N % r.N}
		}
	}
	a, b := l.Float(), r.Float()
	switch op {
	case "+":
		return Value{T: TFloat, F: a + b}
	case "-":
		return Value{T: TFloat, F: a - b}
	case "*":
		return Value{T: TFloat, F: a * b}
	case "/":
		return Value{T: TFloat, F: a / b}
	case "%":
		return Value{T: TFloat, F: math.Mod(a, b)}
	case "^":
		return Value{T: TFloat, F: math.Pow(a, b)}
	}
	return Value{T: TNil}
}
