package model

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// AppendSpans converts every span of td to a Span and appends it to dst.
// Spans of one ResourceSpans share a *Resource, spans of one ScopeSpans a
// *Scope. The attributes of all spans of a batch are carved out of one slab,
// so converting a batch costs a handful of allocations, not one per span.
func AppendSpans(dst []Span, td ptrace.Traces) []Span {
	slab := make([]Attribute, 0, countSpanAttributes(td))
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := ResourceFromPdata(rs.Resource(), rs.SchemaUrl())
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			sc := ss.Scope()
			scope := &Scope{
				Name:                   sc.Name(),
				Version:                sc.Version(),
				Attributes:             AttributesFromPdata(sc.Attributes()),
				DroppedAttributesCount: sc.DroppedAttributesCount(),
				SchemaURL:              ss.SchemaUrl(),
			}
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				var sp Span
				sp, slab = spanFromPdata(spans.At(k), res, scope, slab)
				dst = append(dst, sp)
			}
		}
	}
	return dst
}

func countSpanAttributes(td ptrace.Traces) int {
	n := 0
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				n += spans.At(k).Attributes().Len()
			}
		}
	}
	return n
}

// ResourceFromPdata converts a resource; schemaURL comes from its ResourceSpans.
func ResourceFromPdata(r pcommon.Resource, schemaURL string) *Resource {
	res := &Resource{
		Attributes:             AttributesFromPdata(r.Attributes()),
		DroppedAttributesCount: r.DroppedAttributesCount(),
		SchemaURL:              schemaURL,
	}
	if v, ok := r.Attributes().Get("service.name"); ok && v.Str() != "" {
		res.ServiceName = v.Str()
	} else {
		res.ServiceName = UnknownService
	}
	return res
}

// spanFromPdata converts one span, taking its attributes from the free
// capacity of slab when there is enough; it returns the rest of the slab.
func spanFromPdata(s ptrace.Span, res *Resource, scope *Scope, slab []Attribute) (Span, []Attribute) {
	out := Span{
		TraceID:                TraceID(s.TraceID()),
		SpanID:                 SpanID(s.SpanID()),
		ParentSpanID:           SpanID(s.ParentSpanID()),
		TraceState:             s.TraceState().AsRaw(),
		Flags:                  s.Flags(),
		Name:                   s.Name(),
		Kind:                   SpanKind(s.Kind()),
		StartUnixNano:          int64(s.StartTimestamp()),
		EndUnixNano:            int64(s.EndTimestamp()),
		StatusCode:             StatusCode(s.Status().Code()),
		StatusMessage:          s.Status().Message(),
		DroppedAttributesCount: s.DroppedAttributesCount(),
		DroppedEventsCount:     s.DroppedEventsCount(),
		DroppedLinksCount:      s.DroppedLinksCount(),
		Resource:               res,
		Scope:                  scope,
	}
	if m := s.Attributes(); m.Len() > 0 {
		if cap(slab)-len(slab) >= m.Len() {
			start := len(slab)
			for k, v := range m.All() {
				slab = append(slab, Attribute{Key: k, Value: ValueFromPdata(v)})
			}
			// Cap the sub-slice so an append to it can never write into a
			// neighbour's attributes.
			out.Attributes = slab[start:len(slab):len(slab)]
		} else {
			out.Attributes = AttributesFromPdata(m)
		}
	}
	if evs := s.Events(); evs.Len() > 0 {
		out.Events = make([]Event, evs.Len())
		for i := range out.Events {
			e := evs.At(i)
			out.Events[i] = Event{
				TimeUnixNano:           int64(e.Timestamp()),
				Name:                   e.Name(),
				Attributes:             AttributesFromPdata(e.Attributes()),
				DroppedAttributesCount: e.DroppedAttributesCount(),
			}
		}
	}
	if links := s.Links(); links.Len() > 0 {
		out.Links = make([]Link, links.Len())
		for i := range out.Links {
			l := links.At(i)
			out.Links[i] = Link{
				TraceID:                TraceID(l.TraceID()),
				SpanID:                 SpanID(l.SpanID()),
				TraceState:             l.TraceState().AsRaw(),
				Flags:                  l.Flags(),
				Attributes:             AttributesFromPdata(l.Attributes()),
				DroppedAttributesCount: l.DroppedAttributesCount(),
			}
		}
	}
	return out, slab
}

// AttributesFromPdata converts an attribute map; nil when it is empty.
func AttributesFromPdata(m pcommon.Map) []Attribute {
	if m.Len() == 0 {
		return nil
	}
	attrs := make([]Attribute, 0, m.Len())
	for k, v := range m.All() {
		attrs = append(attrs, Attribute{Key: k, Value: ValueFromPdata(v)})
	}
	return attrs
}

// ValueFromPdata converts one value. Arrays and maps keep their JSON form.
func ValueFromPdata(v pcommon.Value) Value {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return StringValue(v.Str())
	case pcommon.ValueTypeBool:
		return BoolValue(v.Bool())
	case pcommon.ValueTypeInt:
		return IntValue(v.Int())
	case pcommon.ValueTypeDouble:
		return DoubleValue(v.Double())
	case pcommon.ValueTypeBytes:
		return Value{Type: ValueBytes, Str: string(v.Bytes().AsRaw())}
	case pcommon.ValueTypeSlice:
		return Value{Type: ValueArray, Str: v.AsString()}
	case pcommon.ValueTypeMap:
		return Value{Type: ValueMap, Str: v.AsString()}
	}
	return Value{}
}

// CopyTo writes v into dst.
func (v Value) CopyTo(dst pcommon.Value) {
	switch v.Type {
	case ValueString:
		dst.SetStr(v.Str)
	case ValueBool:
		dst.SetBool(v.Int != 0)
	case ValueInt:
		dst.SetInt(v.Int)
	case ValueDouble:
		dst.SetDouble(v.Float)
	case ValueBytes:
		dst.SetEmptyBytes().FromRaw([]byte(v.Str))
	case ValueArray, ValueMap:
		raw, err := v.Raw()
		if err == nil {
			_ = dst.FromRaw(raw)
		} else {
			dst.SetStr(v.Str)
		}
	}
}

// Raw returns the value as a plain Go value (string, bool, int64, float64,
// []byte, []any, map[string]any). JSON numbers inside arrays and maps become
// int64 when integral, float64 otherwise.
func (v Value) Raw() (any, error) {
	switch v.Type {
	case ValueString:
		return v.Str, nil
	case ValueBool:
		return v.Int != 0, nil
	case ValueInt:
		return v.Int, nil
	case ValueDouble:
		return v.Float, nil
	case ValueBytes:
		return []byte(v.Str), nil
	case ValueArray, ValueMap:
		dec := json.NewDecoder(strings.NewReader(v.Str))
		dec.UseNumber()
		var raw any
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		return fixNumbers(raw), nil
	}
	return nil, nil
}

func fixNumbers(x any) any {
	switch t := x.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	case []any:
		for i := range t {
			t[i] = fixNumbers(t[i])
		}
	case map[string]any:
		for k := range t {
			t[k] = fixNumbers(t[k])
		}
	}
	return x
}

// CopyAttributes writes attrs into dst (which is cleared first).
func CopyAttributes(attrs []Attribute, dst pcommon.Map) {
	dst.Clear()
	dst.EnsureCapacity(len(attrs))
	for _, a := range attrs {
		a.Value.CopyTo(dst.PutEmpty(a.Key))
	}
}

// ToTraces converts spans back to OTLP, grouping spans that share a resource
// and scope (by pointer, then by content) as OTLP does.
func ToTraces(spans []Span) ptrace.Traces {
	td := ptrace.NewTraces()
	resIdx := map[string]int{}
	scopeIdx := map[string]ptrace.ScopeSpans{}
	for i := range spans {
		s := &spans[i]
		rk := resourceKey(s.Resource)
		ri, ok := resIdx[rk]
		if !ok {
			ri = td.ResourceSpans().Len()
			resIdx[rk] = ri
			rs := td.ResourceSpans().AppendEmpty()
			if s.Resource != nil {
				CopyAttributes(s.Resource.Attributes, rs.Resource().Attributes())
				rs.Resource().SetDroppedAttributesCount(s.Resource.DroppedAttributesCount)
				rs.SetSchemaUrl(s.Resource.SchemaURL)
			}
		}
		rs := td.ResourceSpans().At(ri)
		sk := rk + "\x00" + scopeKey(s.Scope)
		ss, ok := scopeIdx[sk]
		if !ok {
			ss = rs.ScopeSpans().AppendEmpty()
			if s.Scope != nil {
				ss.Scope().SetName(s.Scope.Name)
				ss.Scope().SetVersion(s.Scope.Version)
				CopyAttributes(s.Scope.Attributes, ss.Scope().Attributes())
				ss.Scope().SetDroppedAttributesCount(s.Scope.DroppedAttributesCount)
				ss.SetSchemaUrl(s.Scope.SchemaURL)
			}
			scopeIdx[sk] = ss
		}
		s.CopyTo(ss.Spans().AppendEmpty())
	}
	return td
}

// CopyTo writes s (without resource and scope) into dst.
func (s *Span) CopyTo(dst ptrace.Span) {
	dst.SetTraceID(pcommon.TraceID(s.TraceID))
	dst.SetSpanID(pcommon.SpanID(s.SpanID))
	dst.SetParentSpanID(pcommon.SpanID(s.ParentSpanID))
	dst.TraceState().FromRaw(s.TraceState)
	dst.SetFlags(s.Flags)
	dst.SetName(s.Name)
	dst.SetKind(ptrace.SpanKind(s.Kind))
	dst.SetStartTimestamp(pcommon.Timestamp(s.StartUnixNano))
	dst.SetEndTimestamp(pcommon.Timestamp(s.EndUnixNano))
	dst.Status().SetCode(ptrace.StatusCode(s.StatusCode))
	dst.Status().SetMessage(s.StatusMessage)
	CopyAttributes(s.Attributes, dst.Attributes())
	dst.SetDroppedAttributesCount(s.DroppedAttributesCount)
	dst.SetDroppedEventsCount(s.DroppedEventsCount)
	dst.SetDroppedLinksCount(s.DroppedLinksCount)
	for _, e := range s.Events {
		de := dst.Events().AppendEmpty()
		de.SetTimestamp(pcommon.Timestamp(e.TimeUnixNano))
		de.SetName(e.Name)
		CopyAttributes(e.Attributes, de.Attributes())
		de.SetDroppedAttributesCount(e.DroppedAttributesCount)
	}
	for _, l := range s.Links {
		dl := dst.Links().AppendEmpty()
		dl.SetTraceID(pcommon.TraceID(l.TraceID))
		dl.SetSpanID(pcommon.SpanID(l.SpanID))
		dl.TraceState().FromRaw(l.TraceState)
		dl.SetFlags(l.Flags)
		CopyAttributes(l.Attributes, dl.Attributes())
		dl.SetDroppedAttributesCount(l.DroppedAttributesCount)
	}
}

func resourceKey(r *Resource) string {
	if r == nil {
		return ""
	}
	var b bytes.Buffer
	b.WriteString(r.SchemaURL)
	writeAttrsKey(&b, r.Attributes)
	return b.String()
}

func scopeKey(s *Scope) string {
	if s == nil {
		return ""
	}
	var b bytes.Buffer
	b.WriteString(s.Name + "\x00" + s.Version + "\x00" + s.SchemaURL)
	writeAttrsKey(&b, s.Attributes)
	return b.String()
}

func writeAttrsKey(b *bytes.Buffer, attrs []Attribute) {
	sorted := append([]Attribute(nil), attrs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Key < sorted[j].Key })
	for _, a := range sorted {
		b.WriteString("\x00" + a.Key + "\x01" + strconv.Itoa(int(a.Value.Type)) + a.Value.String())
	}
}

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
