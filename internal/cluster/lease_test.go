package cluster

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/objstore"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }
func newClock() *fakeClock               { return &fakeClock{now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)} }
func lease(t *testing.T, b objstore.Conditional, holder string, clk *fakeClock) *Lease {
	t.Helper()
	l, err := NewLease(LeaseOptions{Bucket: b, Holder: holder, TTL: time.Minute, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func holderOf(t *testing.T, b objstore.Conditional) string {
	t.Helper()
	data, _, err := b.GetVersion(context.Background(), LeaseObject)
	if err != nil {
		t.Fatal(err)
	}
	var rec leaseRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	return rec.Holder
}

// One node takes the lease and keeps renewing it; the others are refused
// until it stops renewing, then exactly one takes over.
func TestLeaseOneHolderAndTakeover(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewMemory()
	clk := newClock()
	a, b, c := lease(t, bucket, "a", clk), lease(t, bucket, "b", clk), lease(t, bucket, "c", clk)
	if !a.Held(ctx) {
		t.Fatal("a could not take a free lease")
	}
	for range 5 { // a renews every half TTL; b and c keep asking
		clk.Add(31 * time.Second)
		if !a.Held(ctx) {
			t.Fatal("a lost a lease it renews")
		}
		if b.Held(ctx) || c.Held(ctx) {
			t.Fatal("a second node holds the lease")
		}
	}
	if holderOf(t, bucket) != "a" {
		t.Fatal("lease object does not name a")
	}
	// a stops (killed): after the TTL, b and c race; one wins.
	clk.Add(61 * time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var winners []string
	for _, l := range []*Lease{b, c} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l.Held(ctx) {
				mu.Lock()
				winners = append(winners, l.opts.Holder)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(winners) != 1 || holderOf(t, bucket) != winners[0] {
		t.Fatalf("after expiry: winners %v, lease names %q; want exactly one", winners, holderOf(t, bucket))
	}
	// a comes back: it must not think it still holds the lease.
	if a.Held(ctx) {
		t.Fatal("the old holder still counts the lease as its own after it expired")
	}
}

// A holder stops counting the lease as its own before others may take
// it, even when it cannot reach the bucket to renew.
func TestLeaseLapsesWithoutBucket(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewMemory()
	clk := newClock()
	down := &failingConditional{Conditional: bucket}
	a := lease(t, down, "a", clk)
	if !a.Held(ctx) {
		t.Fatal("a could not take a free lease")
	}
	down.set(true)
	clk.Add(40 * time.Second) // renewal due, bucket down: still safely held
	if !a.Held(ctx) {
		t.Fatal("a dropped the lease at the first failed renewal")
	}
	clk.Add(6 * time.Second) // within a quarter TTL of expiry
	if a.Held(ctx) || a.IsHeld() {
		t.Fatal("a still counts a lease it could not renew, close to expiry")
	}
}

// Release hands the lease over at once.
func TestLeaseRelease(t *testing.T) {
	ctx := context.Background()
	bucket := objstore.NewMemory()
	clk := newClock()
	a, b := lease(t, bucket, "a", clk), lease(t, bucket, "b", clk)
	if !a.Held(ctx) || b.Held(ctx) {
		t.Fatal("a should hold the lease, b not")
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Add(6 * time.Second) // b's retry pause, far less than the TTL
	if !b.Held(ctx) {
		t.Fatal("b could not take a released lease")
	}
}

type failingConditional struct {
	objstore.Conditional
	mu   sync.Mutex
	down bool
}

func (f *failingConditional) set(v bool) { f.mu.Lock(); f.down = v; f.mu.Unlock() }
func (f *failingConditional) failing() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down
}

func (f *failingConditional) GetVersion(ctx context.Context, name string) ([]byte, string, error) {
	if f.failing() {
		return nil, "", context.DeadlineExceeded
	}
	return f.Conditional.GetVersion(ctx, name)
}

func (f *failingConditional) PutIfVersion(ctx context.Context, name string, data []byte, version string) (string, error) {
	if f.failing() {
		return "", context.DeadlineExceeded
	}
	return f.Conditional.PutIfVersion(ctx, name, data, version)
}
