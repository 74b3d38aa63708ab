package wal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/clewtrace/clew/internal/store/wal"
	"github.com/clewtrace/clew/internal/store/wal/faultfs"
)

func openFaulty(t *testing.T, dir string, retry time.Duration) (*wal.WAL, *faultfs.FS) {
	t.Helper()
	ffs := faultfs.New(wal.OS)
	w, err := wal.Open(dir, wal.Options{FS: ffs, RetryInterval: retry, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Replay(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return w, ffs
}

func replayed(t *testing.T, dir string) ([][]byte, wal.ReplayStats) {
	t.Helper()
	w, err := wal.Open(dir, wal.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var got [][]byte
	st, err := w.Replay(context.Background(), func(_ wal.SegmentID, rec []byte) error {
		got = append(got, bytes.Clone(rec))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, st
}

// waitFor polls cond; the deadline only catches a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func rec(s string) []byte { return bytes.Repeat([]byte(s), 100) }

// Issue 16, item 1: a full disk used to make the WAL unusable until a
// restart. Now appends fail while the disk is full, the WAL reports the
// failure, and it writes again once space returns — by its own retry
// (no traffic needed) or on the next append. A failed batch leaves no
// trace in the log: not acknowledged, not replayed.
func TestFullDiskRecovers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		retry time.Duration
		fault func(*faultfs.FS, bool)
		errno syscall.Errno
	}{
		{"full disk, recovered by the retry", time.Millisecond, (*faultfs.FS).SetFull, syscall.ENOSPC},
		{"full disk, recovered by the next append", time.Hour, (*faultfs.FS).SetFull, syscall.ENOSPC},
		{"failing fsync", time.Millisecond, (*faultfs.FS).SetSyncFails, syscall.EIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx := context.Background()
			w, ffs := openFaulty(t, dir, tc.retry)
			if _, err := w.Append(ctx, rec("a")); err != nil {
				t.Fatal(err)
			}
			tc.fault(ffs, true)
			for i := range 3 {
				_, err := w.Append(ctx, rec(fmt.Sprint("lost", i)))
				if !errors.Is(err, tc.errno) && (i == 0 || err == nil) {
					t.Fatalf("append %d on a failing disk: %v, want %v", i, err, tc.errno)
				}
			}
			if err := w.Err(); err == nil {
				t.Fatal("Err() = nil while the disk fails")
			}
			if w.Failures() == 0 {
				t.Fatal("no failure counted")
			}
			if _, err := w.Cut(); err != nil && !errors.Is(err, tc.errno) {
				t.Fatalf("Cut on a failing disk: %v", err)
			}
			tc.fault(ffs, false)
			if tc.retry < time.Hour {
				waitFor(t, "the WAL to recover by itself", func() bool { return w.Err() == nil })
			}
			if _, err := w.Append(ctx, rec("b")); err != nil {
				t.Fatalf("append after space returned: %v", err)
			}
			if err := w.Err(); err != nil {
				t.Fatalf("Err() = %v after a good append", err)
			}
			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			got, st := replayed(t, dir)
			if len(got) != 2 || !bytes.Equal(got[0], rec("a")) || !bytes.Equal(got[1], rec("b")) {
				t.Fatalf("replayed %d records, want exactly the two acknowledged ones", len(got))
			}
			if st.Damage != nil {
				t.Fatalf("failed batches left damage behind: %v", st.Damage)
			}
		})
	}
}
