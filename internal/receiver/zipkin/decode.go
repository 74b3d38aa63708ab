package zipkin

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	zipkinproto "github.com/openzipkin/zipkin-go/proto/zipkin_proto3"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"google.golang.org/protobuf/proto"
)

// zspan is a Zipkin v2 span after decoding, whichever the encoding was.
type zspan struct {
	traceID     pcommon.TraceID
	id          pcommon.SpanID
	parentID    pcommon.SpanID // empty for a root span
	name        string
	kind        string // CLIENT, SERVER, PRODUCER, CONSUMER or "" (local)
	timestamp   uint64 // µs since the epoch, 0 when absent
	duration    uint64 // µs
	local       endpoint
	remote      endpoint
	annotations []annotation
	tags        map[string]string
	debug       bool
	shared      bool
}

type endpoint struct {
	serviceName string
	ipv4, ipv6  netip.Addr // invalid when absent
	port        int32
}

type annotation struct {
	timestamp uint64 // µs
	value     string
}

// JSON shapes from zipkin2-api.yaml.
type jsonSpan struct {
	TraceID        string                     `json:"traceId"`
	ID             string                     `json:"id"`
	ParentID       string                     `json:"parentId"`
	Name           string                     `json:"name"`
	Kind           string                     `json:"kind"`
	Timestamp      uint64                     `json:"timestamp"`
	Duration       uint64                     `json:"duration"`
	LocalEndpoint  *jsonEndpoint              `json:"localEndpoint"`
	RemoteEndpoint *jsonEndpoint              `json:"remoteEndpoint"`
	Annotations    []jsonAnnotation           `json:"annotations"`
	Tags           map[string]json.RawMessage `json:"tags"`
	Debug          bool                       `json:"debug"`
	Shared         bool                       `json:"shared"`
}

type jsonEndpoint struct {
	ServiceName string `json:"serviceName"`
	IPv4        string `json:"ipv4"`
	IPv6        string `json:"ipv6"`
	Port        int32  `json:"port"`
}

type jsonAnnotation struct {
	Timestamp uint64 `json:"timestamp"`
	Value     string `json:"value"`
}

// decodeJSON decodes a JSON list of Zipkin v2 spans. One bad span fails the
// whole list, as in Zipkin's own collector: the client gets a 400 either way.
func decodeJSON(body []byte) ([]zspan, error) {
	var in []jsonSpan
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("decode zipkin JSON: %w", err)
	}
	out := make([]zspan, 0, len(in))
	for i, js := range in {
		s, err := fromJSON(js)
		if err != nil {
			return nil, fmt.Errorf("span %d: %w", i, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func fromJSON(js jsonSpan) (zspan, error) {
	s := zspan{
		name:      js.Name,
		kind:      strings.ToUpper(js.Kind),
		timestamp: js.Timestamp,
		duration:  js.Duration,
		debug:     js.Debug,
		shared:    js.Shared,
	}
	var err error
	if s.traceID, err = parseTraceID(js.TraceID); err != nil {
		return s, err
	}
	if s.traceID.IsEmpty() {
		return s, errors.New("traceId: all zero")
	}
	if s.id, err = parseSpanID(js.ID); err != nil {
		return s, fmt.Errorf("id: %w", err)
	}
	if s.id.IsEmpty() {
		return s, errors.New("id: all zero")
	}
	// An all-zero parentId (zipkin-go writes one for roots) means "no parent".
	if js.ParentID != "" {
		if s.parentID, err = parseSpanID(js.ParentID); err != nil {
			return s, fmt.Errorf("parentId: %w", err)
		}
	}
	s.local, s.remote = jsonToEndpoint(js.LocalEndpoint), jsonToEndpoint(js.RemoteEndpoint)
	for _, a := range js.Annotations {
		s.annotations = append(s.annotations, annotation{timestamp: a.Timestamp, value: a.Value})
	}
	if len(js.Tags) > 0 {
		s.tags = make(map[string]string, len(js.Tags))
		for k, raw := range js.Tags {
			s.tags[k] = tagText(raw)
		}
	}
	return s, nil
}

// tagText accepts the numbers and booleans some clients put in tags although
// the API says strings: their JSON text is the value.
func tagText(raw json.RawMessage) string {
	var str string
	if err := json.Unmarshal(raw, &str); err == nil {
		return str
	}
	if string(raw) == "null" {
		return ""
	}
	return string(raw)
}

// jsonToEndpoint drops unparseable addresses rather than failing the span, as
// Zipkin's collector does: they only ever feed optional attributes.
func jsonToEndpoint(je *jsonEndpoint) endpoint {
	var e endpoint
	if je == nil {
		return e
	}
	e.serviceName, e.port = je.ServiceName, je.Port
	if a, err := netip.ParseAddr(je.IPv4); err == nil && a.Is4() {
		e.ipv4 = a
	}
	if a, err := netip.ParseAddr(je.IPv6); err == nil && a.Is6() {
		e.ipv6 = a
	}
	return e
}

// parseTraceID accepts 1 to 32 hex digits and left-pads them, as Zipkin's
// collector does; a 64-bit ID (16 digits) lands in the low 8 bytes.
func parseTraceID(h string) (pcommon.TraceID, error) {
	var id pcommon.TraceID
	if err := parseHexID(id[:], h); err != nil {
		return id, fmt.Errorf("traceId: %w", err)
	}
	return id, nil
}

func parseSpanID(h string) (pcommon.SpanID, error) {
	var id pcommon.SpanID
	return id, parseHexID(id[:], h)
}

func parseHexID(dst []byte, h string) error {
	if h == "" || len(h) > 2*len(dst) {
		return fmt.Errorf("want 1 to %d hex digits, got %q", 2*len(dst), h)
	}
	padded := strings.Repeat("0", 2*len(dst)-len(h)) + h
	if _, err := hex.Decode(dst, []byte(padded)); err != nil {
		return fmt.Errorf("bad hex %q", h)
	}
	return nil
}

// decodeProto decodes a protobuf ListOfSpans (zipkin.proto). The zipkin-go
// ParseSpans helper is not used: it rejects 64-bit trace IDs and drops the
// debug field.
func decodeProto(body []byte) ([]zspan, error) {
	var list zipkinproto.ListOfSpans
	if err := proto.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("decode zipkin protobuf: %w", err)
	}
	out := make([]zspan, 0, len(list.GetSpans()))
	for i, ps := range list.GetSpans() {
		s, err := fromProto(ps)
		if err != nil {
			return nil, fmt.Errorf("span %d: %w", i, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func fromProto(ps *zipkinproto.Span) (zspan, error) {
	s := zspan{
		name:      ps.GetName(),
		timestamp: ps.GetTimestamp(),
		duration:  ps.GetDuration(),
		local:     protoToEndpoint(ps.GetLocalEndpoint()),
		remote:    protoToEndpoint(ps.GetRemoteEndpoint()),
		tags:      ps.GetTags(),
		debug:     ps.GetDebug(),
		shared:    ps.GetShared(),
	}
	if k := ps.GetKind(); k != zipkinproto.Span_SPAN_KIND_UNSPECIFIED {
		s.kind = k.String()
	}
	switch tid := ps.GetTraceId(); len(tid) {
	case 8:
		copy(s.traceID[8:], tid)
	case 16:
		copy(s.traceID[:], tid)
	default:
		return s, fmt.Errorf("trace_id: want 8 or 16 bytes, got %d", len(tid))
	}
	if s.traceID.IsEmpty() {
		return s, errors.New("trace_id: all zero")
	}
	if len(ps.GetId()) != 8 {
		return s, fmt.Errorf("id: want 8 bytes, got %d", len(ps.GetId()))
	}
	copy(s.id[:], ps.GetId())
	if s.id.IsEmpty() {
		return s, errors.New("id: all zero")
	}
	// An all-zero parent_id (zipkin-go writes one for roots) means "no parent".
	switch p := ps.GetParentId(); len(p) {
	case 0:
	case 8:
		copy(s.parentID[:], p)
	default:
		return s, fmt.Errorf("parent_id: want 8 bytes, got %d", len(p))
	}
	for _, a := range ps.GetAnnotations() {
		if a != nil {
			s.annotations = append(s.annotations, annotation{timestamp: a.GetTimestamp(), value: a.GetValue()})
		}
	}
	return s, nil
}

func protoToEndpoint(pe *zipkinproto.Endpoint) endpoint {
	var e endpoint
	if pe == nil {
		return e
	}
	e.serviceName, e.port = pe.GetServiceName(), pe.GetPort()
	// Addresses of the wrong length are dropped, as in jsonToEndpoint.
	if a, ok := netip.AddrFromSlice(pe.GetIpv4()); ok && a.Is4() {
		e.ipv4 = a
	}
	if a, ok := netip.AddrFromSlice(pe.GetIpv6()); ok && a.Is6() {
		e.ipv6 = a
	}
	return e
}
