package store

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/segment"
	"github.com/clewtrace/clew/internal/store/block"
)

func blockExists(t *testing.T, s *Store, id string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(s.opts.Dir, "blocks", id, "data.parquet"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// cutBlock writes trace tr (one span at startMs) as a block of its own,
// without compaction or retention.
func cutBlock(t *testing.T, s *Store, tr, startMs int) {
	t.Helper()
	mustConsume(t, s, batch(tr, spanSpec{service: "gateway", name: "GET /", idx: 1, parent: -1, startMs: startMs, durMs: 1},
		spanSpec{service: "orders", name: "list", idx: 2, parent: 1, startMs: startMs, durMs: 1}))
	if err := s.flush(context.Background(), true); err != nil {
		t.Fatal(err)
	}
}

// A query that holds a snapshot keeps reading the blocks it started with
// while compaction replaces them; the replaced blocks are deleted only
// after it lets go.
func TestReaderHoldsBlockDuringCompaction(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir(), &clock{now: t0}, func(o *Options) { o.CompactBlocks = 2 })
	defer s.Close(ctx)
	cutBlock(t, s, 1, 0)
	cutBlock(t, s, 2, 1)
	snap := s.snapshot()
	if len(snap.blocks) != 2 {
		t.Fatalf("%d blocks before compaction, want 2", len(snap.blocks))
	}
	if err := s.Maintain(ctx, false); err != nil {
		t.Fatal(err)
	}
	if m := blockMetas(s); len(m) != 1 || m[0].CompactionLevel != 1 || len(m[0].Compacted) != 2 {
		t.Fatalf("after compaction: %+v, want one level-1 block made of 2", m)
	}
	for i, b := range snap.blocks {
		if !blockExists(t, s, b.Meta().ID) {
			t.Fatalf("input block %s deleted while a reader holds it", b.Meta().ID)
		}
		spans, err := b.Trace(ctx, traceID(i+1))
		if err != nil || len(spans) != 2 {
			t.Fatalf("reading a held block: %d spans, err %v", len(spans), err)
		}
	}
	if traceLen(t, s, 1) != 2 || traceLen(t, s, 2) != 2 {
		t.Fatal("traces not readable from the merged block")
	}
	snap.release()
	if err := s.Maintain(ctx, false); err != nil {
		t.Fatal(err)
	}
	for _, b := range snap.blocks {
		t.Fatalf("release left blocks in the snapshot: %s", b.Meta().ID)
	}
	entries, err := os.ReadDir(filepath.Join(s.opts.Dir, "blocks"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != blockMetas(s)[0].ID {
		t.Fatalf("block directories after release: %v, want only the merged block", entries)
	}
}

// The same for retention: an expired block a query holds stays readable
// until the query is done.
func TestReaderHoldsBlockDuringRetention(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: t0}
	s := openStore(t, t.TempDir(), clk, func(o *Options) { o.Retention = time.Hour })
	defer s.Close(ctx)
	cutBlock(t, s, 1, 0)
	snap := s.snapshot()
	id := snap.blocks[0].Meta().ID
	clk.Add(2 * time.Hour)
	if err := s.Maintain(ctx, false); err != nil {
		t.Fatal(err)
	}
	if n := len(blockMetas(s)); n != 0 {
		t.Fatalf("%d blocks after retention, want 0", n)
	}
	if traceLen(t, s, 1) != 0 {
		t.Fatal("an expired trace is still found by new queries")
	}
	if !blockExists(t, s, id) {
		t.Fatal("expired block deleted while a reader holds it")
	}
	if spans, err := snap.blocks[0].Trace(ctx, traceID(1)); err != nil || len(spans) != 2 {
		t.Fatalf("reading a held expired block: %d spans, err %v", len(spans), err)
	}
	snap.release()
	if err := s.Maintain(ctx, false); err != nil {
		t.Fatal(err)
	}
	if blockExists(t, s, id) {
		t.Fatal("expired block not deleted after the reader let go")
	}
}

// Compaction merges only blocks of one aligned time window, so retention
// drops old spans on time: no merged block keeps a day-old span alive next
// to new ones, and a narrow dependencies window counts only nearby blocks.
func TestRetentionWithAdjacentTimeCompaction(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: t0}
	s := openStore(t, t.TempDir(), clk, func(o *Options) {
		o.Retention = 6 * time.Hour
		o.CompactBlocks = 4
		o.BlockMaxAge = time.Minute
	})
	defer s.Close(ctx)
	const step = 15 * time.Minute
	const steps = 4 * 12 // twice the retention
	for i := range steps {
		clk.Add(step)
		cutBlock(t, s, i, int((time.Duration(i) * step).Milliseconds()))
		if err := s.Maintain(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	metas := blockMetas(s)
	if len(metas) > steps/4 {
		t.Errorf("%d blocks for %d small cuts: compaction did not merge", len(metas), steps)
	}
	windows := segment.CompactionWindows()
	widest := windows[len(windows)-1].Nanoseconds()
	for _, m := range metas {
		start := m.MinStartUnixNano - ((m.MinStartUnixNano%widest)+widest)%widest
		if m.MaxStartUnixNano >= start+widest {
			t.Errorf("block %s (level %d) spans %v: wider than one window",
				m.ID, m.CompactionLevel, time.Duration(m.MaxStartUnixNano-m.MinStartUnixNano))
		}
	}
	// A one-hour dependencies window sees the edges of at most the
	// blocks of the windows it touches, not two days of them.
	deps, err := s.Dependencies(ctx, t0.Add(7*time.Hour), t0.Add(8*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(deps) != 1 || deps[0].Calls == 0 || deps[0].Calls > uint64(2*widest/step.Nanoseconds()) {
		t.Errorf("dependencies of one hour: %+v", deps)
	}

	if err := s.Maintain(ctx, false); err != nil {
		t.Fatal(err)
	}
	horizon := clk.Now().Add(-6 * time.Hour)
	for i := range steps {
		start := t0.Add(time.Duration(i) * step)
		n := traceLen(t, s, i)
		switch {
		case !start.Before(horizon) && n != 2:
			t.Errorf("trace %d (start %v, after the horizon) has %d spans", i, start.Sub(t0), n)
		case start.Before(horizon.Add(-time.Duration(widest))) && n != 0:
			t.Errorf("trace %d (start %v) outlived retention by more than one compaction window", i, start.Sub(t0))
		}
	}
	for _, m := range blockMetas(s) {
		if m.MaxEndUnixNano < horizon.UnixNano() {
			t.Errorf("expired block %s kept", m.ID)
		}
	}
}

// Inputs of a compaction that a crash left on disk (here: held by a query
// when the process died) are deleted at the next open, not read twice.
func TestOpenDeletesCompactedInputs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir, &clock{now: t0}, func(o *Options) { o.CompactBlocks = 2 })
	cutBlock(t, s, 1, 0)
	cutBlock(t, s, 2, 1)
	snap := s.snapshot()
	if err := s.Maintain(ctx, false); err != nil {
		t.Fatal(err)
	}
	var inputs []string
	for _, b := range snap.blocks {
		inputs = append(inputs, b.Meta().ID)
	}
	crash(t, s)
	s2 := openStore(t, dir, &clock{now: t0})
	defer s2.Close(ctx)
	if m := blockMetas(s2); len(m) != 1 || m[0].CompactionLevel != 1 {
		t.Fatalf("blocks after reopen: %+v, want the merged block only", m)
	}
	for _, id := range inputs {
		if blockExists(t, s2, id) {
			t.Errorf("compacted input %s still on disk", id)
		}
	}
	metas, err := block.ListMetas(ctx, s2.bucket)
	if err != nil || len(metas) != 1 {
		t.Fatalf("ListMetas: %d metas, err %v", len(metas), err)
	}
}
