package jaeger

import (
	"bytes"
	"context"
	"testing"
)

// The fuzz targets check that no input makes the decoders or the mapping
// panic or allocate without bound; errors are the expected outcome.

func FuzzThriftBinary(f *testing.F) {
	f.Add(readFixture(f, "jaeger-client-http.thrift"))
	f.Add(readFixture(f, "jaeger-client-udp.udp"))
	f.Add([]byte{})
	f.Add(invalidUTF8(readFixture(f, "jaeger-client-http.thrift")))
	f.Add(deepBinaryBatch(5000))
	f.Add(deepBinaryLists(5000))
	f.Add(deepDatagram(f, false, 5000))
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx := context.Background()
		if batch, err := decodeBatch(ctx, b); err == nil {
			_ = toTraces(batch)
		}
		if batch, err := decodeEmitBatch(ctx, b, false); err == nil {
			_ = toTraces(batch)
		}
	})
}

func FuzzThriftCompact(f *testing.F) {
	f.Add(compactDatagram(f, fixtureBatch(f)))
	f.Add(readFixture(f, "jaeger-client-udp.udp"))
	f.Add(deepDatagram(f, true, 5000))
	f.Fuzz(func(t *testing.T, b []byte) {
		if batch, err := decodeEmitBatch(context.Background(), b, true); err == nil {
			_ = toTraces(batch)
		}
	})
}

// invalidUTF8 replaces the letters of the fixture's strings with bytes that
// are not UTF-8, keeping every length as it was.
func invalidUTF8(b []byte) []byte {
	b = bytes.Clone(b)
	for i, c := range b {
		if c >= 'a' && c <= 'z' && i%3 == 0 {
			b[i] = 0xff
		}
	}
	return b
}
