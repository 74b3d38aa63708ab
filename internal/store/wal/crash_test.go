package wal

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
)

const crashDirEnv = "CLEW_WAL_CRASH_DIR"

// TestKill9 runs appenders in a child process, kills it with SIGKILL while
// it is writing, and checks that every record the child saw acknowledged
// comes back. It covers a process crash (the page cache survives), not a
// power loss.
func TestKill9(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := t.TempDir()
	for round := range 3 { // later rounds replay the tails of earlier kills
		cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var acked []uint64
		sc := bufio.NewScanner(out)
		for sc.Scan() && len(acked) < 2000 {
			id, err := strconv.ParseUint(sc.Text(), 10, 64)
			if err != nil {
				t.Fatalf("child said %q", sc.Text())
			}
			acked = append(acked, id)
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if len(acked) < 2000 {
			t.Fatalf("round %d: child acknowledged only %d records before exiting", round, len(acked))
		}

		got, st := readAll(t, dir)
		present := make(map[uint64]bool, len(got))
		for _, e := range got {
			id := binary.LittleEndian.Uint64(e.rec)
			if string(e.rec) != string(testRecord(id, len(e.rec))) {
				t.Fatalf("round %d: record %d replayed with wrong content", round, id)
			}
			present[id] = true
		}
		for _, id := range acked {
			if !present[id] {
				t.Fatalf("round %d: acknowledged record %d lost (replayed %d, corruption %v)", round, id, len(got), st.Damage)
			}
		}
	}
}

// crashChild appends until killed and prints each acknowledged record ID.
func crashChild(dir string) {
	w, err := Open(dir, Options{SegmentSize: 256 << 10, Logger: quiet()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	st, err := w.Replay(context.Background(), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	base := uint64(st.Records+1) << 32 // IDs unique across rounds
	var mu sync.Mutex
	stdout := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := uint64(0); ; i++ {
				id := base + i*4 + uint64(g)
				if _, err := w.Append(context.Background(), testRecord(id, 200+int(i%9)*700)); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintln(stdout, id)
				_ = stdout.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
