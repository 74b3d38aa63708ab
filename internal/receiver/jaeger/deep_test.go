package jaeger

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/apache/thrift/lib/go/thrift"
)

// deepBinaryBatch is a TBinaryProtocol Batch whose first field (id 99, which
// jaeger.thrift does not define) is a struct nesting levels structs.
func deepBinaryBatch(levels int) []byte {
	b := bytes.Repeat([]byte{byte(thrift.STRUCT), 0, 99}, levels)
	return append(b, make([]byte, levels+1)...) // the STOPs closing each struct and the Batch
}

// deepBinaryLists is the same with list<list<...>> nesting.
func deepBinaryLists(levels int) []byte {
	b := []byte{byte(thrift.LIST), 0, 99}
	b = append(b, bytes.Repeat([]byte{byte(thrift.LIST), 0, 0, 0, 1}, levels)...)
	return append(b, byte(thrift.I32), 0, 0, 0, 0, 0)
}

// deepDatagram is an emitBatch datagram whose Batch holds, in a field
// jaeger.thrift does not define, levels nested structs.
func deepDatagram(t testing.TB, compact bool, levels int) []byte {
	t.Helper()
	ctx := context.Background()
	buf := thrift.NewTMemoryBuffer()
	var p thrift.TProtocol = thrift.NewTBinaryProtocolConf(buf, nil)
	if compact {
		p = thrift.NewTCompactProtocolConf(buf, nil)
	}
	_ = p.WriteMessageBegin(ctx, "emitBatch", thrift.ONEWAY, 1)
	_ = p.WriteStructBegin(ctx, "emitBatch_args")
	_ = p.WriteFieldBegin(ctx, "batch", thrift.STRUCT, 1)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if !compact {
		return append(b, deepBinaryBatch(levels)...)
	}
	b = append(b, 0xac) // field 10 (delta 10), compact type struct
	b = append(b, bytes.Repeat([]byte{0x1c}, levels-1)...)
	return append(b, make([]byte, levels+2)...)
}

// TestDeepNestingRefused: Thrift lets a sender nest structs and lists without
// bound in fields the decoder skips; a million levels is a 400 over HTTP
// (binary protocol), a malformed datagram over UDP (compact and binary), and
// the receiver keeps working.
func TestDeepNestingRefused(t *testing.T) {
	next, ch := chanSink(1)
	r, done := udpReceiver(t, Config{MaxRequestBytes: 16 << 20}, next)
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	for name, body := range map[string][]byte{
		"structs": deepBinaryBatch(1_000_000),
		"lists":   deepBinaryLists(1_000_000),
	} {
		resp, err := http.Post(srv.URL+"/api/traces", contentTypeThrift, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", name, resp.StatusCode)
		}
	}

	// A datagram holds at most 65,000 bytes.
	compact := deepDatagram(t, true, 30_000)
	binary := deepDatagram(t, false, 15_000)
	for _, c := range []struct {
		addr, transport string
		datagram        []byte
	}{
		{r.CompactAddr(), transportCompact, compact},
		{r.BinaryAddr(), transportBinary, binary},
	} {
		before := counterValue(t, r.metrics.malformed.WithLabelValues(c.transport))
		send(t, c.addr, c.datagram)
		waitDatagram(t, done)
		if got := counterValue(t, r.metrics.malformed.WithLabelValues(c.transport)); got != before+1 {
			t.Errorf("%s: malformed = %v, want %v", c.transport, got, before+1)
		}
	}
	send(t, r.BinaryAddr(), readFixture(t, "jaeger-client-udp.udp"))
	receive(t, ch)
}
