package zipkin

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Tag keys and attribute names of the OpenTelemetry Zipkin mapping.
const (
	tagStatusCode        = "otel.status_code"
	tagError             = "error"
	tagStatusDescription = "otel.status_description" // older exporters
	tagScopeName         = "otel.scope.name"
	tagScopeVersion      = "otel.scope.version"
	tagLibraryName       = "otel.library.name"    // deprecated spelling
	tagLibraryVersion    = "otel.library.version" // deprecated spelling

	attrServiceName      = "service.name"
	attrPeerService      = "peer.service"
	attrPeerAddress      = "network.peer.address"
	attrPeerPort         = "network.peer.port"
	attrLocalAddress     = "network.local.address"
	attrLocalPort        = "network.local.port"
	attrSamplingPriority = "sampling.priority"

	unknownService = "unknown_service"
	w3cSampled     = 0x01
)

// resourcePrefixes name the semantic-convention namespaces that describe the
// process, not the operation. OpenTelemetry's Zipkin exporters copy resource
// attributes into every span's tags; they go back to the resource here.
var resourcePrefixes = [...]string{
	"service.", "telemetry.", "host.", "os.", "process.", "container.", "k8s.",
	"cloud.", "deployment.", "faas.", "device.", "webengine.",
}

func isResourceKey(k string) bool {
	for _, p := range resourcePrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// toTraces maps decoded spans to one pdata batch, with one resource per
// distinct (service, resource tags) and one scope per otel.scope.* pair.
func toTraces(spans []zspan) ptrace.Traces {
	td := ptrace.NewTraces()
	type scopeKey struct{ resource, name, version string }
	resources := make(map[string]ptrace.ResourceSpans)
	scopes := make(map[scopeKey]ptrace.SpanSlice)
	for i := range spans {
		s := &spans[i]
		resAttrs, resKey := resourceOf(s)
		rs, ok := resources[resKey]
		if !ok {
			rs = td.ResourceSpans().AppendEmpty()
			resAttrs.CopyTo(rs.Resource().Attributes())
			resources[resKey] = rs
		}
		sk := scopeKey{resource: resKey, name: scopeTag(s.tags, tagScopeName, tagLibraryName),
			version: scopeTag(s.tags, tagScopeVersion, tagLibraryVersion)}
		dst, ok := scopes[sk]
		if !ok {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName(sk.name)
			ss.Scope().SetVersion(sk.version)
			dst = ss.Spans()
			scopes[sk] = dst
		}
		convertSpan(dst.AppendEmpty(), s)
	}
	return td
}

func scopeTag(tags map[string]string, key, oldKey string) string {
	if v, ok := tags[key]; ok {
		return v
	}
	return tags[oldKey]
}

// resourceOf builds the span's resource attributes and a key identifying
// them. localEndpoint.serviceName is authoritative for service.name; the tag
// is only a fallback.
func resourceOf(s *zspan) (pcommon.Map, string) {
	attrs := pcommon.NewMap()
	keys := make([]string, 0, 4)
	for k := range s.tags {
		if isResourceKey(k) && k != attrServiceName {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	service := s.local.serviceName
	if service == "" {
		service = s.tags[attrServiceName]
	}
	if service == "" {
		service = unknownService
	}
	var key strings.Builder
	key.WriteString(service)
	attrs.PutStr(attrServiceName, service)
	for _, k := range keys {
		attrs.PutStr(k, s.tags[k])
		key.WriteString("\x00" + k + "\x00" + s.tags[k])
	}
	return attrs, key.String()
}

func convertSpan(dst ptrace.Span, s *zspan) {
	dst.SetTraceID(s.traceID)
	dst.SetSpanID(s.id)
	dst.SetParentSpanID(s.parentID)
	dst.SetName(s.name)
	dst.SetKind(spanKind(s.kind))
	if s.shared && s.kind == "SERVER" {
		// The server half of a B3 single-span RPC reuses the client's span ID.
		// Two spans with one ID break the trace tree, so the server half gets
		// an ID derived from the shared one (stable across re-deliveries) and
		// becomes the client half's child, as Jaeger's span-ID deduper does.
		dst.SetParentSpanID(s.id)
		dst.SetSpanID(sharedServerID(s.traceID, s.id))
	}
	start := micros(s.timestamp)
	dst.SetStartTimestamp(start)
	dst.SetEndTimestamp(start + micros(s.duration))
	// Zipkin reports only sampled spans.
	dst.SetFlags(w3cSampled)

	attrs := dst.Attributes()
	code, hasCode := s.tags[tagStatusCode]
	errText, hasError := s.tags[tagError]
	desc, hasDesc := s.tags[tagStatusDescription]
	for k, v := range s.tags {
		switch {
		case k == tagStatusCode || k == tagStatusDescription:
			continue // decided below
		case k == tagError && !(hasCode && !strings.EqualFold(code, "ERROR")):
			continue // the status message, unless otel.status_code contradicts it
		case k == tagScopeName || k == tagScopeVersion || k == tagLibraryName || k == tagLibraryVersion:
			continue // used for the scope
		case isResourceKey(k):
			continue // moved to the resource
		}
		attrs.PutStr(k, v)
	}
	switch {
	case hasCode && strings.EqualFold(code, "ERROR"), !hasCode && hasError:
		dst.Status().SetCode(ptrace.StatusCodeError)
		switch {
		case hasError && errText != "":
			dst.Status().SetMessage(errText)
		case hasDesc:
			dst.Status().SetMessage(desc)
		}
	case hasCode && strings.EqualFold(code, "OK"):
		dst.Status().SetCode(ptrace.StatusCodeOk)
	case hasCode:
		attrs.PutStr(tagStatusCode, code) // unknown code: keep the data
	}
	if hasDesc && dst.Status().Code() != ptrace.StatusCodeError {
		attrs.PutStr(tagStatusDescription, desc)
	}

	putEndpoint(attrs, s.local, "", attrLocalAddress, attrLocalPort)
	putEndpoint(attrs, s.remote, attrPeerService, attrPeerAddress, attrPeerPort)
	if s.debug {
		// OTLP has no debug flag; sampling.priority=1 is the OpenTracing way of
		// saying "keep this span", which samplers downstream can honour.
		putIfAbsent(attrs, attrSamplingPriority, func() { attrs.PutInt(attrSamplingPriority, 1) })
	}

	for _, a := range s.annotations {
		ev := dst.Events().AppendEmpty()
		ev.SetTimestamp(micros(a.timestamp))
		ev.SetName(a.value)
	}
}

// putEndpoint adds an endpoint's fields as attributes without overwriting a
// tag the client set itself (the tag is the more specific source).
func putEndpoint(attrs pcommon.Map, e endpoint, serviceKey, addrKey, portKey string) {
	if serviceKey != "" && e.serviceName != "" {
		putIfAbsent(attrs, serviceKey, func() { attrs.PutStr(serviceKey, e.serviceName) })
	}
	switch {
	case e.ipv6.IsValid():
		putIfAbsent(attrs, addrKey, func() { attrs.PutStr(addrKey, e.ipv6.String()) })
	case e.ipv4.IsValid():
		putIfAbsent(attrs, addrKey, func() { attrs.PutStr(addrKey, e.ipv4.String()) })
	}
	if e.port > 0 {
		putIfAbsent(attrs, portKey, func() { attrs.PutInt(portKey, int64(e.port)) })
	}
}

func putIfAbsent(attrs pcommon.Map, key string, put func()) {
	if _, ok := attrs.Get(key); !ok {
		put()
	}
}

func spanKind(k string) ptrace.SpanKind {
	switch k {
	case "CLIENT":
		return ptrace.SpanKindClient
	case "SERVER":
		return ptrace.SpanKindServer
	case "PRODUCER":
		return ptrace.SpanKindProducer
	case "CONSUMER":
		return ptrace.SpanKindConsumer
	}
	return ptrace.SpanKindInternal // absent: a local span
}

// sharedServerID derives the server half's span ID from the shared one.
func sharedServerID(trace pcommon.TraceID, id pcommon.SpanID) pcommon.SpanID {
	h := fnv.New64a()
	_, _ = h.Write(trace[:])
	_, _ = h.Write(id[:])
	_, _ = h.Write([]byte("shared-server"))
	v := h.Sum64()
	if v == 0 || v == binary.BigEndian.Uint64(id[:]) {
		v = ^v // never empty, never the client's ID
	}
	var out pcommon.SpanID
	binary.BigEndian.PutUint64(out[:], v)
	return out
}

// micros converts Zipkin microseconds to nanoseconds, saturating instead of
// wrapping on absurd values.
func micros(v uint64) pcommon.Timestamp {
	if v > math.MaxInt64/1000 {
		return pcommon.Timestamp(math.MaxInt64)
	}
	return pcommon.Timestamp(v * 1000)
}
