package store

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// walRecordOffsets returns where each record of a WAL segment file starts.
func walRecordOffsets(t *testing.T, path string) []int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for off := int64(8); off+8 <= int64(len(data)); {
		offs = append(offs, off)
		off += 8 + int64(binary.LittleEndian.Uint32(data[off:]))
	}
	return offs
}

// Issue 16, item 2: a flipped byte in the oldest WAL segment used to delete
// every later segment. Now only the damaged batch is lost; its bytes are in
// quarantine/wal.
func TestDamagedWALRecordLosesOnlyItsBatch(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{now: t0}
	// Two crash cycles leave two WAL segments: traces 1-3 and 4-6.
	for seg := range 2 {
		s := openStore(t, dir, clk)
		for tr := 1 + 3*seg; tr <= 3+3*seg; tr++ {
			mustConsume(t, s, batch(tr, spanSpec{service: "svc", name: "op", idx: 1, parent: -1, durMs: 1}))
		}
		crash(t, s)
	}
	seg1 := filepath.Join(dir, "wal", "00000001.wal")
	offs := walRecordOffsets(t, seg1)
	if len(offs) != 3 {
		t.Fatalf("segment 1 holds %d records, want 3", len(offs))
	}
	data, err := os.ReadFile(seg1)
	if err != nil {
		t.Fatal(err)
	}
	data[offs[1]+8+20] ^= 0x04 // inside trace 2's batch
	if err := os.WriteFile(seg1, data, 0o644); err != nil {
		t.Fatal(err)
	}

	s := openStore(t, dir, clk)
	defer s.Close(context.Background())
	for tr := 1; tr <= 6; tr++ {
		want := 1
		if tr == 2 {
			want = 0
		}
		if n := traceLen(t, s, tr); n != want {
			t.Errorf("trace %d: %d spans, want %d", tr, n, want)
		}
	}
	q, err := os.ReadDir(filepath.Join(dir, "quarantine", "wal"))
	if err != nil || len(q) != 1 {
		t.Fatalf("quarantine holds %v (err %v), want the one damaged record", q, err)
	}
	fi, err := q[0].Info()
	if err != nil {
		t.Fatal(err)
	}
	if want := offs[2] - offs[1]; fi.Size() != want {
		t.Errorf("quarantined %d bytes, want the damaged record's %d", fi.Size(), want)
	}
}
