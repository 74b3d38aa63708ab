package zipkin

import "testing"

// The fuzz targets check that no input makes the decoders or the mapping
// panic; errors are the expected outcome.

func FuzzZipkinJSON(f *testing.F) {
	f.Add(readFixture(f))
	f.Add([]byte(`[{"traceId":"1","id":"1","kind":"SERVER","shared":true,"remoteEndpoint":{"ipv6":"::1","port":1}}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte("[{\"traceId\":\"1\",\"id\":\"1\",\"name\":\"op\xff\",\"localEndpoint\":{\"serviceName\":\"s\xfe\"},\"tags\":{\"k\xc3\":\"\x80\"}}]"))
	f.Add(deepJSON(20_000, "tag"))
	f.Add(deepJSON(20_000, "unknown"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if spans, err := decodeJSON(b); err == nil {
			_ = toTraces(spans)
		}
	})
}

func FuzzZipkinProto(f *testing.F) {
	f.Add(fixtureProto(f))
	f.Add([]byte{})
	f.Add(deepProto(20_000))
	f.Fuzz(func(t *testing.T, b []byte) {
		if spans, err := decodeProto(b); err == nil {
			_ = toTraces(spans)
		}
	})
}
