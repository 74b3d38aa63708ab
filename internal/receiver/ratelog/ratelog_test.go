package ratelog

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(10*time.Second, func() time.Time { return now })
	if ok, n := l.Allow(); !ok || n != 0 {
		t.Fatalf("first event: %v %d, want logged", ok, n)
	}
	for range 5 {
		now = now.Add(time.Second)
		if ok, _ := l.Allow(); ok {
			t.Fatalf("logged again after %v", now.Sub(time.Unix(1000, 0)))
		}
	}
	now = now.Add(5 * time.Second) // 10 s after the first line
	if ok, n := l.Allow(); !ok || n != 5 {
		t.Fatalf("after the interval: %v %d, want logged with 5 suppressed", ok, n)
	}
	if ok, _ := l.Allow(); ok {
		t.Fatal("logged twice in one instant")
	}
}
