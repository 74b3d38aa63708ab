package limits

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TestInvalidUTF8Repaired: every text field of a batch that is not UTF-8
// reaches the next stage with each bad run replaced by one U+FFFD; valid
// text, bytes values and everything else are left alone; the repairs are
// counted.
func TestInvalidUTF8Repaired(t *testing.T) {
	p, s, reg := newTest(t, DefaultConfig())
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.SetSchemaUrl("https://x/\xff")
	rs.Resource().Attributes().PutStr("service.name", "svc\xff\xfe")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("lib\xc3")
	ss.Scope().SetVersion("1\x80")
	ss.Scope().Attributes().PutStr("k", "v\xff")
	sp := ss.Spans().AppendEmpty()
	validSpan(sp, 1, "op\xff")
	sp.Status().SetMessage("boom\xff")
	sp.Attributes().PutStr("bad\xffkey", "x")
	sp.Attributes().PutStr("good", "héllo")
	sp.Attributes().PutEmptyBytes("raw").FromRaw([]byte{0xff, 0xfe})
	arr := sp.Attributes().PutEmptySlice("arr")
	arr.AppendEmpty().SetStr("a\xff")
	arr.AppendEmpty().SetEmptyMap().PutStr("in\xff", "b\xff")
	ev := sp.Events().AppendEmpty()
	ev.SetName("ev\xff")
	ev.Attributes().PutStr("e", "\xff")
	sp.Links().AppendEmpty().Attributes().PutStr("l", "\xffx")

	res, err := p.ConsumeTraces(context.Background(), td)
	if err != nil || res.Rejected != 0 {
		t.Fatalf("%v %+v", err, res)
	}
	out := s.batches[0].ResourceSpans().At(0)
	got := out.ScopeSpans().At(0).Spans().At(0)
	const r = "\uFFFD"
	svc, _ := out.Resource().Attributes().Get("service.name")
	scope := out.ScopeSpans().At(0).Scope()
	scopeAttr, _ := scope.Attributes().Get("k")
	checks := []struct{ what, got, want string }{
		{"schema URL", out.SchemaUrl(), "https://x/" + r},
		{"service.name", svc.Str(), "svc" + r},
		{"scope name", scope.Name(), "lib" + r},
		{"scope version", scope.Version(), "1" + r},
		{"scope attribute", scopeAttr.Str(), "v" + r},
		{"span name", got.Name(), "op" + r},
		{"status message", got.Status().Message(), "boom" + r},
		{"event name", got.Events().At(0).Name(), "ev" + r},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	attrs := got.Attributes()
	if v, ok := attrs.Get("bad" + r + "key"); !ok || v.Str() != "x" {
		t.Errorf("repaired key missing: %v", attrs.AsRaw())
	}
	if _, ok := attrs.Get("bad\xffkey"); ok {
		t.Error("invalid key still present")
	}
	if v, _ := attrs.Get("good"); v.Str() != "héllo" {
		t.Errorf("valid text changed: %q", v.Str())
	}
	if v, _ := attrs.Get("raw"); string(v.Bytes().AsRaw()) != "\xff\xfe" {
		t.Errorf("bytes value changed: %x", v.Bytes().AsRaw())
	}
	a, _ := attrs.Get("arr")
	if a.Slice().At(0).Str() != "a"+r {
		t.Errorf("array element = %q", a.Slice().At(0).Str())
	}
	if v, ok := a.Slice().At(1).Map().Get("in" + r); !ok || v.Str() != "b"+r {
		t.Errorf("nested map = %v", a.Slice().At(1).Map().AsRaw())
	}
	if v, _ := got.Events().At(0).Attributes().Get("e"); v.Str() != r {
		t.Errorf("event attribute = %q", v.Str())
	}
	if v, _ := got.Links().At(0).Attributes().Get("l"); v.Str() != r+"x" {
		t.Errorf("link attribute = %q", v.Str())
	}
	if n := counterValue(t, reg, "clew_pipeline_repaired_utf8_strings_total"); n != 14 {
		t.Errorf("repaired strings counted %v, want 14", n)
	}
}
