package wal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testRecord returns a deterministic record that identifies itself by id.
func testRecord(id uint64, size int) []byte {
	if size < 8 {
		size = 8
	}
	b := make([]byte, size)
	binary.LittleEndian.PutUint64(b, id)
	for i := 8; i < size; i++ {
		b[i] = byte(id*31 + uint64(i))
	}
	return b
}

type entry struct {
	seg SegmentID
	rec []byte
}

// openReady opens dir and replays it, failing the test on error.
func openReady(t testing.TB, dir string, opts Options) *WAL {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	w, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, err := w.Replay(context.Background(), nil); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	return w
}

// readAll opens dir, replays it, closes it and returns what it saw.
func readAll(t *testing.T, dir string) ([]entry, ReplayStats) {
	t.Helper()
	w, err := Open(dir, Options{Logger: quiet()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var got []entry
	st, err := w.Replay(context.Background(), func(seg SegmentID, rec []byte) error {
		got = append(got, entry{seg, bytes.Clone(rec)})
		return nil
	})
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return got, st
}

func diskSize(t *testing.T, dir string) int64 {
	t.Helper()
	segs, err := listSegments(OS, dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, s := range segs {
		n += s.size
	}
	return n
}

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name      string
		opts      Options
		sizes     func(i int) int
		n         int
		cutEvery  int // 0: never
		wantSegs  int // minimum number of segments expected
		oversized bool
	}{
		{name: "one segment", opts: Options{}, sizes: func(i int) int { return i * 20 }, n: 100, wantSegs: 1},
		{name: "rollover", opts: Options{SegmentSize: 4096}, sizes: func(i int) int { return 100 + i*37%3000 }, n: 200, wantSegs: 20},
		{name: "record larger than segment", opts: Options{SegmentSize: 1024}, sizes: func(int) int { return 5000 }, n: 10, wantSegs: 10, oversized: true},
		{name: "cuts", opts: Options{}, sizes: func(i int) int { return 300 }, n: 100, cutEvery: 10, wantSegs: 10},
		{name: "sync interval", opts: Options{Sync: SyncInterval, SyncInterval: time.Millisecond, SegmentSize: 8192}, sizes: func(i int) int { return 1000 }, n: 50, wantSegs: 5},
		{name: "sync never", opts: Options{Sync: SyncNever, SegmentSize: 8192}, sizes: func(i int) int { return 1000 }, n: 50, wantSegs: 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w := openReady(t, dir, tc.opts)
			ctx := context.Background()
			var want []entry
			var lastSeg SegmentID
			for i := range tc.n {
				if tc.cutEvery > 0 && i > 0 && i%tc.cutEvery == 0 {
					c, err := w.Cut()
					if err != nil {
						t.Fatalf("Cut: %v", err)
					}
					if c <= lastSeg {
						t.Fatalf("Cut returned %d, but records already went to segment %d", c, lastSeg)
					}
				}
				rec := testRecord(uint64(i), tc.sizes(i))
				seg, err := w.Append(ctx, rec)
				if err != nil {
					t.Fatalf("Append %d: %v", i, err)
				}
				if seg < lastSeg {
					t.Fatalf("Append %d went to segment %d after segment %d", i, seg, lastSeg)
				}
				lastSeg = seg
				want = append(want, entry{seg, rec})
			}
			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if got := w.Size(); got != diskSize(t, dir) {
				t.Errorf("Size() = %d, files hold %d", got, diskSize(t, dir))
			}

			segs, err := listSegments(OS, dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(segs) < tc.wantSegs {
				t.Errorf("got %d segments, want at least %d", len(segs), tc.wantSegs)
			}
			for i, s := range segs {
				if s.id != SegmentID(i+1) {
					t.Errorf("segment %d has ID %d, want %d", i, s.id, i+1)
				}
				limit := tc.opts.SegmentSize
				if limit == 0 {
					limit = DefaultSegmentSize
				}
				if s.size > limit && !tc.oversized {
					t.Errorf("segment %d is %d bytes, over SegmentSize %d", s.id, s.size, limit)
				}
			}

			got, st := readAll(t, dir)
			if st.Damage != nil {
				t.Fatalf("unexpected corruption: %v", st.Damage)
			}
			if st.Records != int64(len(want)) || st.Segments != len(segs) {
				t.Errorf("stats = %+v, want %d records in %d segments", st, len(want), len(segs))
			}
			assertEntries(t, got, want)
		})
	}
}

func assertEntries(t *testing.T, got, want []entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("replayed %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].seg != want[i].seg || !bytes.Equal(got[i].rec, want[i].rec) {
			t.Fatalf("record %d: got segment %d, %d bytes; want segment %d, %d bytes (equal=%v)",
				i, got[i].seg, len(got[i].rec), want[i].seg, len(want[i].rec), bytes.Equal(got[i].rec, want[i].rec))
		}
	}
}

func TestCutTruncate(t *testing.T) {
	dir := t.TempDir()
	w := openReady(t, dir, Options{SegmentSize: 2048})
	ctx := context.Background()
	appendN := func(from, n int) []entry {
		var es []entry
		for i := from; i < from+n; i++ {
			rec := testRecord(uint64(i), 500)
			seg, err := w.Append(ctx, rec)
			if err != nil {
				t.Fatalf("Append: %v", err)
			}
			es = append(es, entry{seg, rec})
		}
		return es
	}
	old := appendN(0, 20)
	cut, err := w.Cut()
	if err != nil {
		t.Fatalf("Cut: %v", err)
	}
	for _, e := range old {
		if e.seg >= cut {
			t.Fatalf("record before Cut is in segment %d >= %d", e.seg, cut)
		}
	}
	kept := appendN(20, 20)
	if kept[0].seg != cut {
		t.Errorf("first record after Cut went to %d, want %d", kept[0].seg, cut)
	}
	before := w.Size()
	if err := w.Truncate(cut); err != nil {
		t.Fatalf("Truncate: %v", err)
	}
	if w.Size() >= before || w.Size() != diskSize(t, dir) {
		t.Errorf("Size after Truncate = %d (before %d), files hold %d", w.Size(), before, diskSize(t, dir))
	}
	if err := w.Truncate(kept[len(kept)-1].seg + 1); err == nil {
		t.Error("Truncate beyond the current segment succeeded")
	}
	// Truncating up to the open segment must keep it: it is being written.
	if err := w.Truncate(kept[len(kept)-1].seg); err != nil {
		t.Fatalf("Truncate up to open segment: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := readAll(t, dir)
	last := kept[len(kept)-1].seg
	var want []entry
	for _, e := range kept {
		if e.seg == last {
			want = append(want, e)
		}
	}
	assertEntries(t, got, want)
}

func TestConcurrentAppend(t *testing.T) {
	const writers, perWriter = 8, 150
	dir := t.TempDir()
	w := openReady(t, dir, Options{SegmentSize: 64 << 10})
	ctx := context.Background()

	var mu sync.Mutex
	acked := map[uint64]SegmentID{}
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range perWriter {
				id := uint64(g*perWriter + i)
				seg, err := w.Append(ctx, testRecord(id, 100+int(id%7)*300))
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				acked[id] = seg
				mu.Unlock()
			}
		})
	}
	// Cut concurrently: every record acknowledged before Cut starts must
	// be in a segment below the one Cut returns.
	stop := make(chan struct{})
	cutterDone := make(chan struct{})
	go func() {
		defer close(cutterDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			var maxSeg SegmentID
			for _, s := range acked {
				maxSeg = max(maxSeg, s)
			}
			mu.Unlock()
			c, err := w.Cut()
			if err != nil {
				t.Errorf("Cut: %v", err)
				return
			}
			if c <= maxSeg {
				t.Errorf("Cut returned %d but an earlier acknowledged record is in %d", c, maxSeg)
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-cutterDone
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	got, st := readAll(t, dir)
	if st.Damage != nil {
		t.Fatalf("corruption: %v", st.Damage)
	}
	seen := map[uint64]bool{}
	for _, e := range got {
		id := binary.LittleEndian.Uint64(e.rec)
		if seen[id] {
			t.Fatalf("record %d replayed twice", id)
		}
		seen[id] = true
		if !bytes.Equal(e.rec, testRecord(id, len(e.rec))) {
			t.Fatalf("record %d has wrong content", id)
		}
		if e.seg != acked[id] {
			t.Fatalf("record %d replayed from segment %d, Append said %d", id, e.seg, acked[id])
		}
	}
	if len(seen) != writers*perWriter || len(acked) != writers*perWriter {
		t.Fatalf("replayed %d records, acknowledged %d, want %d", len(seen), len(acked), writers*perWriter)
	}
}

func TestSyncPolicy(t *testing.T) {
	cases := []struct {
		opts      Options
		wantSyncs func(n int64) bool
	}{
		// Sequential appends cannot share a batch: one fsync each.
		{Options{Sync: SyncAlways}, func(n int64) bool { return n == 20 }},
		{Options{Sync: SyncNever}, func(n int64) bool { return n == 0 }},
		{Options{Sync: SyncInterval, SyncInterval: time.Hour}, func(n int64) bool { return n == 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.opts.Sync.String(), func(t *testing.T) {
			w := openReady(t, t.TempDir(), tc.opts)
			for i := range 20 {
				if _, err := w.Append(context.Background(), testRecord(uint64(i), 64)); err != nil {
					t.Fatal(err)
				}
			}
			if n := w.syncs.Load(); !tc.wantSyncs(n) {
				t.Errorf("%d fsyncs after 20 sequential appends", n)
			}
			before := w.syncs.Load()
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if tc.opts.Sync != SyncAlways && w.syncs.Load() != before+1 {
				t.Errorf("Close did not fsync unsynced data")
			}
		})
	}
}

func TestLifecycleErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := Open(dir, Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(ctx, []byte("x")); !errors.Is(err, ErrNotReplayed) {
		t.Errorf("Append before Replay: %v, want ErrNotReplayed", err)
	}
	if _, err := w.Cut(); !errors.Is(err, ErrNotReplayed) {
		t.Errorf("Cut before Replay: %v, want ErrNotReplayed", err)
	}
	if _, err := w.Replay(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Replay(ctx, nil); err == nil {
		t.Error("second Replay succeeded")
	}
	if _, err := w.Append(ctx, make([]byte, MaxRecordSize+1)); !errors.Is(err, errTooLarge) {
		t.Errorf("oversized Append: %v", err)
	}
	if _, err := w.Append(ctx, nil); err != nil {
		t.Errorf("empty Append: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := w.Append(ctx, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
	if _, err := w.Cut(); !errors.Is(err, ErrClosed) {
		t.Errorf("Cut after Close: %v, want ErrClosed", err)
	}
	if err := w.Truncate(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Truncate after Close: %v, want ErrClosed", err)
	}
	got, _ := readAll(t, dir)
	if len(got) != 1 || len(got[0].rec) != 0 {
		t.Errorf("replayed %v, want one empty record", got)
	}
	if _, err := Open(dir, Options{SegmentSize: -1}); err == nil {
		t.Error("Open with negative SegmentSize succeeded")
	}
}

func TestAppendContext(t *testing.T) {
	t.Run("cancelled before", func(t *testing.T) {
		dir := t.TempDir()
		w := openReady(t, dir, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := w.Append(ctx, []byte("x")); !errors.Is(err, context.Canceled) {
			t.Errorf("Append = %v, want context.Canceled", err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if got, _ := readAll(t, dir); len(got) != 0 {
			t.Errorf("a record cancelled before Append was written")
		}
	})

	cases := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		end  bool // cancel explicitly rather than wait for the deadline
		want error
	}{
		{"cancel while waiting", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, true, context.Canceled},
		{"deadline while waiting", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 10*time.Millisecond)
		}, false, context.DeadlineExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := openReady(t, t.TempDir(), Options{})
			// entered is buffered so the first signal is never dropped.
			entered, release := make(chan struct{}, 1), make(chan struct{})
			w.testHookWrite = func() { // blocks the writer: the fsync "hangs"
				select {
				case entered <- struct{}{}:
				default:
				}
				<-release
			}
			ctx, cancel := tc.ctx()
			defer cancel()
			res := make(chan error, 1)
			go func() {
				_, err := w.Append(ctx, []byte("x"))
				res <- err
			}()
			select {
			case <-entered:
			case err := <-res:
				// On a loaded machine the deadline can pass before Append
				// queues the record; it must still fail with it.
				if !errors.Is(err, tc.want) {
					t.Errorf("Append = %v, want %v", err, tc.want)
				}
				close(release)
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if tc.end {
				cancel()
			}
			if err := <-res; !errors.Is(err, tc.want) {
				t.Errorf("Append = %v, want %v", err, tc.want)
			}
			close(release)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestUnsupportedVersion(t *testing.T) {
	dir := t.TempDir()
	w := openReady(t, dir, Options{})
	if _, err := w.Append(context.Background(), []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, segmentName(1))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[4] = formatV1 + 1
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	w, err = Open(dir, Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Replay(context.Background(), nil); err == nil {
		t.Fatal("Replay of a newer format version succeeded")
	}
	after, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(after, data) {
		t.Fatalf("segment of unknown version was modified (err %v)", err)
	}
}

func TestReplayCallbackError(t *testing.T) {
	dir := t.TempDir()
	w := openReady(t, dir, Options{})
	for i := range 3 {
		if _, err := w.Append(context.Background(), testRecord(uint64(i), 10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w, err := Open(dir, Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	boom := errors.New("boom")
	_, err = w.Replay(context.Background(), func(SegmentID, []byte) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Replay = %v, want wrapped callback error", err)
	}
	// A failed Replay can be retried, and the log was not touched.
	st, err := w.Replay(context.Background(), nil)
	if err != nil || st.Records != 3 {
		t.Fatalf("retried Replay = %+v, %v", st, err)
	}
}

func TestSegmentName(t *testing.T) {
	cases := []struct {
		name string
		id   SegmentID
		ok   bool
	}{
		{"00000001.wal", 1, true},
		{"123456789.wal", 123456789, true},
		{"00000000.wal", 0, false},
		{"0001.wal", 0, false},
		{"00000001.wal.tmp", 0, false},
		{"0000000x.wal", 0, false},
	}
	for _, tc := range cases {
		id, ok := parseSegmentName(tc.name)
		if id != tc.id || ok != tc.ok {
			t.Errorf("parseSegmentName(%q) = %d, %v; want %d, %v", tc.name, id, ok, tc.id, tc.ok)
		}
		if tc.ok && len(tc.name) == 12 && segmentName(tc.id) != tc.name {
			t.Errorf("segmentName(%d) = %q", tc.id, segmentName(tc.id))
		}
	}
}

func TestRecordCRC(t *testing.T) {
	cases := []struct {
		name    string
		payload []byte
	}{
		{"empty", nil},
		{"one byte", []byte{0x42}},
		{"text", []byte("clew write-ahead log")},
		{"large", testRecord(9, 100_000)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var lb [4]byte
			binary.LittleEndian.PutUint32(lb[:], uint32(len(tc.payload)))
			want := crc32.Checksum(append(lb[:], tc.payload...), crc32.MakeTable(crc32.Castagnoli))
			if got := recordCRC(uint32(len(tc.payload)), tc.payload); got != want {
				t.Errorf("recordCRC = %#x, want CRC-32C %#x", got, want)
			}
		})
	}
	// A zero-filled frame must never pass: that is how a power-loss tail looks.
	if recordCRC(0, nil) == 0 {
		t.Error("CRC of a zero length is zero; zero-filled tails would replay as records")
	}
}
