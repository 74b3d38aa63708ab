package traceql

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// tokenKind classifies a token.
type tokenKind uint8

const (
	tEOF tokenKind = iota
	tIdent
	tAttr // scoped or unscoped attribute; text is the name, scope in attrScope
	tString
	tInt
	tFloat
	tDuration
	tOp // punctuation and operators; text holds it
)

type token struct {
	kind  tokenKind
	pos   int // byte offset in the query
	text  string
	scope Scope   // for tAttr
	num   float64 // tFloat
	inum  int64   // tInt; tDuration in nanoseconds
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of query"
	case tString:
		return strconv.Quote(t.text)
	case tAttr:
		if t.scope == ScopeNone {
			return "attribute ." + t.text
		}
		return "attribute " + t.scope.String() + "." + t.text
	}
	return fmt.Sprintf("%q", t.text)
}

// Error is a syntax or semantic error in a query, with the byte offset
// (0-based) where it was found.
type Error struct {
	Pos int
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("traceql: at position %d: %s", e.Pos+1, e.Msg) }

// operators, longest first so the scanner takes the longest match.
var operators = []string{
	"!>>", "!<<", "&>>", "&<<",
	"!=", "!~", "!>", "!<", "=~", ">=", "<=", ">>", "<<", "&&", "||", "&>", "&<", "&~",
	"{", "}", "(", ")", ",", "|", "=", "<", ">", "~", "!", "+", "-", "*", "/", "%", "^",
}

// attrStop reports whether c ends an attribute name.
func attrStop(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '{', '}', '(', ')', '=', '!', '<', '>', '~', '&', '|', '+', '*', '/', '%', '^', ',', '"', '`':
		return true
	}
	return false
}

func isIdentStart(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' || c == ':' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// lex splits a query into tokens.
func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r') {
			i++
		}
		if i >= len(src) {
			toks = append(toks, token{kind: tEOF, pos: i})
			return toks, nil
		}
		c := src[i]
		start := i
		switch {
		case c == '"' || c == '`':
			s, n, err := lexString(src, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tString, pos: start, text: s})
			i += n
		case isDigit(c) || c == '.' && i+1 < len(src) && isDigit(src[i+1]):
			t, n, err := lexNumber(src, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i += n
		case c == '.':
			name, n, err := lexAttrName(src, i+1)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tAttr, pos: start, text: name, scope: ScopeNone})
			i += 1 + n
		case isIdentStart(c):
			j := i
			for j < len(src) && isIdentChar(src[j]) {
				j++
			}
			word := src[i:j]
			if sc, ok := scopeNames[word]; ok && j < len(src) && src[j] == '.' {
				name, n, err := lexAttrName(src, j+1)
				if err != nil {
					return nil, err
				}
				toks = append(toks, token{kind: tAttr, pos: start, text: name, scope: sc})
				i = j + 1 + n
				continue
			}
			toks = append(toks, token{kind: tIdent, pos: start, text: word})
			i = j
		default:
			matched := false
			for _, op := range operators {
				if strings.HasPrefix(src[i:], op) {
					toks = append(toks, token{kind: tOp, pos: start, text: op})
					i += len(op)
					matched = true
					break
				}
			}
			if !matched {
				r, _ := utf8.DecodeRuneInString(src[i:])
				return nil, &Error{Pos: i, Msg: fmt.Sprintf("unexpected character %q", r)}
			}
		}
	}
}

// lexAttrName reads an attribute name starting at i: a quoted string or a
// run of characters up to an operator, bracket or space.
func lexAttrName(src string, i int) (string, int, error) {
	if i < len(src) && (src[i] == '"' || src[i] == '`') {
		s, n, err := lexString(src, i)
		if err != nil {
			return "", 0, err
		}
		if s == "" {
			return "", 0, &Error{Pos: i, Msg: "expected an attribute name, found an empty string"}
		}
		return s, n, nil
	}
	j := i
	for j < len(src) && !attrStop(src[j]) {
		j++
	}
	if j == i {
		return "", 0, &Error{Pos: i, Msg: "expected an attribute name after '.'"}
	}
	return src[i:j], j - i, nil
}

// lexString reads a double-quoted (with Go escapes) or back-quoted string.
func lexString(src string, i int) (string, int, error) {
	q := src[i]
	j := i + 1
	for j < len(src) && src[j] != q {
		if q == '"' && src[j] == '\\' {
			j++
		}
		j++
	}
	if j >= len(src) {
		return "", 0, &Error{Pos: i, Msg: "unterminated string: expected a closing " + string(q)}
	}
	raw := src[i : j+1]
	if q == '`' {
		return raw[1 : len(raw)-1], len(raw), nil
	}
	s, err := strconv.Unquote(raw)
	if err != nil {
		return "", 0, &Error{Pos: i, Msg: "invalid string literal: " + err.Error()}
	}
	return s, len(raw), nil
}

var durationUnits = []struct {
	suffix string
	mult   float64
}{
	{"ns", 1}, {"us", 1e3}, {"µs", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9},
}

// lexNumber reads an integer, a float, or a duration such as 1.5s or 200ms.
func lexNumber(src string, i int) (token, int, error) {
	j := i
	for j < len(src) && isDigit(src[j]) {
		j++
	}
	isFloat := false
	if j < len(src) && src[j] == '.' {
		isFloat = true
		j++
		for j < len(src) && isDigit(src[j]) {
			j++
		}
	}
	if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
		k := j + 1
		if k < len(src) && (src[k] == '+' || src[k] == '-') {
			k++
		}
		if k < len(src) && isDigit(src[k]) {
			isFloat = true
			for k < len(src) && isDigit(src[k]) {
				k++
			}
			j = k
		}
	}
	text := src[i:j]
	// A unit suffix makes it a duration; compound forms like 1h30m are allowed.
	if j < len(src) && (isIdentStart(src[j]) || strings.HasPrefix(src[j:], "µ")) {
		k := j
		for k < len(src) && (isIdentChar(src[k]) || src[k] == '.' || src[k] >= 0x80) {
			k++
		}
		d, err := time.ParseDuration(src[i:k])
		if err != nil {
			return token{}, 0, &Error{Pos: i, Msg: fmt.Sprintf("invalid duration %q: expected a number followed by ns, us, ms, s, m or h", src[i:k])}
		}
		return token{kind: tDuration, pos: i, text: src[i:k], inum: int64(d)}, k - i, nil
	}
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return token{}, 0, &Error{Pos: i, Msg: fmt.Sprintf("invalid number %q", text)}
		}
		return token{kind: tFloat, pos: i, text: text, num: f}, j - i, nil
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(text, 64)
		if ferr != nil {
			return token{}, 0, &Error{Pos: i, Msg: fmt.Sprintf("invalid number %q", text)}
		}
		return token{kind: tFloat, pos: i, text: text, num: f}, j - i, nil
	}
	return token{kind: tInt, pos: i, text: text, inum: n}, j - i, nil
}
