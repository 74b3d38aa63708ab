package minutes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/objstore"
)

// count is a minute's content in these tests: a number, encoded as text.
type count struct {
	Start time.Time
	N     int
}

func encodeCount(c count) ([]byte, error) { return []byte(strconv.Itoa(c.N)), nil }

func decodeCount(b []byte) (count, error) {
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return count{}, fmt.Errorf("not a count: %w", err)
	}
	return count{N: n}, nil
}

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func open(t *testing.T, b objstore.Bucket, writer string, mod func(*Options[count])) *Journal[count] {
	t.Helper()
	below, err := objstore.WithPrefix(b, "minutes/test")
	if err != nil {
		t.Fatal(err)
	}
	o := Options[count]{Storage: Storage{Bucket: below, Writer: writer}, Suffix: ".cnt", Encode: encodeCount, Decode: decodeCount}
	if mod != nil {
		mod(&o)
	}
	j, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func names(t *testing.T, b objstore.Bucket) []string {
	t.Helper()
	var out []string
	if err := b.List(context.Background(), "", func(n string) error { out = append(out, n); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// sum reads every writer's minutes of [from, to) and adds them up.
func sum(t *testing.T, j *Journal[count], from, to time.Time) int {
	t.Helper()
	total := 0
	for _, k := range j.Keys(from, to) {
		c, err := j.Read(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		total += c.N
	}
	return total
}

func TestNamesCarryTheWriterAndReadLegacyNames(t *testing.T) {
	ctx := context.Background()
	b := objstore.NewMemory()
	// A minute written before names carried a writer, and objects that
	// are not this journal's.
	for name, data := range map[string]string{
		"minutes/test/20261121T0959Z.cnt":          "5",
		"minutes/test/20261121T0959Z.other":        "1",
		"minutes/test/20261121T0959Z.a.b.cnt":      "1", // a writer never contains a dot
		"minutes/test/2026112T0959Z.cnt":           "1",
		"minutes/other/20261121T0959Z.w.cnt":       "1",
		"20261121T0959Z.w.cnt":                     "1",
		"minutes/test/20261121T0959Z.host-1_a.cnt": "7",
	} {
		if err := b.Put(ctx, name, strings.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	j := open(t, b, "clew-0.example:1", nil)
	if j.Writer() != "clew-0-example-1" {
		t.Errorf("writer %q: dots and colons should become dashes", j.Writer())
	}
	j.Add(t0.Add(30*time.Second), count{N: 3})
	if err := j.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names(t, b), "minutes/test/20261121T1000Z.clew-0-example-1.cnt") {
		t.Errorf("objects %v lack the new minute", names(t, b))
	}
	keys := j.Keys(t0.Add(-time.Minute), t0.Add(time.Minute))
	want := []Key{{t0.Add(-time.Minute), ""}, {t0.Add(-time.Minute), "host-1_a"}, {t0, "clew-0-example-1"}}
	if !slices.EqualFunc(keys, want, func(a, b Key) bool { return compareKeys(a, b) == 0 }) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	if n := sum(t, j, t0.Add(-time.Minute), t0.Add(time.Minute)); n != 15 {
		t.Errorf("sum %d, want 15", n)
	}
	// A window from the middle of a minute includes that minute.
	if n := sum(t, j, t0.Add(-30*time.Second), t0); n != 12 {
		t.Errorf("sum of minute 09:59 %d, want 12", n)
	}
}

// Two writers on one bucket (two nodes sharing it): each writes its own
// objects, and each sees the other's minutes after a Sync.
func TestWritersShareABucket(t *testing.T) {
	ctx := context.Background()
	b := objstore.NewMemory()
	a := open(t, b, "node-a", nil)
	c := open(t, b, "node-b", nil)
	now := t0.Add(2 * time.Minute)
	a.Add(t0, count{N: 1})
	c.Add(t0, count{N: 10})
	c.Add(t0.Add(time.Minute), count{N: 100})
	// Queued minutes are read from memory before they are written.
	if n := sum(t, c, t0, now); n != 110 {
		t.Errorf("b before flush: %d, want 110", n)
	}
	for _, j := range []*Journal[count]{a, c} {
		if err := j.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The first Sync lists everything; later ones only the last hours.
	news, err := a.Sync(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(news) != 2 || news[0].Writer != "node-b" || !news[0].Start.Equal(t0) || !news[1].Start.Equal(t0.Add(time.Minute)) {
		t.Errorf("a's news %v, want node-b's two minutes", news)
	}
	if n := sum(t, a, t0, now); n != 111 {
		t.Errorf("a sees %d, want 111", n)
	}
	c.Add(now, count{N: 1000})
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	news, err = a.Sync(ctx, now.Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(news) != 1 || !news[0].Start.Equal(now) {
		t.Errorf("a's news after b's third minute %v", news)
	}
	// Nothing new: nothing returned twice.
	if news, _ = a.Sync(ctx, now.Add(20*time.Second)); len(news) != 0 {
		t.Errorf("news again %v", news)
	}
}

// An incremental Sync lists only the last hour or two; a minute written
// late (a node that could not reach the bucket for a while) and deletes by
// another node are seen at the next full listing.
func TestSyncFullListingFindsLateMinutesAndDeletes(t *testing.T) {
	ctx := context.Background()
	b := objstore.NewMemory()
	a := open(t, b, "node-a", func(o *Options[count]) { o.FullListEvery = 5 * time.Minute })
	c := open(t, b, "node-b", nil)
	now := t0.Add(3 * time.Hour)
	if _, err := a.Sync(ctx, now); err != nil { // full
		t.Fatal(err)
	}
	c.Add(t0, count{N: 7}) // three hours old
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if news, _ := a.Sync(ctx, now.Add(time.Minute)); len(news) != 0 {
		t.Errorf("incremental sync found an old minute: %v", news)
	}
	news, err := a.Sync(ctx, now.Add(6*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(news) != 1 || !news[0].Start.Equal(t0) {
		t.Fatalf("full sync news %v, want the late minute", news)
	}
	if err := b.Delete(ctx, "minutes/test/20261121T1000Z.node-b.cnt"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Sync(ctx, now.Add(12*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if keys := a.Keys(t0, now); len(keys) != 0 {
		t.Errorf("keys %v after the object was deleted", keys)
	}
}

type heldGate struct{ held atomic.Bool }

func (g *heldGate) Held(context.Context) bool { return g.held.Load() }

// Retention: a journal with a Deleter deletes nothing while not holding
// it, and every writer's expired minutes once it does; minutes past the
// retention leave Keys either way.
func TestExpireDeletesUnderTheGate(t *testing.T) {
	ctx := context.Background()
	b := objstore.NewMemory()
	gate := &heldGate{}
	ret := func(o *Options[count]) { o.Retention = time.Hour }
	a := open(t, b, "node-a", func(o *Options[count]) { ret(o); o.Deleter = gate })
	c := open(t, b, "node-b", func(o *Options[count]) { ret(o); o.Deleter = &heldGate{} })
	a.Add(t0, count{N: 1})
	c.Add(t0, count{N: 2})
	c.Add(t0.Add(30*time.Minute), count{N: 3})
	for _, j := range []*Journal[count]{a, c} {
		if err := j.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	now := t0.Add(61 * time.Minute) // minute 10:00 ended an hour ago
	if _, err := a.Sync(ctx, now); err != nil {
		t.Fatal(err)
	}
	for _, j := range []*Journal[count]{a, c} {
		if err := j.Expire(ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(names(t, b)); n != 3 {
		t.Errorf("%d objects deleted without the gate: %v", 3-n, names(t, b))
	}
	if n := sum(t, a, t0, now); n != 3 {
		t.Errorf("a sums %d past retention, want 3 (only 10:30)", n)
	}
	gate.held.Store(true)
	if err := a.Expire(ctx, now); err != nil {
		t.Fatal(err)
	}
	if got := names(t, b); len(got) != 1 || got[0] != "minutes/test/20261121T1030Z.node-b.cnt" {
		t.Errorf("objects after the gate holder expired: %v", got)
	}
	// A holder that learnt of an expired minute only by listing deletes it too.
	late := open(t, b, "node-c", func(o *Options[count]) { ret(o); o.Deleter = gate })
	if err := b.Put(ctx, "minutes/test/20261121T0900Z.node-d.cnt", strings.NewReader("9")); err != nil {
		t.Fatal(err)
	}
	if _, err := late.Sync(ctx, now); err != nil {
		t.Fatal(err)
	}
	if err := late.Expire(ctx, now); err != nil {
		t.Fatal(err)
	}
	if got := names(t, b); len(got) != 1 {
		t.Errorf("objects %v, want only 10:30", got)
	}
	// Without a Deleter the journal owns the bucket and deletes.
	own := open(t, b, "solo", func(o *Options[count]) { o.Retention = time.Minute })
	if err := own.Expire(ctx, now); err != nil {
		t.Fatal(err)
	}
	if got := names(t, b); len(got) != 0 {
		t.Errorf("objects %v left by a journal owning the bucket", got)
	}
}

// failingBucket fails every Put while fail is set.
type failingBucket struct {
	objstore.Bucket
	fail atomic.Bool
}

func (f *failingBucket) Put(ctx context.Context, name string, r io.Reader) error {
	if f.fail.Load() {
		return errors.New("injected put failure")
	}
	return f.Bucket.Put(ctx, name, r)
}

func TestFailedWritesAreRetriedAndServedMeanwhile(t *testing.T) {
	ctx := context.Background()
	b := &failingBucket{Bucket: objstore.NewMemory()}
	j := open(t, b, "node-a", nil)
	b.fail.Store(true)
	j.Add(t0, count{N: 4})
	j.Add(t0.Add(time.Minute), count{N: 5})
	if err := j.Flush(ctx); err == nil {
		t.Fatal("Flush succeeded against a failing bucket")
	}
	if j.WriteErrors() != 2 {
		t.Errorf("write errors %d, want 2", j.WriteErrors())
	}
	if n := sum(t, j, t0, t0.Add(time.Hour)); n != 9 {
		t.Errorf("queued minutes sum %d, want 9", n)
	}
	b.fail.Store(false)
	if err := j.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := names(t, b); len(got) != 2 {
		t.Errorf("objects %v after the retry", got)
	}
	if n := sum(t, j, t0, t0.Add(time.Hour)); n != 9 {
		t.Errorf("written minutes sum %d, want 9", n)
	}
	// A new journal on the bucket reads them back; a damaged one is an
	// error naming it.
	if err := b.Put(ctx, "minutes/test/20261121T1000Z.node-a.cnt", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	j2 := open(t, b, "node-b", nil)
	keys := j2.Keys(t0, t0.Add(time.Hour))
	if len(keys) != 2 {
		t.Fatalf("keys %v", keys)
	}
	if _, err := j2.Read(ctx, keys[0]); err == nil {
		t.Error("a damaged minute decoded")
	}
	if c, err := j2.Read(ctx, keys[1]); err != nil || c.N != 5 {
		t.Errorf("second minute %+v, %v", c, err)
	}
}
