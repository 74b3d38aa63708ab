package zipkin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// deepJSON is a span list with a tag value (which Zipkin defines as a string,
// and Clew keeps as its JSON text otherwise) and an unknown field, each
// nested levels arrays deep.
func deepJSON(levels int, where string) []byte {
	deep := strings.Repeat("[", levels) + strings.Repeat("]", levels)
	if where == "tag" {
		return []byte(`[{"traceId":"1","id":"1","name":"deep","tags":{"deep":` + deep + `}}]`)
	}
	return []byte(`[{"traceId":"1","id":"1","name":"deep","x":` + deep + `}]`)
}

// deepProto is a ListOfSpans whose span holds, in field 99 (not defined),
// levels nested groups, the one protobuf construct a decoder must descend
// into even when skipping it.
func deepProto(levels int) []byte {
	var span []byte
	span = protowire.AppendTag(span, 1, protowire.BytesType)
	span = protowire.AppendBytes(span, make([]byte, 7))
	span = append(span, 1)
	for range levels {
		span = protowire.AppendTag(span, 99, protowire.StartGroupType)
	}
	for range levels {
		span = protowire.AppendTag(span, 99, protowire.EndGroupType)
	}
	b := protowire.AppendTag(nil, 1, protowire.BytesType)
	return protowire.AppendBytes(b, span)
}

// TestDeepNestingRefused: a million levels in JSON or protobuf is a 400 and
// the receiver keeps serving.
func TestDeepNestingRefused(t *testing.T) {
	next, ch := chanSink(1)
	r := newReceiver(t, Config{MaxRequestBytes: 16 << 20}, next)
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	for _, c := range []struct {
		name, ct string
		body     []byte
	}{
		{"JSON tag", "application/json", deepJSON(1_000_000, "tag")},
		{"JSON unknown field", "application/json", deepJSON(1_000_000, "unknown")},
		{"protobuf groups", "application/x-protobuf", deepProto(1_000_000)},
	} {
		if status, msg := post(t, srv.URL+"/api/v2/spans", c.ct, "", c.body); status != http.StatusBadRequest {
			t.Errorf("%s: status %d %.200s, want 400", c.name, status, msg)
		}
	}
	if status, msg := post(t, srv.URL+"/api/v2/spans", "application/json", "", readFixture(t)); status != http.StatusAccepted {
		t.Fatalf("fixture after the deep requests: %d %s", status, msg)
	}
	receive(t, ch)
}
