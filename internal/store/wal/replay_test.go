package wal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

type corruptionCase struct {
	name    string
	damage  func(t *testing.T, fx fixture)
	keep    int       // records that survive
	seg     SegmentID // 0: no corruption expected
	offset  func(fx fixture) int64
	err     error
	dropped int // whole segments removed
}

func corruptionCases() []corruptionCase {
	cases := []corruptionCase{
		{
			name:   "clean",
			damage: func(*testing.T, fixture) {},
			keep:   8,
		},
		{
			name: "bit flip in payload",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 2, func(b []byte) []byte { b[fx.offsets[1][2]+frameSize+17] ^= 0x10; return b })
			},
			keep: 5, seg: 2, offset: func(fx fixture) int64 { return fx.offsets[1][2] }, err: errChecksum,
		},
		{
			name: "bit flip in checksum",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 2, func(b []byte) []byte { b[fx.offsets[1][4]+5] ^= 0x01; return b })
			},
			keep: 7, seg: 2, offset: func(fx fixture) int64 { return fx.offsets[1][4] }, err: errChecksum,
		},
		{
			name: "length above maximum",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 2, func(b []byte) []byte {
					binary.LittleEndian.PutUint32(b[fx.offsets[1][1]:], 0xFFFFFFFF)
					return b
				})
			},
			keep: 4, seg: 2, offset: func(fx fixture) int64 { return fx.offsets[1][1] }, err: errBadLength,
		},
		{
			name: "length past end of segment",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 2, func(b []byte) []byte {
					binary.LittleEndian.PutUint32(b[fx.offsets[1][1]:], uint32(len(b)))
					return b
				})
			},
			keep: 4, seg: 2, offset: func(fx fixture) int64 { return fx.offsets[1][1] }, err: errTorn,
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
			keep: 6, seg: 2, offset: func(fx fixture) int64 { return fx.offsets[1][3] }, err: errChecksum,
		},
		{
			name: "zero-filled tail",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 2, func(b []byte) []byte { return append(b, make([]byte, 4096)...) })
			},
			keep: 8, seg: 2, offset: func(fx fixture) int64 { return fx.ends[1] }, err: errChecksum,
		},
		{
			name: "zero-filled last record",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 2, func(b []byte) []byte { clear(b[fx.offsets[1][4]:]); return b })
			},
			keep: 7, seg: 2, offset: func(fx fixture) int64 { return fx.offsets[1][4] }, err: errChecksum,
		},
		{
			name: "corrupt magic in last segment",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 2, func(b []byte) []byte { b[0] ^= 0xFF; return b })
			},
			keep: 3, seg: 2, offset: func(fixture) int64 { return 0 }, err: errBadMagic, dropped: 1,
		},
		{
			name: "torn header",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 2, func(b []byte) []byte { return b[:5] })
			},
			keep: 3, seg: 2, offset: func(fixture) int64 { return 0 }, err: errShortHead, dropped: 1,
		},
		{
			name: "empty segment file",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 2, func(b []byte) []byte { return nil })
			},
			keep: 3, seg: 2, offset: func(fixture) int64 { return 0 }, err: errShortHead, dropped: 1,
		},
		{
			name: "damage before the last segment",
			damage: func(t *testing.T, fx fixture) {
				fx.modify(t, 1, func(b []byte) []byte { b[fx.offsets[0][1]+frameSize] ^= 0x80; return b })
			},
			keep: 1, seg: 1, offset: func(fx fixture) int64 { return fx.offsets[0][1] }, err: errChecksum, dropped: 1,
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
			keep: 7, seg: 2, offset: func(fx fixture) int64 { return fx.offsets[1][4] }, err: errTorn,
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
			assertEntries(t, got, fx.entries[:tc.keep])
			if st.Records != int64(tc.keep) {
				t.Errorf("stats.Records = %d, want %d", st.Records, tc.keep)
			}

			if tc.seg == 0 {
				if st.Corruption != nil {
					t.Fatalf("unexpected corruption %v", st.Corruption)
				}
			} else {
				c := st.Corruption
				if c == nil {
					t.Fatal("corruption not reported")
				}
				if c.Segment != tc.seg || c.Offset != tc.offset(fx) || !errors.Is(c, tc.err) {
					t.Errorf("corruption = %v; want segment %d offset %d: %v", c, tc.seg, tc.offset(fx), tc.err)
				}
				var ce *CorruptionError
				if !errors.As(error(c), &ce) {
					t.Error("not a *CorruptionError")
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
			if st2.Corruption != nil {
				t.Fatalf("second replay found %v", st2.Corruption)
			}
			want := append(append([]entry(nil), fx.entries[:tc.keep]...), entry{seg, extra})
			assertEntries(t, got2, want)
		})
	}
}
