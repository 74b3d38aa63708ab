package limits

import (
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Text that is not valid UTF-8 is repaired where it enters the pipeline:
// every run of bytes that is not UTF-8 becomes one U+FFFD (Go's
// strings.ToValidUTF8). Protobuf requires UTF-8 strings but the OTLP decoders,
// Jaeger's Thrift and OTLP/JSON let other bytes through; repairing them once,
// here, means the store, the blocks, the query API, the UI and /metrics (whose
// label values must be UTF-8) all hold the same text. Bytes values are bytes
// and stay as sent.

// repairString returns s with invalid UTF-8 replaced, and whether it changed.
func repairString(s string) (string, bool) {
	if utf8.ValidString(s) {
		return s, false
	}
	return strings.ToValidUTF8(s, "\uFFFD"), true
}

// RepairMap repairs the keys and string values of m, also inside arrays and
// maps, and returns how many strings it changed. When a repaired key equals
// one already in m, the repaired entry replaces it.
func RepairMap(m pcommon.Map) int {
	n := 0
	var badKeys []string
	for k, v := range m.All() {
		if !utf8.ValidString(k) {
			badKeys = append(badKeys, k)
		}
		n += RepairValue(v)
	}
	for _, k := range badKeys {
		v, _ := m.Get(k)
		fixed, _ := repairString(k)
		v.CopyTo(m.PutEmpty(fixed))
		m.Remove(k)
		n++
	}
	return n
}

// RepairValue repairs a string value, or the strings inside an array or map,
// and returns how many it changed. Receivers bound the nesting depth (see
// otlpwire.MaxValueDepth), so the recursion is bounded.
func RepairValue(v pcommon.Value) int {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		if s, changed := repairString(v.Str()); changed {
			v.SetStr(s)
			return 1
		}
	case pcommon.ValueTypeSlice:
		n := 0
		for _, e := range v.Slice().All() {
			n += RepairValue(e)
		}
		return n
	case pcommon.ValueTypeMap:
		return RepairMap(v.Map())
	}
	return 0
}

// RepairResource repairs a resource's attributes (service.name among them).
func RepairResource(r pcommon.Resource) int { return RepairMap(r.Attributes()) }

// RepairScope repairs an instrumentation scope's name, version and attributes.
func RepairScope(sc pcommon.InstrumentationScope) int {
	n := RepairMap(sc.Attributes())
	if s, changed := repairString(sc.Name()); changed {
		sc.SetName(s)
		n++
	}
	if s, changed := repairString(sc.Version()); changed {
		sc.SetVersion(s)
		n++
	}
	return n
}

// repairSpan repairs every text field of a span, its events and its links.
func repairSpan(s ptrace.Span) int {
	n := RepairMap(s.Attributes())
	if v, changed := repairString(s.Name()); changed {
		s.SetName(v)
		n++
	}
	if v, changed := repairString(s.Status().Message()); changed {
		s.Status().SetMessage(v)
		n++
	}
	if v, changed := repairString(s.TraceState().AsRaw()); changed {
		s.TraceState().FromRaw(v)
		n++
	}
	for _, e := range s.Events().All() {
		n += RepairMap(e.Attributes())
		if v, changed := repairString(e.Name()); changed {
			e.SetName(v)
			n++
		}
	}
	for _, l := range s.Links().All() {
		n += RepairMap(l.Attributes())
		if v, changed := repairString(l.TraceState().AsRaw()); changed {
			l.TraceState().FromRaw(v)
			n++
		}
	}
	return n
}

// repairSchemaURLs repairs the schema URLs of a ResourceSpans and its scopes.
func repairSchemaURLs(rs ptrace.ResourceSpans) int {
	n := 0
	if v, changed := repairString(rs.SchemaUrl()); changed {
		rs.SetSchemaUrl(v)
		n++
	}
	for _, ss := range rs.ScopeSpans().All() {
		if v, changed := repairString(ss.SchemaUrl()); changed {
			ss.SetSchemaUrl(v)
			n++
		}
	}
	return n
}
