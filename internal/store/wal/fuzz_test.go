package wal

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
)

// validSegment returns the bytes of a segment holding recs, written by WAL
// itself so the seeds track the real encoder.
func validSegment(f *testing.F, recs ...[]byte) []byte {
	f.Helper()
	dir := f.TempDir()
	w, err := Open(dir, Options{Sync: SyncNever, Logger: quiet()})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := w.Replay(context.Background(), nil); err != nil {
		f.Fatal(err)
	}
	for _, r := range recs {
		if _, err := w.Append(context.Background(), r); err != nil {
			f.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, segmentName(1)))
	if err != nil {
		f.Fatal(err)
	}
	return data
}

// FuzzReplay writes arbitrary bytes as a segment and checks that Replay
// does not panic, returns only records that are framed and checksummed
// correctly, in file order, and leaves a log that replays cleanly.
func FuzzReplay(f *testing.F) {
	good := validSegment(f, []byte("a"), nil, bytes.Repeat([]byte("xyz"), 100), testRecord(7, 1000))
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(good[:headerSize])
	f.Add(good[:3])
	f.Add(append(bytes.Clone(good), make([]byte, 64)...))
	flipped := bytes.Clone(good)
	flipped[headerSize+frameSize] ^= 1
	f.Add(flipped)
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, segmentName(1))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		w, err := Open(dir, Options{Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		var got [][]byte
		st, err := w.Replay(context.Background(), func(_ SegmentID, rec []byte) error {
			got = append(got, bytes.Clone(rec))
			return nil
		})
		if err != nil {
			// The only acceptable failure: a good magic with a version
			// this build does not know.
			if len(data) >= headerSize && binary.LittleEndian.Uint32(data) == segmentMagic && data[4] != formatV1 {
				return
			}
			t.Fatalf("Replay: %v", err)
		}

		// Re-parse independently: the file must split exactly into the
		// header (unless reported damaged), the returned records, each
		// correctly framed, and the reported damaged ranges, in file order.
		tab := crc32.MakeTable(crc32.Castagnoli)
		off, k := 0, 0
		dmg := st.Damage
		if len(dmg) == 0 || dmg[0].Offset != 0 {
			off = headerSize
		}
		for off < len(data) || len(dmg) > 0 {
			if len(dmg) > 0 && dmg[0].Offset == int64(off) {
				if dmg[0].End <= int64(off) && len(data) > 0 {
					t.Fatalf("empty damage range %v", dmg[0])
				}
				off = int(dmg[0].End)
				dmg = dmg[1:]
				continue
			}
			if k >= len(got) {
				t.Fatalf("bytes from %d of %d neither returned nor reported damaged (damage %v)", off, len(data), st.Damage)
			}
			rec := got[k]
			if off+frameSize+len(rec) > len(data) {
				t.Fatalf("record %d extends past the data", k)
			}
			n := binary.LittleEndian.Uint32(data[off:])
			sum := crc32.Update(crc32.Checksum(data[off:off+4], tab), tab, rec)
			if int(n) != len(rec) || sum != binary.LittleEndian.Uint32(data[off+4:]) ||
				!bytes.Equal(rec, data[off+frameSize:off+frameSize+len(rec)]) {
				t.Fatalf("record %d at offset %d does not match its frame", k, off)
			}
			off += frameSize + len(rec)
			k++
		}
		if k != len(got) || off != len(data) {
			t.Fatalf("%d of %d records placed, ended at %d of %d bytes", k, len(got), off, len(data))
		}
		if st.Records != int64(len(got)) {
			t.Fatalf("stats.Records %d, got %d", st.Records, len(got))
		}

		// The repaired log replays cleanly with the same records.
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		w2, err := Open(dir, Options{Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		defer w2.Close()
		st2, err := w2.Replay(context.Background(), nil)
		if err != nil || st2.Damage != nil || st2.Records != st.Records {
			t.Fatalf("second replay: %+v, %v; first saw %d records", st2, err, st.Records)
		}
	})
}
