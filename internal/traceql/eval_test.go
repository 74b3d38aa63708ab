package traceql

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/model"
)

// The brute-force evaluator below is written independently of the package:
// plain loops over a trace's spans, each query's meaning spelled out in Go.

type bspans = []model.Span

func bSpanAttr(s *model.Span, k string) (model.Value, bool) { return model.Lookup(s.Attributes, k) }

func bResAttr(s *model.Span, k string) (model.Value, bool) {
	if v, ok := model.Lookup(s.Resource.Attributes, k); ok {
		return v, true
	}
	if k == "service.name" {
		return model.StringValue(s.Service()), true
	}
	return model.Value{}, false
}

func bAny(s *model.Span, k string) (model.Value, bool) {
	if v, ok := bSpanAttr(s, k); ok {
		return v, true
	}
	return bResAttr(s, k)
}

func bInt(v model.Value, ok bool) (int64, bool)  { return v.Int, ok && v.Type == model.ValueInt }
func bStr(v model.Value, ok bool) (string, bool) { return v.Str, ok && v.Type == model.ValueString }

func bWhere(sp bspans, pred func(s *model.Span) bool) []int {
	var out []int
	for i := range sp {
		if pred(&sp[i]) {
			out = append(out, i)
		}
	}
	return out
}

func one(x []int) [][]int {
	if len(x) == 0 {
		return nil
	}
	return [][]int{x}
}

func where(pred func(s *model.Span) bool) func(bspans) [][]int {
	return func(sp bspans) [][]int { return one(bWhere(sp, pred)) }
}

func bParentOf(sp bspans, a, b int) bool {
	return !sp[b].ParentSpanID.IsZero() && sp[b].ParentSpanID == sp[a].SpanID
}

func bAncestorOf(sp bspans, a, b int) bool {
	cur := b
	for steps := 0; steps <= len(sp); steps++ {
		p := -1
		for j := range sp {
			if bParentOf(sp, j, cur) {
				p = j
			}
		}
		if p < 0 {
			return false
		}
		if p == a {
			return true
		}
		cur = p
	}
	return false
}

func bSibling(sp bspans, a, b int) bool {
	return a != b && !sp[a].ParentSpanID.IsZero() && sp[a].ParentSpanID == sp[b].ParentSpanID
}

// bRel reports whether a (left side) stands in relation op to b (right side).
func bRel(op string, sp bspans, a, b int) bool {
	switch op {
	case ">":
		return bParentOf(sp, a, b)
	case ">>":
		return bAncestorOf(sp, a, b)
	case "<":
		return bParentOf(sp, b, a)
	case "<<":
		return bAncestorOf(sp, b, a)
	case "~":
		return bSibling(sp, a, b)
	}
	panic(op)
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// bStruct: plain, negated (!op) and union (&op) structural operators.
func bStruct(op string, l, r func(*model.Span) bool) func(bspans) [][]int {
	return func(sp bspans) [][]int {
		L, R := bWhere(sp, l), bWhere(sp, r)
		mode, rel := op[0], op
		if mode == '!' || mode == '&' {
			rel = op[1:]
		}
		var out []int
		for i := range sp {
			inR := contains(R, i)
			relR := false
			for _, a := range L {
				if inR && bRel(rel, sp, a, i) {
					relR = true
				}
			}
			switch mode {
			case '!':
				if inR && !relR {
					out = append(out, i)
				}
			case '&':
				relL := false
				if contains(L, i) {
					for _, b := range R {
						if bRel(rel, sp, i, b) {
							relL = true
						}
					}
				}
				if relR || relL {
					out = append(out, i)
				}
			default:
				if relR {
					out = append(out, i)
				}
			}
		}
		return one(out)
	}
}

func svc(name string) func(*model.Span) bool {
	return func(s *model.Span) bool { return s.Service() == name }
}

func isErr(s *model.Span) bool { return s.StatusCode == model.StatusError }

func all(*model.Span) bool { return true }

func code(s *model.Span) (int64, bool) { return bInt(bSpanAttr(s, "http.status_code")) }

func method(s *model.Span) (string, bool) { return bStr(bSpanAttr(s, "http.method")) }

func ratio(s *model.Span) (float64, bool) {
	v, ok := bSpanAttr(s, "ratio")
	return v.Float, ok && v.Type == model.ValueDouble
}

func dur(s *model.Span) time.Duration { return time.Duration(s.EndUnixNano - s.StartUnixNano) }

func traceDur(sp bspans) time.Duration {
	lo, hi := sp[0].StartUnixNano, sp[0].EndUnixNano
	for _, s := range sp {
		lo, hi = min(lo, s.StartUnixNano), max(hi, s.EndUnixNano)
	}
	return time.Duration(hi - lo)
}

func root(sp bspans) *model.Span {
	var r *model.Span
	for i := range sp {
		if sp[i].ParentSpanID.IsZero() && (r == nil || sp[i].StartUnixNano < r.StartUnixNano) {
			r = &sp[i]
		}
	}
	return r
}

// perTrace filters whole traces with an aggregate over the selected spans.
func perTrace(sel func(*model.Span) bool, keep func(sp bspans, idx []int) bool) func(bspans) [][]int {
	return func(sp bspans) [][]int {
		idx := bWhere(sp, sel)
		if len(idx) == 0 || !keep(sp, idx) {
			return nil
		}
		return [][]int{idx}
	}
}

func groupBy(sp bspans, idx []int, key func(*model.Span) string) [][]int {
	var out [][]int
	pos := map[string]int{}
	for _, i := range idx {
		k := key(&sp[i])
		g, ok := pos[k]
		if !ok {
			g = len(out)
			pos[k] = g
			out = append(out, nil)
		}
		out[g] = append(out[g], i)
	}
	return out
}

// evalCase is a query and its answer per trace, computed without the
// evaluator.
type evalCase struct {
	q    string
	want func(bspans) [][]int
}

// evalCases is the table of queries checked against brute force; traces
// are what firstSpan (a span ID in a query) is taken from.
func evalCases(traces [][]model.Span) []evalCase {
	firstSpan := traces[0][0].SpanID.String()
	return []evalCase{
		{`{}`, where(all)},
		{`{ name = "SELECT" }`, where(func(s *model.Span) bool { return s.Name == "SELECT" })},
		{`{ name != "SELECT" }`, where(func(s *model.Span) bool { return s.Name != "SELECT" })},
		{`{ status = error }`, where(isErr)},
		{`{ status != ok }`, where(func(s *model.Span) bool { return s.StatusCode != model.StatusOK })},
		{`{ status = unset }`, where(func(s *model.Span) bool { return s.StatusCode == model.StatusUnset })},
		{`{ kind = server }`, where(func(s *model.Span) bool { return s.Kind == model.KindServer })},
		{`{ kind != client && kind != server }`, where(func(s *model.Span) bool { return s.Kind != model.KindClient && s.Kind != model.KindServer })},
		{`{ duration > 1s }`, where(func(s *model.Span) bool { return dur(s) > time.Second })},
		{`{ duration <= 500ms }`, where(func(s *model.Span) bool { return dur(s) <= 500*time.Millisecond })},
		{`{ duration >= 1.5s && duration < 1900ms }`, where(func(s *model.Span) bool { return dur(s) >= 1500*time.Millisecond && dur(s) < 1900*time.Millisecond })},
		{`{ statusMessage = "boom" }`, where(func(s *model.Span) bool { return s.StatusMessage == "boom" })},
		{`{ span.http.status_code = 500 }`, where(func(s *model.Span) bool { c, ok := code(s); return ok && c == 500 })},
		{`{ span.http.status_code >= 500 }`, where(func(s *model.Span) bool { c, ok := code(s); return ok && c >= 500 })},
		{`{ span.http.status_code < 300 }`, where(func(s *model.Span) bool { c, ok := code(s); return ok && c < 300 })},
		{`{ .http.status_code != 200 }`, where(func(s *model.Span) bool { c, ok := code(s); return ok && c != 200 })},
		// Comparisons the store's search makes too (predicate.Compare).
		{`{ 500 <= span.http.status_code && span.http.status_code < 503.5 }`, where(func(s *model.Span) bool { c, ok := code(s); return ok && c >= 500 && c <= 503 })},
		{`{ span.ratio > 9 || span.ratio < 0.5 }`, where(func(s *model.Span) bool { f, ok := ratio(s); return ok && (f > 9 || f < 0.5) })},
		{`{ span.ratio >= 5 && span.ratio != 7.5 }`, where(func(s *model.Span) bool { f, ok := ratio(s); return ok && f >= 5 && f != 7.5 })},
		{`{ span.http.method > "DELETE" && span.http.method <= "POST" }`, where(func(s *model.Span) bool { m, ok := method(s); return ok && m > "DELETE" && m <= "POST" })},
		{`{ resource.deployment.environment =~ "stag.*" && span.http.status_code > 200 }`, where(func(s *model.Span) bool {
			v, ok := bStr(bResAttr(s, "deployment.environment"))
			c, cok := code(s)
			return ok && v == "staging" && cok && c > 200
		})},
		{`{ .deployment.environment != "prod" && .deployment.environment !~ "canary" }`, where(func(s *model.Span) bool {
			v, ok := bStr(bAny(s, "deployment.environment"))
			return ok && v == "staging"
		})},
		{`{ event.exception.type != "IOError" }`, where(func(s *model.Span) bool {
			for _, e := range s.Events {
				for _, a := range e.Attributes {
					if a.Key == "exception.type" && a.Value.Str != "IOError" {
						return true
					}
				}
			}
			return false
		})},
		{`{ span.http.status_code >= 500 } >> { span.http.method !~ "GET" && span.http.method != nil }`, bStruct(">>",
			func(s *model.Span) bool { c, ok := code(s); return ok && c >= 500 },
			func(s *model.Span) bool { m, ok := method(s); return ok && m != "GET" })},
		{`{ span.http.method = "GET" }`, where(func(s *model.Span) bool { m, ok := method(s); return ok && m == "GET" })},
		{`{ span.http.method =~ "G.*" }`, where(func(s *model.Span) bool { m, ok := method(s); return ok && m[0] == 'G' })},
		{`{ span.http.method !~ "GET|POST" }`, where(func(s *model.Span) bool { m, ok := method(s); return ok && m != "GET" && m != "POST" })},
		{`{ span.http.method =~ "ET" }`, where(func(s *model.Span) bool { return false })},
		{`{ resource.service.name = "gateway" }`, where(svc("gateway"))},
		{`{ .service.name = "db" }`, where(svc("db"))},
		{`{ resource.deployment.environment = "prod" }`, where(func(s *model.Span) bool {
			v, ok := bStr(bResAttr(s, "deployment.environment"))
			return ok && v == "prod"
		})},
		{`{ .deployment.environment = "canary" }`, where(func(s *model.Span) bool { v, ok := bStr(bAny(s, "deployment.environment")); return ok && v == "canary" })},
		{`{ .deployment.environment = "prod" }`, where(func(s *model.Span) bool { v, ok := bStr(bAny(s, "deployment.environment")); return ok && v == "prod" })},
		{`{ span.retry = true }`, where(func(s *model.Span) bool { v, ok := bSpanAttr(s, "retry"); return ok && v.Int == 1 })},
		{`{ span.retry != true }`, where(func(s *model.Span) bool { v, ok := bSpanAttr(s, "retry"); return ok && v.Int == 0 })},
		{`{ span.ratio > 4.5 }`, where(func(s *model.Span) bool { r, ok := ratio(s); return ok && r > 4.5 })},
		{`{ span.ratio >= 3 }`, where(func(s *model.Span) bool { r, ok := ratio(s); return ok && r >= 3 })},
		{`{ span.ratio = nil }`, where(func(s *model.Span) bool { _, ok := bSpanAttr(s, "ratio"); return !ok })},
		{`{ span.http.status_code != nil }`, where(func(s *model.Span) bool { _, ok := code(s); return ok })},
		{`{ !(span.http.status_code = 500) }`, where(func(s *model.Span) bool { c, ok := code(s); return !ok || c != 500 })},
		{`{ span.http.status_code = 500 || span.http.status_code = 503 }`, where(func(s *model.Span) bool { c, ok := code(s); return ok && (c == 500 || c == 503) })},
		{`{ span.http.status_code / 100 = 5 }`, where(func(s *model.Span) bool { c, ok := code(s); return ok && float64(c)/100 == 5 })},
		{`{ span.http.status_code % 100 = 0 }`, where(func(s *model.Span) bool { c, ok := code(s); return ok && c%100 == 0 })},
		{`{ span.http.status_code - 400 > 0 }`, where(func(s *model.Span) bool { c, ok := code(s); return ok && c > 400 })},
		{`{ duration * 2 > 3s }`, where(func(s *model.Span) bool { return 2*dur(s) > 3*time.Second })},
		{`{ span.ratio * 10 >= 50 }`, where(func(s *model.Span) bool { r, ok := ratio(s); return ok && r*10 >= 50 })},
		{`{ 2 ^ 3 = 8 && name = "auth" }`, where(func(s *model.Span) bool { return s.Name == "auth" })},
		{`{ -span.http.status_code < -400 }`, where(func(s *model.Span) bool { c, ok := code(s); return ok && -c < -400 })},
		{`{ span.http.method > "DELETE" }`, where(func(s *model.Span) bool { m, ok := method(s); return ok && m > "DELETE" })},
		{fmt.Sprintf(`{ span:id = "%s" }`, firstSpan), where(func(s *model.Span) bool { return s.SpanID.String() == firstSpan })},
		{`{ span:parentID = nil }`, where(func(s *model.Span) bool { return s.ParentSpanID.IsZero() })},
		{`{ trace:rootService = "gateway" }`, func(sp bspans) [][]int {
			if r := root(sp); r != nil && r.Service() == "gateway" {
				return one(bWhere(sp, all))
			}
			return nil
		}},
		{`{ trace:rootName = "auth" && kind = server }`, func(sp bspans) [][]int {
			if r := root(sp); r != nil && r.Name == "auth" {
				return one(bWhere(sp, func(s *model.Span) bool { return s.Kind == model.KindServer }))
			}
			return nil
		}},
		{`{ trace:duration > 2s }`, func(sp bspans) [][]int {
			if traceDur(sp) > 2*time.Second {
				return one(bWhere(sp, all))
			}
			return nil
		}},
		{`{ event:name = "exception" }`, where(func(s *model.Span) bool {
			for _, e := range s.Events {
				if e.Name == "exception" {
					return true
				}
			}
			return false
		})},
		{`{ event.exception.type = "Timeout" }`, where(func(s *model.Span) bool {
			for _, e := range s.Events {
				if v, ok := model.Lookup(e.Attributes, "exception.type"); ok && v.Str == "Timeout" {
					return true
				}
			}
			return false
		})},
		{`{ event:name = "retry" && status = error }`, where(func(s *model.Span) bool {
			for _, e := range s.Events {
				if e.Name == "retry" && isErr(s) {
					return true
				}
			}
			return false
		})},
		{`{ event:timeSinceStart >= 3ms }`, where(func(s *model.Span) bool {
			for _, e := range s.Events {
				if e.TimeUnixNano-s.StartUnixNano >= int64(3*time.Millisecond) {
					return true
				}
			}
			return false
		})},
		{`{ link:traceID = "00000000000000000000000000000001" }`, where(func(s *model.Span) bool {
			for _, l := range s.Links {
				if l.TraceID[15] == 1 {
					return true
				}
			}
			return false
		})},
		{`{ link.link.kind = "follows" }`, where(func(s *model.Span) bool { return len(s.Links) > 0 })},
		{`{ instrumentation:name = "database/sql" }`, where(func(s *model.Span) bool { return s.Scope.Name == "database/sql" })},
		{`{ instrumentation.lib.lang = "go" }`, where(func(s *model.Span) bool { return len(s.Scope.Attributes) > 0 })},
		{`{ status = error && (kind = server || kind = consumer) }`, where(func(s *model.Span) bool {
			return isErr(s) && (s.Kind == model.KindServer || s.Kind == model.KindConsumer)
		})},
		// Span-set operators.
		{`{ .service.name = "gateway" } && { status = error }`, func(sp bspans) [][]int {
			a, b := bWhere(sp, svc("gateway")), bWhere(sp, isErr)
			if len(a) == 0 || len(b) == 0 {
				return nil
			}
			return one(bWhere(sp, func(s *model.Span) bool { return s.Service() == "gateway" || isErr(s) }))
		}},
		{`{ .service.name = "gateway" } || { name = "charge" }`, where(func(s *model.Span) bool { return s.Service() == "gateway" || s.Name == "charge" })},
		{`{ .service.name = "gateway" } > { .service.name = "db" }`, bStruct(">", svc("gateway"), svc("db"))},
		{`{ .service.name = "gateway" } >> { status = error }`, bStruct(">>", svc("gateway"), isErr)},
		{`{ kind = server } < { kind = client }`, bStruct("<", func(s *model.Span) bool { return s.Kind == model.KindServer }, func(s *model.Span) bool { return s.Kind == model.KindClient })},
		{`{ name = "SELECT" } << { .service.name = "gateway" }`, bStruct("<<", func(s *model.Span) bool { return s.Name == "SELECT" }, svc("gateway"))},
		{`{ status = error } ~ { status = ok }`, bStruct("~", isErr, func(s *model.Span) bool { return s.StatusCode == model.StatusOK })},
		{`{ .service.name = "gateway" } !> { .service.name = "db" }`, bStruct("!>", svc("gateway"), svc("db"))},
		{`{ kind = server } !>> { status = error }`, bStruct("!>>", func(s *model.Span) bool { return s.Kind == model.KindServer }, isErr)},
		{`{ kind = client } !< { kind = server }`, bStruct("!<", func(s *model.Span) bool { return s.Kind == model.KindClient }, func(s *model.Span) bool { return s.Kind == model.KindServer })},
		{`{ } !<< { name = "auth" }`, bStruct("!<<", all, func(s *model.Span) bool { return s.Name == "auth" })},
		{`{ status = error } !~ { status = error }`, bStruct("!~", isErr, isErr)},
		{`{ kind = server } &> { kind = client }`, bStruct("&>", func(s *model.Span) bool { return s.Kind == model.KindServer }, func(s *model.Span) bool { return s.Kind == model.KindClient })},
		{`{ kind = server } &>> { status = error }`, bStruct("&>>", func(s *model.Span) bool { return s.Kind == model.KindServer }, isErr)},
		{`{ name = "SELECT" } &~ { name = "auth" }`, bStruct("&~", func(s *model.Span) bool { return s.Name == "SELECT" }, func(s *model.Span) bool { return s.Name == "auth" })},
		{`{ .service.name = "gateway" } >> { .service.name = "cart" } >> { .service.name = "db" }`, func(sp bspans) [][]int {
			mid := bStruct(">>", svc("gateway"), svc("cart"))(sp)
			var cart []int
			if len(mid) > 0 {
				cart = mid[0]
			}
			var out []int
			for i := range sp {
				if sp[i].Service() != "db" {
					continue
				}
				for _, a := range cart {
					if bAncestorOf(sp, a, i) {
						out = append(out, i)
						break
					}
				}
			}
			return one(out)
		}},
		// Pipelines.
		{`{ status = error } | count() > 2`, perTrace(isErr, func(_ bspans, idx []int) bool { return len(idx) > 2 })},
		{`{ status = error } | count() = 1`, perTrace(isErr, func(_ bspans, idx []int) bool { return len(idx) == 1 })},
		{`{ } | avg(duration) > 800ms`, perTrace(all, func(sp bspans, idx []int) bool {
			var sum time.Duration
			for _, i := range idx {
				sum += dur(&sp[i])
			}
			return float64(sum)/float64(len(idx)) > float64(800*time.Millisecond)
		})},
		{`{ span.http.status_code != nil } | max(span.http.status_code) >= 503`, perTrace(func(s *model.Span) bool { _, ok := code(s); return ok }, func(sp bspans, idx []int) bool {
			for _, i := range idx {
				if c, _ := code(&sp[i]); c >= 503 {
					return true
				}
			}
			return false
		})},
		{`{ } | min(duration) < 50ms`, perTrace(all, func(sp bspans, idx []int) bool {
			for _, i := range idx {
				if dur(&sp[i]) < 50*time.Millisecond {
					return true
				}
			}
			return false
		})},
		{`{ kind = server } | sum(duration) > 3s`, perTrace(func(s *model.Span) bool { return s.Kind == model.KindServer }, func(sp bspans, idx []int) bool {
			var sum time.Duration
			for _, i := range idx {
				sum += dur(&sp[i])
			}
			return sum > 3*time.Second
		})},
		{`{ } | count() > avg(duration) / 100ms`, perTrace(all, func(sp bspans, idx []int) bool {
			var sum time.Duration
			for _, i := range idx {
				sum += dur(&sp[i])
			}
			return float64(len(idx)) > float64(sum)/float64(len(idx))/float64(100*time.Millisecond)
		})},
		{`{ } | count() > 3 | { status = error }`, func(sp bspans) [][]int {
			if len(sp) <= 3 {
				return nil
			}
			return one(bWhere(sp, isErr))
		}},
		{`{ } | by(resource.service.name)`, func(sp bspans) [][]int {
			return groupBy(sp, bWhere(sp, all), func(s *model.Span) string { return s.Service() })
		}},
		{`{ status = error } | by(resource.service.name) | count() > 1`, func(sp bspans) [][]int {
			var out [][]int
			for _, g := range groupBy(sp, bWhere(sp, isErr), func(s *model.Span) string { return s.Service() }) {
				if len(g) > 1 {
					out = append(out, g)
				}
			}
			return out
		}},
		{`{ status = error } | by(kind) | coalesce()`, where(isErr)},
		{`({ kind = server } | count() > 1) && { status = error }`, func(sp bspans) [][]int {
			srv, errs := bWhere(sp, func(s *model.Span) bool { return s.Kind == model.KindServer }), bWhere(sp, isErr)
			if len(srv) <= 1 || len(errs) == 0 {
				return nil
			}
			return one(bWhere(sp, func(s *model.Span) bool { return s.Kind == model.KindServer || isErr(s) }))
		}},
		{`{ } | select(span.http.method, resource.deployment.environment)`, where(all)},
		{`{ .service.name = "gateway" } | { status = error } | count() >= 1`, where(func(s *model.Span) bool { return s.Service() == "gateway" && isErr(s) })},
	}
}

func TestEvalAgainstBruteForce(t *testing.T) {
	traces := genTraces(7, 400)
	cases := evalCases(traces)
	if len(cases) < 60 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.q, func(t *testing.T) {
			q, err := Parse(c.q)
			if err != nil {
				t.Fatal(err)
			}
			matched := 0
			for ti, sp := range traces {
				want := c.want(sp)
				var got [][]int
				for _, s := range q.Eval(NewTrace(sp)) {
					got = append(got, s.Spans)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("trace %d: got %v, want %v", ti, got, want)
				}
				if len(want) > 0 {
					matched++
				}
			}
			// A query that matches no trace (or every trace for a filter
			// that should discriminate) would test little; the generator is
			// sized so most queries hit some traces.
			t.Logf("%d of %d traces match", matched, len(traces))
		})
	}
}

func TestByLabels(t *testing.T) {
	q, err := Parse(`{ } | by(resource.service.name, kind)`)
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range genTraces(3, 50) {
		for _, s := range q.Eval(NewTrace(sp)) {
			if len(s.By) != 2 || s.By[0].Name != "resource.service.name" || s.By[1].Name != "kind" {
				t.Fatalf("labels %+v", s.By)
			}
			for _, i := range s.Spans {
				if sp[i].Service() != s.By[0].Val.S || int64(sp[i].Kind) != s.By[1].Val.N {
					t.Fatalf("span %d in group %+v", i, s.By)
				}
			}
		}
	}
}

func TestRegexAnchoredAndBounded(t *testing.T) {
	if _, err := Parse(`{ name =~ "(a+)+$" }`); err != nil {
		t.Fatalf("a pattern that backtracks elsewhere is fine in RE2: %v", err)
	}
	_, err := Parse(`{ name =~ "` + regexp.QuoteMeta("") + `(((a{100}){100}){100})" }`)
	if err == nil {
		t.Fatal("a regex with a huge program was accepted")
	}
	t.Log(err)
}

func TestNaNNeverEqual(t *testing.T) {
	sp := []model.Span{{Name: "x", Resource: &model.Resource{}, Scope: &model.Scope{},
		Attributes: []model.Attribute{{Key: "f", Value: model.DoubleValue(math.NaN())}}}}
	for q, want := range map[string]bool{`{ span.f = 1 }`: false, `{ span.f != 1 }`: true, `{ span.f > 0 }`: false} {
		got := len(mustParse(t, q).Eval(NewTrace(sp))) > 0
		if got != want {
			t.Errorf("%s: got %v", q, got)
		}
	}
}

func mustParse(t testing.TB, q string) *Query {
	t.Helper()
	p, err := Parse(q)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
