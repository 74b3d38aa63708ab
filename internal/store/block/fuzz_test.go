package block

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeIndex feeds arbitrary bodies (with a valid checksum, so the
// fuzzer gets past it) to the index decoder, and arbitrary bytes to the
// meta decoder. Neither may panic or allocate without bound.
func FuzzDecodeIndex(f *testing.F) {
	b := newBucket(f)
	m, err := Write(context.Background(), b, genSpans(50, 1), nil, 0)
	if err != nil {
		f.Fatal(err)
	}
	bl, err := Open(context.Background(), b, m.ID)
	if err != nil {
		f.Fatal(err)
	}
	good, err := encodeIndex(bl.ix)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good[:len(good)-4])
	// An index of every older format version (see fixture_test.go).
	olds, _ := filepath.Glob(filepath.Join("testdata", "format-v*", "*", indexName))
	for _, path := range olds {
		if raw, err := os.ReadFile(path); err == nil && len(raw) > 4 {
			f.Add(raw[:len(raw)-4])
		}
	}
	f.Add([]byte("CLWI"))
	f.Fuzz(func(t *testing.T, body []byte) {
		data := binary.LittleEndian.AppendUint32(append([]byte(nil), body...), crc32.Checksum(body, castagnoli))
		ix, err := decodeIndex(data)
		if err == nil {
			if _, err := encodeIndex(ix); err != nil {
				t.Fatalf("re-encode: %v", err)
			}
		}
		_, _ = decodeMeta(body)
	})
}
