package otlp

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestReceiveGate(t *testing.T) {
	g := newReceiveGate(3, 2, 0)
	ctx := t.Context()
	a1, err := g.enter(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.enter(ctx, "a"); err != nil {
		t.Fatal(err)
	}

	// "a" has its two slots: a third waits, although one slot is free...
	third := make(chan error, 1)
	go func() {
		leave, err := g.enter(ctx, "a")
		if err == nil {
			leave()
		}
		third <- err
	}()
	waitFor(t, "a's third receive to wait", func() bool { _, w := g.state(); return w == 1 })
	// ...which another client gets at once.
	b, err := g.enter(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if n, w := g.state(); n != 3 || w != 1 {
		t.Fatalf("in use %d, waiting %d; want 3 and 1", n, w)
	}
	// The gate is full: "c" waits until its context ends.
	cctx, cancel := context.WithCancel(ctx)
	cErr := make(chan error, 1)
	go func() { _, err := g.enter(cctx, "c"); cErr <- err }()
	waitFor(t, "c to wait", func() bool { _, w := g.state(); return w == 2 })
	cancel()
	if err := <-cErr; !errors.Is(err, context.Canceled) {
		t.Errorf("c: %v, want context.Canceled", err)
	}

	// Giving a slot back lets a's waiting receive through; giving back twice
	// changes nothing.
	a1()
	a1()
	if err := <-third; err != nil {
		t.Errorf("a's third receive: %v", err)
	}
	b()
	if n, w := g.state(); n != 1 || w != 0 {
		t.Errorf("after leaving: in use %d, waiting %d; want 1 and 0", n, w)
	}
}

// TestReceiveGateHoldEnds: a slot is given back after hold even if its
// receive has not ended, so a slow sender cannot keep it.
func TestReceiveGateHoldEnds(t *testing.T) {
	g := newReceiveGate(1, 1, time.Nanosecond)
	if _, err := g.enter(t.Context(), "slow"); err != nil { // never left
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // only catches a hang
	defer cancel()
	leave, err := g.enter(ctx, "other")
	if err != nil {
		t.Fatalf("the slot held by a receive that never ended was not given back: %v", err)
	}
	leave()
}
