package store

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/otlpwire/otlptest"
)

// FuzzDecodeRecord: a WAL record that passed its checksum but holds anything
// at all must decode or fail cleanly, never panic (replay skips it).
func FuzzDecodeRecord(f *testing.F) {
	good, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(batch(1, spanSpec{service: "a", name: "x", idx: 1, parent: -1, durMs: 1}))
	f.Add(append([]byte{recordTraces}, good...))
	f.Add([]byte{recordTraces})
	f.Add([]byte{9, 1, 2, 3})
	f.Add([]byte{})
	for _, levels := range []int{64, 65, 5000} {
		f.Add(append([]byte{recordTraces}, otlptest.TracesProto(levels, otlptest.KVList)...))
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		spans, err := decodeRecord(rec)
		if err != nil && spans != nil {
			t.Fatalf("spans returned with error %v", err)
		}
	})
}
