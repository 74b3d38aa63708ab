package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// fakeGo stands in for the go command in the script self-test: it answers
// `go vet`, `go test -json` and `go test -fuzz` as the scenario says and
// hands everything else (the report tool's build) to the real go.
const fakeGo = `#!/usr/bin/env bash
case "$1 $*" in
  vet*) exit "${FAKE_VET_EXIT:-0}" ;;
  test*-fuzz*) echo "fuzzing"; exit "${FAKE_FUZZ_EXIT:-0}" ;;
  test*-json*) cat "$FAKE_TEST_EVENTS"; exit "${FAKE_TEST_EXIT:-0}" ;;
  *) exec "$REAL_GO" "$@" ;;
esac
`

const (
	passEvents = `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"--- PASS: TestA\n"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"pass","Package":"p"}
`
	failEvents = `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:9: render took 5563 ms\n"}
{"Action":"output","Package":"p","Test":"TestA","Output":"--- FAIL: TestA\n"}
{"Action":"fail","Package":"p","Test":"TestA"}
{"Action":"pass","Package":"p","Test":"TestB"}
{"Action":"fail","Package":"p"}
`
	skipEvents = `{"Action":"output","Package":"p","Test":"TestS","Output":"    s_test.go:3: needs a thing\n"}
{"Action":"skip","Package":"p","Test":"TestS"}
{"Action":"pass","Package":"p"}
`
	buildFailEvents = `{"ImportPath":"p","Action":"build-output","Output":"p/x.go:1: syntax error\n"}
{"Action":"fail","Package":"p"}
`
)

// TestScriptExitStatus runs scripts/test (the command CI runs) with a fake
// go, and checks that every kind of failure makes it exit non-zero with an
// honest count — the script once printed "0 failed" and exited 0 after a
// failing test.
func TestScriptExitStatus(t *testing.T) {
	realGo, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the real go command is needed to build the report tool: %v", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for name, body := range map[string]string{"go": fakeGo, "chromium": "#!/bin/sh\nexit 0\n"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name            string
		events          string
		vet, test, fuzz string
		wantOK          bool
		wantFailed      bool // the total line must count a failure
	}{
		{name: "all pass", events: passEvents, wantOK: true},
		{name: "failing test", events: failEvents, test: "1", wantFailed: true},
		{name: "go test fails but its events look fine", events: passEvents, test: "1", wantFailed: true},
		{name: "package does not build", events: buildFailEvents, test: "2", wantFailed: true},
		{name: "vet fails", events: passEvents, vet: "1", wantFailed: true},
		{name: "fuzz target fails", events: passEvents, fuzz: "1", wantFailed: true},
		{name: "skipped test", events: skipEvents},
		{name: "no test ran", events: "", wantFailed: true},
	}
	total := regexp.MustCompile(`(?m)^total: (\d+) passed, (\d+) failed, (\d+) skipped$`)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			events := filepath.Join(dir, "events.json")
			if err := os.WriteFile(events, []byte(tc.events), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("bash", filepath.Join(root, "scripts/test"))
			cmd.Env = append(os.Environ(),
				"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
				"REAL_GO="+realGo,
				"CLEW_ARTIFACTS="+filepath.Join(dir, "artifacts"),
				"FAKE_TEST_EVENTS="+events,
				"FAKE_VET_EXIT="+or(tc.vet, "0"),
				"FAKE_TEST_EXIT="+or(tc.test, "0"),
				"FAKE_FUZZ_EXIT="+or(tc.fuzz, "0"),
			)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			if tc.wantOK && err != nil {
				t.Fatalf("script failed on a passing run: %v\n%s", err, out.String())
			}
			if !tc.wantOK && err == nil {
				t.Fatalf("script exited 0 although %s\n%s", tc.name, out.String())
			}
			m := total.FindStringSubmatch(out.String())
			if m == nil {
				t.Fatalf("no 'total: N passed, M failed, K skipped' line:\n%s", out.String())
			}
			if tc.wantFailed == (m[2] == "0") {
				t.Errorf("total line %q: want a failure counted = %v", m[0], tc.wantFailed)
			}
		})
	}

}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
