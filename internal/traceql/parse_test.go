package traceql

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/query/predicate"
)

func TestParseErrorsNamePositionAndExpectation(t *testing.T) {
	cases := []struct {
		q    string
		pos  int // 1-based, as printed
		want string
	}{
		{`{ name = }`, 10, "expected an attribute, intrinsic or literal"},
		{`{ name = "x" `, 14, "expected '}'"},
		{`{ foo = 1 }`, 3, `unknown name "foo"`},
		{`{ .a = 1 } | count() >`, 23, "count(), avg()"},
		{`{ .a = 1 } |`, 13, "expected a pipeline stage"},
		{`{ name =~ 5 }`, 11, "a string literal (regular expression)"},
		{`{ name =~ "(" }`, 11, "invalid regular expression"},
		{`{ "unterminated }`, 3, "unterminated string"},
		{`{ duration > 5parsecs }`, 14, "invalid duration"},
		{`{ .a = 1 } { .b = 2 }`, 12, "expected '|', '&&', '||', a structural operator or end of query"},
		{`{ 1 + 2 }`, 2, "expected a condition"},
		{`{ .a = 1 = 2 }`, 10, "comparisons do not chain"},
		{`{ } | rate() | count() > 1`, 14, "end of query after the metrics function"},
		{`({ } | rate())`, 8, "metrics function"},
		{`{ } | quantile_over_time(duration)`, 34, "at least one quantile"},
		{`{ } | quantile_over_time(duration, 1.5)`, 36, "outside [0, 1]"},
		{`{ } | by(`, 10, "expected an attribute"},
		{`{ span. = 1 }`, 8, "expected an attribute name"},
		{`{ name = "a" } # x`, 16, "unexpected character"},
		{``, 1, "expected '{' or '('"},
		{strings.Repeat("(", 100) + "{}" + strings.Repeat(")", 100), 65, "nests deeper"},
	}
	for _, c := range cases {
		_, err := Parse(c.q)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("%q: error %v is not a position error", c.q, err)
			continue
		}
		if pe.Pos+1 != c.pos || !strings.Contains(pe.Msg, c.want) {
			t.Errorf("%q: got %q at %d, want %q at %d", c.q, pe.Msg, pe.Pos+1, c.want, c.pos)
		}
	}
}

func TestParseAccepts(t *testing.T) {
	for _, q := range []string{
		`{ span."http status" = "x" }`,
		"{ .msg = `raw \\n` }",
		`{ duration > 1h30m && duration < 2.5s || duration >= 100us || duration > 5µs }`,
		`{ rootServiceName = "a" && rootName = "b" && traceDuration > 1s }`,
		`{ .a = .b } | select(span:id, trace:id)`,
		`{ } | rate() by (resource.service.name, name)`,
		`{ status = error } | quantile_over_time(duration, .5, .99, 1)`,
		`{ } | histogram_over_time(duration) by (kind)`,
		`{ span.http.url =~ "https?://.*" && span.x !~ "y" }`,
		`{ .k8s.pod-name = "x" }`,
		`{ 1.5e3 < duration }`,
	} {
		if _, err := Parse(q); err != nil {
			t.Errorf("%q: %v", q, err)
		}
	}
}

func TestHints(t *testing.T) {
	q := mustParse(t, `{ resource.service.name = "x" && span.http.status_code >= 500 && name = "GET" && kind = server && duration > 1s && duration <= 3s && span.http.method = "POST" && status = error }`)
	h := q.Hints()
	if h.Service != "x" || h.Name != "GET" || h.Kind != 2 || h.MinDuration != int64(time.Second) || h.MaxDuration != int64(3*time.Second) ||
		h.Attributes["http.method"] != "POST" || !h.ErrorStatus || len(h.Attributes) != 1 ||
		len(h.Compares) != 1 || h.Compares[0] != (predicate.Compare{Key: "http.status_code", Op: ">=", Value: "500", Numeric: true, SpanOrResource: true}) {
		t.Fatalf("%+v", h)
	}
	// Comparisons the store can make: literal on either side, floats,
	// durations, strings and patterns; not on links, the resource's
	// service name or intrinsics other than duration.
	h = mustParse(t, `{ 400 < span.code && .ratio != 0.5 && event.x =~ "a.*" && span.d <= 2s && .s > "m" && .b != true && link.x > 1 && resource.service.name != "x" && name != "y" }`).Hints()
	// span., resource. and unscoped attributes need no events or links;
	// event. ones do.
	want := []predicate.Compare{{Key: "code", Op: ">", Value: "400", Numeric: true, SpanOrResource: true}, {Key: "ratio", Op: "!=", Value: "0.5", Numeric: true, SpanOrResource: true},
		{Key: "x", Op: "=~", Value: "a.*"}, {Key: "d", Op: "<=", Value: "2000000000", Numeric: true, SpanOrResource: true}, {Key: "s", Op: ">", Value: "m", SpanOrResource: true}}
	if !reflect.DeepEqual(h.Compares, want) || len(h.Attributes) != 0 {
		t.Fatalf("compares: %+v", h.Compares)
	}
	if h := mustParse(t, `{ .service.name = "gateway" } >> { status = error }`).Hints(); h.Service != "gateway" {
		t.Fatalf("structural: %+v", h)
	}
	if h := mustParse(t, `{ .service.name = "a" } || { .service.name = "b" }`).Hints(); h.Service != "" {
		t.Fatalf("|| can require neither side: %+v", h)
	}
	if h := mustParse(t, `{ .service.name = "a" } !>> { name = "b" }`).Hints(); h.Service != "" || h.Name != "b" {
		t.Fatalf("negated relation requires only the right side: %+v", h)
	}
	if h := mustParse(t, `{ .a = 1 || name = "x" }`).Hints(); len(h.Attributes) != 0 || h.Name != "" {
		t.Fatalf("a disjunction gives no hint: %+v", h)
	}
}

// Hints never exclude a matching trace: every matching trace has a span
// that satisfies them (checked against generated traces).
func TestHintsAreSound(t *testing.T) {
	traces := genTraces(11, 300)
	for _, src := range []string{
		`{ resource.service.name = "gateway" && span.http.status_code >= 500 }`,
		`{ .service.name = "gateway" } >> { status = error }`,
		`{ name = "SELECT" && kind = client } | count() > 1`,
		`{ duration > 1s && span.http.method = "GET" } ~ { span.retry = true }`,
		`{ kind = server } !> { span.http.status_code = 500 && duration < 900ms }`,
		`{ span.http.status_code >= 400 && span.http.status_code < 500.5 } >> { .http.method != "GET" }`,
		`{ .http.method =~ "P.*|DEL.*" && .deployment.environment !~ "stag.*" }`,
		`{ span.http.status_code != 200 && resource.deployment.environment > "p" }`,
		`{ event.exception.type != "x" } && { span.retry != true }`,
	} {
		q := mustParse(t, src)
		hints := append([]Hints{q.Hints()}, q.RequiredHints()...)
		if len(q.RequiredHints()) < 1 {
			t.Fatalf("%s: no required hints", src)
		}
		for _, sp := range traces {
			if len(q.Eval(NewTrace(sp))) == 0 {
				continue
			}
			for _, h := range hints {
				if !traceHas(sp, h) {
					t.Fatalf("%s: hints %+v exclude a matching trace", src, h)
				}
			}
		}
	}
}

// traceHas reports whether a span of the trace satisfies the hints as the
// store's search evaluates them.
func traceHas(sp []model.Span, h Hints) bool {
	p, err := predicate.Compile(h.Predicate(0, 0))
	if err != nil {
		panic(err)
	}
	for i := range sp {
		if p.Match(&sp[i]) {
			return true
		}
	}
	return false
}

func TestRequiredHints(t *testing.T) {
	q := mustParse(t, `{ .service.name = "gateway" } >> { status = error } && { name = "x" } | count() > 1`)
	h := q.RequiredHints()
	if len(h) != 3 || h[0].Service != "gateway" || !h[1].ErrorStatus || h[2].Name != "x" {
		t.Fatalf("%+v", h)
	}
	if h := mustParse(t, `{ } >> { .a = 1 } || { .b = 2 }`).RequiredHints(); len(h) != 0 {
		t.Fatalf("||: %+v", h)
	}
	if h := mustParse(t, `{ .a = 1 } !~ { }`).RequiredHints(); len(h) != 0 {
		t.Fatalf("negated with an empty right side: %+v", h)
	}
}
