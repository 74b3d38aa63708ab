package wal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// fixture is a closed log of two segments: segment 1 holds three records,
// segment 2 five. offsets[s][k] is where record k of segment s+1 starts.
type fixture struct {
	dir     string
	entries []entry
	offsets [2][]int64
	ends    [2]int64
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	fx := fixture{dir: t.TempDir()}
	w := openReady(t, fx.dir, Options{})
	ctx := context.Background()
	id := uint64(0)
	for s, n := range []int{3, 5} {
		if s > 0 {
			if _, err := w.Cut(); err != nil {
				t.Fatal(err)
			}
		}
		off := int64(headerSize)
		for range n {
			rec := testRecord(id, 50+int(id)*10)
			seg, err := w.Append(ctx, rec)
			if err != nil {
				t.Fatal(err)
			}
			if seg != SegmentID(s+1) {
				t.Fatalf("fixture record went to segment %d, want %d", seg, s+1)
			}
			fx.entries = append(fx.entries, entry{seg, rec})
			fx.offsets[s] = append(fx.offsets[s], off)
			off += int64(frameSize + len(rec))
			id++
		}
		fx.ends[s] = off
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return fx
}

func (fx fixture) path(seg SegmentID) string { return filepath.Join(fx.dir, segmentName(seg)) }

func (fx fixture) modify(t *testing.T, seg SegmentID, fn func([]byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(fx.path(seg))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fx.path(seg), fn(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// wantDamage is one damaged range a case expects Replay to report.
type wantDamage struct {
	seg      SegmentID
	from, to func(fx fixture) int64
	err      error
}

type corruptionCase struct {
	name    string
	damage  func(t *testing.T, fx fixture)
	lost    []int // entries that do not survive; every other one must
	want    []wantDamage
	dropped int // whole segments removed
}

func at(s, k int) func(fixture) int64 { return func(fx fixture) int64 { return fx.offsets[s][k] } }
func end(s int) func(fixture) int64   { return func(fx fixture) int64 { return fx.ends[s] } }
func abs(n int64) func(fixture) int64 { return func(fixture) int64 { return n } }

func corruptionCases() []corruptionCase {
	cases := []corruptionCase{
		{
			name:   "clean",
			damage: func(*testing.T, fixture) {},
		},
		{
			name: "bit flip in payload",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 2, func(b []byte) []byte { b[fx.offsets[1][2]+frameSize+17] ^= 0x10; return b })
			},
			lost: []int{5}, want: []wantDamage{{2, at(1, 2), at(1, 3), errChecksum}},
		},
		{
			name: "bit flip in checksum",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 2, func(b []byte) []byte { b[fx.offsets[1][4]+5] ^= 0x01; return b })
			},
			lost: []int{7}, want: []wantDamage{{2, at(1, 4), end(1), errChecksum}},
		},
		{
			name: "length above maximum",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 2, func(b []byte) []byte {
					binary.LittleEndian.PutUint32(b[fx.offsets[1][1]:], 0xFFFFFFFF)
					return b
				})
			},
			lost: []int{4}, want: []wantDamage{{2, at(1, 1), at(1, 2), errBadLength}},
		},
		{
			name: "length past end of segment",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 2, func(b []byte) []byte {
					binary.LittleEndian.PutUint32(b[fx.offsets[1][1]:], uint32(len(b)))
					return b
				})
			},
			lost: []int{4}, want: []wantDamage{{2, at(1, 1), at(1, 2), errTorn}},
		},
		{
			name: "length one short",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 2, func(b []byte) []byte {
					o := fx.offsets[1][3]
					binary.LittleEndian.PutUint32(b[o:], binary.LittleEndian.Uint32(b[o:])-1)
					return b
				})
			},
			lost: []int{6}, want: []wantDamage{{2, at(1, 3), at(1, 4), errChecksum}},
		},
		{
			name: "two damaged records in one segment",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 2, func(b []byte) []byte {
					b[fx.offsets[1][0]+frameSize+3] ^= 0x01
					b[fx.offsets[1][2]+frameSize+9] ^= 0x40
					return b
				})
			},
			lost: []int{3, 5},
			want: []wantDamage{{2, at(1, 0), at(1, 1), errChecksum}, {2, at(1, 2), at(1, 3), errChecksum}},
		},
		{
			name: "garbage inserted between records",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 2, func(b []byte) []byte {
					o := fx.offsets[1][2]
					junk := bytes.Repeat([]byte{0xA5, 0x00, 0x01, 0x5A, 0x00}, 20)
					return append(append(append([]byte(nil), b[:o]...), junk...), b[o:]...)
				})
			},
			want: []wantDamage{{2, at(1, 2), func(fx fixture) int64 { return fx.offsets[1][2] + 100 }, errBadLength}},
		},
		{
			name: "zero-filled tail",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 2, func(b []byte) []byte { return append(b, make([]byte, 4096)...) })
			},
			want: []wantDamage{{2, end(1), func(fx fixture) int64 { return fx.ends[1] + 4096 }, errChecksum}},
		},
		{
			name: "zero-filled last record",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 2, func(b []byte) []byte { clear(b[fx.offsets[1][4]:]); return b })
			},
			lost: []int{7}, want: []wantDamage{{2, at(1, 4), end(1), errChecksum}},
		},
		{
			name: "corrupt magic in last segment",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 2, func(b []byte) []byte { b[0] ^= 0xFF; return b })
			},
			want: []wantDamage{{2, abs(0), abs(headerSize), errBadMagic}},
		},
		{
			name: "corrupt magic in first segment",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 1, func(b []byte) []byte { b[1] ^= 0x01; return b })
			},
			want: []wantDamage{{1, abs(0), abs(headerSize), errBadMagic}},
		},
		{
			name: "torn header",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 2, func(b []byte) []byte { return b[:5] })
			},
			lost: []int{3, 4, 5, 6, 7}, want: []wantDamage{{2, abs(0), abs(5), errShortHead}}, dropped: 1,
		},
		{
			name: "empty segment file",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 2, func(b []byte) []byte { return nil })
			},
			lost: []int{3, 4, 5, 6, 7}, want: []wantDamage{{2, abs(0), abs(0), errShortHead}}, dropped: 1,
		},
		{
			// The case of issue 16: one flipped byte in the oldest segment
			// used to delete every later segment.
			name: "damage before the last segment",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 1, func(b []byte) []byte { b[fx.offsets[0][1]+frameSize] ^= 0x80; return b })
			},
			lost: []int{1}, want: []wantDamage{{1, at(0, 1), at(0, 2), errChecksum}},
		},
		{
			name: "nothing intact in the oldest segment",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 1, func(b []byte) []byte { clear(b); return b })
			},
			lost: []int{0, 1, 2}, want: []wantDamage{{1, abs(0), end(0), errBadMagic}}, dropped: 1,
		},
	}
	// A tail torn at every byte of the last record (record 7: 50+7*10 bytes).
	const lastFrame = frameSize + 50 + 7*10
	for cut := 1; cut < lastFrame; cut++ {
		cases = append(cases, corruptionCase{
			name: fmt.Sprintf("torn last record at +%d", cut),
			damage: func(t *testing.T, fx fixture) {
				if fx.ends[1]-fx.offsets[1][4] != lastFrame {
					t.Fatalf("fixture's last record is not %d bytes", lastFrame)
				}
				if int64(cut) >= lastFrame {
					t.Fatalf("cut %d is beyond the last record", cut)
				}
				fx.modify(t, 2, func(b []byte) []byte { return b[:fx.offsets[1][4]+int64(cut)] })
			},
			lost: []int{7},
			want: []wantDamage{{2, at(1, 4), func(fx fixture) int64 { return fx.offsets[1][4] + int64(cut) }, errTorn}},
		})
	}
	return cases
}

func TestReplayCorruption(t *testing.T) {
	for _, tc := range corruptionCases() {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			tc.damage(t, fx)
			sizeBefore := diskSize(t, fx.dir)
			// The damaged bytes as they are on disk, to compare with the
			// quarantine copies.
			damaged := map[SegmentID][]byte{}
			for _, seg := range []SegmentID{1, 2} {
				damaged[seg], _ = os.ReadFile(fx.path(seg))
			}

			w, err := Open(fx.dir, Options{Logger: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			var got []entry
			st, err := w.Replay(context.Background(), func(seg SegmentID, rec []byte) error {
				got = append(got, entry{seg, append([]byte(nil), rec...)})
				return nil
			})
			if err != nil {
				t.Fatalf("Replay: %v", err)
			}
			var kept []entry
			for i, e := range fx.entries {
				if !slices.Contains(tc.lost, i) {
					kept = append(kept, e)
				}
			}
			assertEntries(t, got, kept)
			if st.Records != int64(len(kept)) {
				t.Errorf("stats.Records = %d, want %d", st.Records, len(kept))
			}

			if len(st.Damage) != len(tc.want) {
				t.Fatalf("damage = %v, want %d ranges", st.Damage, len(tc.want))
			}
			for i, want := range tc.want {
				c := st.Damage[i]
				from, to := want.from(fx), want.to(fx)
				if c.Segment != want.seg || c.Offset != from || c.End != to || !errors.Is(c, want.err) {
					t.Errorf("damage[%d] = %v; want segment %d bytes [%d, %d): %v", i, c, want.seg, from, to, want.err)
				}
				var ce *CorruptionError
				if !errors.As(error(c), &ce) {
					t.Error("not a *CorruptionError")
				}
				if to == from {
					continue
				}
				// The damaged bytes are kept, exactly, in the quarantine.
				q, err := os.ReadFile(c.Quarantine)
				if err != nil {
					t.Fatalf("quarantine copy of %v: %v", c, err)
				}
				if !bytes.Equal(q, damaged[want.seg][from:to]) {
					t.Errorf("quarantine %s holds %d bytes that differ from the damaged range", c.Quarantine, len(q))
				}
				if filepath.Dir(c.Quarantine) != filepath.Join(fx.dir, "quarantine") {
					t.Errorf("quarantine file %s not in %s/quarantine", c.Quarantine, fx.dir)
				}
			}
			if st.DroppedSegments != tc.dropped {
				t.Errorf("DroppedSegments = %d, want %d", st.DroppedSegments, tc.dropped)
			}
			if sizeBefore-st.DroppedBytes != diskSize(t, fx.dir) || w.Size() != diskSize(t, fx.dir) {
				t.Errorf("before %d, dropped %d, Size() %d, files hold %d",
					sizeBefore, st.DroppedBytes, w.Size(), diskSize(t, fx.dir))
			}

			// Appending after the repair works and survives a restart, and
			// the second replay finds nothing left to repair.
			extra := testRecord(1000, 333)
			seg, err := w.Append(context.Background(), extra)
			if err != nil {
				t.Fatalf("Append after repair: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got2, st2 := readAll(t, fx.dir)
			if st2.Damage != nil {
				t.Fatalf("second replay found %v", st2.Damage)
			}
			want := append(append([]entry(nil), kept...), entry{seg, extra})
			assertEntries(t, got2, want)
		})
	}
}
