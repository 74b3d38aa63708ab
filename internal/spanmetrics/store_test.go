package spanmetrics

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/minutes"
	"github.com/clewtrace/clew/internal/objstore"
)

func TestPersistenceAcrossCloseAndReopen(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: t0.Add(10 * time.Second)}
	s, b := newTestStore(t, clock, nil)
	tap := NewTap(s, dropAll)
	consume(t, tap, batch(sp{service: "a", name: "x", kind: ptrace.SpanKindServer, trace: 1, id: 1, dur: 7 * time.Millisecond}))
	consume(t, tap, batch(sp{service: "db", name: "q", kind: ptrace.SpanKindClient, trace: 1, id: 2, attrs: map[string]string{"db.system": "sqlite"}}))
	clock.Add(time.Minute) // 10:01:10: minute 10:00 closes on the next tick
	if err := s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	consume(t, tap, batch(sp{service: "a", name: "x", kind: ptrace.SpanKindServer, trace: 2, id: 1, err: true}))
	if err := s.Close(ctx); err != nil { // writes the open minute 10:01
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	var names []string
	_ = b.List(ctx, "", func(n string) error { names = append(names, n); return nil })
	w := s.journal.Writer()
	if len(names) != 2 || names[0] != "20261121T1000Z."+w+".clsm" || names[1] != "20261121T1001Z."+w+".clsm" {
		t.Fatalf("objects %v", names)
	}

	// Restart within minute 10:01: the new process writes its own object
	// of that minute, and queries add both.
	clock.Add(20 * time.Second)
	s2, err := Open(ctx, Config{Storage: minutes.Storage{Bucket: b}, Clock: clock}, nil)
	if err != nil {
		t.Fatal(err)
	}
	consume(t, NewTap(s2, dropAll), batch(sp{service: "a", name: "x", kind: ptrace.SpanKindServer, trace: 3, id: 1}))
	svcs, err := s2.Services(ctx, t0, t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 2 || svcs[0].Service != "a" || svcs[0].Calls != 3 || svcs[0].Errors != 1 {
		t.Fatalf("after reopen: %+v", svcs)
	}
	g, _ := s2.Graph(ctx, t0, t0.Add(2*time.Minute))
	if len(g) != 1 || g[0].Server != "sqlite" {
		t.Errorf("graph after reopen %+v", g)
	}
	if err := s2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Minutes beyond the memory window are read from the bucket.
	clock.Add(5 * time.Hour)
	s3, err := Open(ctx, Config{Storage: minutes.Storage{Bucket: b}, Clock: clock}, nil)
	if err != nil {
		t.Fatal(err)
	}
	svcs, _ = s3.Services(ctx, t0, t0.Add(2*time.Minute))
	if len(svcs) != 2 || svcs[0].Calls != 3 {
		t.Errorf("from disk: %+v", svcs)
	}
}

func TestRetentionDeletesExpiredMinutes(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: t0}
	s, b := newTestStore(t, clock, func(c *Config) { c.Retention = 90 * time.Minute })
	tap := NewTap(s, dropAll)
	for m := range 3 {
		clock.Set(t0.Add(time.Duration(m) * 30 * time.Minute))
		consume(t, tap, batch(sp{service: "a", name: "x", kind: ptrace.SpanKindServer, trace: 1, id: 1}))
		clock.Add(time.Minute)
		if err := s.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		n := 0
		_ = b.List(ctx, "", func(string) error { n++; return nil })
		return n
	}
	if n := count(); n != 3 {
		t.Fatalf("%d objects, want 3", n)
	}
	clock.Set(t0.Add(91 * time.Minute)) // minute 10:00 ended 90 min ago
	if err := s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Errorf("%d objects after 91 min, want 2", n)
	}
	svcs, _ := s.Services(ctx, t0, t0.Add(2*time.Hour))
	if len(svcs) != 1 || svcs[0].Calls != 2 {
		t.Errorf("services %+v, want 2 calls left", svcs)
	}
	clock.Set(t0.Add(3 * time.Hour))
	s2, err := Open(ctx, Config{Storage: minutes.Storage{Bucket: b, Retention: 90 * time.Minute}, Clock: clock}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = s2
	if n := count(); n != 0 {
		t.Errorf("%d objects after reopen past retention, want 0", n)
	}
}

func TestCodecRoundTripAndCorruption(t *testing.T) {
	m := newMinute(t0)
	sd := &seriesData{Calls: 3, Errors: 1}
	sd.Hist.Observe(time.Millisecond, [16]byte{1})
	sd.Hist.Observe(time.Second, [16]byte{})
	sd.Hist.Observe(time.Second, [16]byte{2})
	m.Series[seriesKey{Service: "a", Operation: "x", Kind: 2, Status: 2}] = sd
	ed := &edgeData{Calls: 1}
	ed.Hist.Observe(time.Microsecond, [16]byte{})
	m.Edges[edgeKey{Client: "a", Server: "sqlite", ConnectionType: "database", Virtual: true}] = ed
	data := encodeMinute(m)
	got, err := decodeMinute(data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encodeMinute(got), data) {
		t.Error("re-encoding differs")
	}
	for i := range data {
		bad := bytes.Clone(data)
		bad[i] ^= 0x40
		var ce *CorruptionError
		if _, err := decodeMinute(bad); !errors.As(err, &ce) {
			t.Fatalf("flipping byte %d: err %v, want CorruptionError", i, err)
		}
	}
	if _, err := decodeMinute(data[:len(data)-1]); err == nil {
		t.Error("truncated object decoded")
	}
}

// Objects written before the root flag (version 1) still open.
func TestCodecReadsVersion1(t *testing.T) {
	m := newMinute(t0)
	sd := &seriesData{Calls: 2, Errors: 1}
	sd.Hist.Observe(time.Millisecond, [16]byte{})
	sd.Hist.Observe(time.Millisecond, [16]byte{})
	m.Series[seriesKey{Service: "a", Operation: "x", Kind: 2, Status: 2}] = sd
	data := encodeMinute(m)
	data[4] = 1
	data = binary.LittleEndian.AppendUint32(data[:len(data)-4], crc32.Checksum(data[:len(data)-4], crcTable))
	got, err := decodeMinute(data)
	if err != nil {
		t.Fatal(err)
	}
	if d := got.Series[seriesKey{Service: "a", Operation: "x", Kind: 2, Status: 2}]; d == nil || d.Calls != 2 {
		t.Errorf("decoded %+v", got.Series)
	}
	root := newMinute(t0)
	root.Series[seriesKey{Service: "a", Operation: "x", Kind: 1, Root: true}] = sd
	got, err = decodeMinute(encodeMinute(root))
	if err != nil || got.Series[seriesKey{Service: "a", Operation: "x", Kind: 1, Root: true}] == nil {
		t.Errorf("root flag lost: %+v %v", got, err)
	}
}

func FuzzDecodeMinute(f *testing.F) {
	m := newMinute(t0)
	sd := &seriesData{Calls: 1}
	sd.Hist.Observe(time.Millisecond, [16]byte{1})
	m.Series[seriesKey{Service: "a", Operation: "x"}] = sd
	f.Add(encodeMinute(m))
	f.Fuzz(func(t *testing.T, data []byte) {
		if m, err := decodeMinute(data); err == nil {
			if _, err := decodeMinute(encodeMinute(m)); err != nil {
				t.Fatalf("re-encoded object does not decode: %v", err)
			}
		}
	})
}

var _ objstore.Bucket = (*objstore.Local)(nil)

// Two nodes on one bucket: A's RED metrics and service graph include B's
// closed minutes once B has written them and A has synced; minutes older
// than A's memory window are read from the bucket, B's included.
func TestNodesSharingABucketMergeMinutes(t *testing.T) {
	ctx := context.Background()
	b := objstore.NewMemory()
	clock := &fakeClock{t: t0.Add(5 * time.Second)}
	open := func(writer string) *Store {
		s, err := Open(ctx, Config{Storage: minutes.Storage{Bucket: b, Writer: writer}, Clock: clock}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, c := open("node-a"), open("node-b")
	consume(t, NewTap(a, dropAll), batch(sp{service: "shop", name: "GET /", kind: ptrace.SpanKindServer, trace: 1, id: 1}))
	tapB := NewTap(c, dropAll)
	consume(t, tapB, batch(sp{service: "shop", name: "GET /", kind: ptrace.SpanKindServer, trace: 2, id: 1, err: true}))
	consume(t, tapB, batch(
		sp{service: "shop", name: "SELECT", kind: ptrace.SpanKindClient, trace: 2, id: 2, parent: 1, attrs: map[string]string{"db.system": "postgresql"}}))
	clock.Add(time.Minute)
	for _, s := range []*Store{c, a} { // B writes, then A lists
		if err := s.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string) {
		t.Helper()
		svcs, err := a.Services(ctx, t0, t0.Add(2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(svcs) != 1 || svcs[0].Calls != 2 || svcs[0].Errors != 1 {
			t.Errorf("%s: node A's services %+v, want shop with 2 calls, 1 error", when, svcs)
		}
		g, err := a.Graph(ctx, t0, t0.Add(2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(g) != 1 || g[0].Server != "postgresql" || g[0].Calls != 1 {
			t.Errorf("%s: node A's graph %+v, want B's edge to postgresql", when, g)
		}
	}
	check("after sync")
	clock.Add(10 * time.Second)
	if err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	check("after a second sync") // nothing counted twice
	clock.Add(5 * time.Hour)
	if err := a.Tick(ctx); err != nil { // past the memory window: from the bucket
		t.Fatal(err)
	}
	check("beyond the memory window")
}
