package store

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clewtrace/clew/internal/consumer"
	"github.com/clewtrace/clew/internal/query/partial"
)

func gatheredValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// walOnlyTraces leaves trace 1 in a block and traces 2-11 (one span, one
// WAL record each) only in the WAL, as a crash would.
func walOnlyTraces(t *testing.T, dir string, clk *clock) {
	t.Helper()
	s := openStore(t, dir, clk)
	mustConsume(t, s, batch(1, spanSpec{service: "svc", name: "op", idx: 1, parent: -1, durMs: 1}))
	if err := s.flush(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	for tr := 2; tr <= 11; tr++ {
		mustConsume(t, s, batch(tr, spanSpec{service: "svc", name: "op", idx: 1, parent: -1, durMs: 1}))
	}
	crash(t, s)
}

// gateAfter returns a replayGate that stops the replay after n records
// until release is closed, and a channel closed when it has stopped.
func gateAfter(n int, release <-chan struct{}) (func(), <-chan struct{}) {
	reached := make(chan struct{})
	seen := 0
	return func() {
		seen++
		if seen == n {
			close(reached)
			<-release
		}
	}, reached
}

// Issue 16, item 12: a large WAL kept Clew from answering anything until it
// was replayed. With ReplayInBackground, blocks and the replayed part of the
// head are served at once, marked partial; writes are refused (retryable)
// and Ready says why; progress is in /metrics.
func TestQueriesAnsweredWhileWALReplays(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{now: t0}
	walOnlyTraces(t, dir, clk)

	release := make(chan struct{})
	gate, reached := gateAfter(3, release)
	reg := prometheus.NewRegistry()
	s := openStore(t, dir, clk, func(o *Options) { o.ReplayInBackground = true; o.replayGate = gate; o.Registerer = reg })
	defer s.Close(context.Background())
	<-reached // three records (traces 2-4) are in the head

	for tr, want := range map[int]int{1: 1, 2: 1, 4: 1, 5: 0, 11: 0} {
		ctx, rep := partial.With(context.Background())
		spans, err := s.Trace(ctx, traceID(tr))
		if err != nil || len(spans) != want {
			t.Errorf("during replay, trace %d: %d spans, err %v; want %d", tr, len(spans), err, want)
		}
		if r := rep.Reasons(); len(r) != 1 || r[0] != replayReason {
			t.Errorf("during replay, trace %d: partial reasons %q, want the replay", tr, r)
		}
	}
	if s.Ready() == nil {
		t.Error("Ready during replay")
	}
	if _, err := s.ConsumeTraces(context.Background(), batch(20, spanSpec{service: "svc", name: "op", idx: 1, parent: -1, durMs: 1})); !errors.Is(err, consumer.ErrOverloaded) {
		t.Errorf("write during replay: err %v, want a retryable overload", err)
	}
	if v := gatheredValue(t, reg, "clew_store_wal_replaying"); v != 1 {
		t.Errorf("clew_store_wal_replaying = %v during replay", v)
	}
	done, size := gatheredValue(t, reg, "clew_store_wal_replay_bytes"), gatheredValue(t, reg, "clew_store_wal_replay_size_bytes")
	if done <= 0 || done >= size {
		t.Errorf("replay progress %v of %v bytes, want strictly between 0 and the size", done, size)
	}
	if v := gatheredValue(t, reg, "clew_store_wal_replayed_spans"); v != 3 {
		t.Errorf("clew_store_wal_replayed_spans = %v, want 3", v)
	}

	close(release)
	<-s.core.ReplayDone()
	if err := s.Ready(); err != nil {
		t.Errorf("Ready after replay: %v", err)
	}
	ctx, rep := partial.With(context.Background())
	for tr := 1; tr <= 11; tr++ {
		if spans, err := s.Trace(ctx, traceID(tr)); err != nil || len(spans) != 1 {
			t.Errorf("after replay, trace %d: %d spans, err %v", tr, len(spans), err)
		}
	}
	if rep.Partial() {
		t.Errorf("answers after the replay marked partial: %q", rep.Reasons())
	}
	if v := gatheredValue(t, reg, "clew_store_wal_replaying"); v != 0 {
		t.Errorf("clew_store_wal_replaying = %v after replay", v)
	}
	mustConsume(t, s, batch(20, spanSpec{service: "svc", name: "op", idx: 1, parent: -1, durMs: 1}))
}

// Closing during the replay writes no block from the partial head (which
// would let the WAL segments go with records never replayed): the next
// start finds every span.
func TestCloseDuringReplayLosesNothing(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{now: t0}
	walOnlyTraces(t, dir, clk)
	release := make(chan struct{})
	gate, reached := gateAfter(3, release)
	s := openStore(t, dir, clk, func(o *Options) { o.ReplayInBackground = true; o.replayGate = gate })
	<-reached
	closed := make(chan error)
	go func() { closed <- s.Close(context.Background()) }()
	<-s.core.ReplayCancelled() // Close cancelled the replay
	close(release)
	if err := <-closed; err != nil {
		t.Fatalf("close during replay: %v", err)
	}
	s2 := openStore(t, dir, clk)
	defer s2.Close(context.Background())
	for tr := 1; tr <= 11; tr++ {
		if n := traceLen(t, s2, tr); n != 1 {
			t.Errorf("after close during replay and reopen, trace %d: %d spans, want 1", tr, n)
		}
	}
	if n := len(blockMetas(s2)); n != 1 {
		t.Errorf("%d blocks, want only the one written before the crash", n)
	}
}
