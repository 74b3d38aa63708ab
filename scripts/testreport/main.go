// Command testreport reads `go test -json` output on standard input and
// turns it into what a person and CI need: a short live view (package
// results, the full output of every failing test), a plain-text log of
// everything, and an honest count of what passed, failed and was skipped.
//
// It exists because the test script once reported success for a failing
// run: the count and the exit status must come from the test events
// themselves, never from a hard-coded line or a swallowed pipeline status.
//
//	go test -json ./... 2>&1 | go run ./scripts/testreport -log go-test.log -counts counts.txt
//
// The exit status is 1 when any test or package failed (a package can fail
// without a failing test: build errors, a panic in TestMain, a timeout), or
// when the input held no test event at all.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string
	Test       string
	Output     string
	Elapsed    float64
}

// maxKeep bounds the output kept per running test: the tail is what
// explains a failure, and a chatty test must not hold the report's memory.
const maxKeep = 256 << 10

type key struct{ pkg, test string }

type report struct {
	live                    io.Writer
	log                     io.Writer
	pending                 map[key]*strings.Builder
	passed, failed, skipped int
	failedTests             []string
	skippedTests            []string
	failedPackages          []string
	pkgFailedTests          map[string]int
	events                  int
}

func newReport(live, log io.Writer) *report {
	return &report{live: live, log: log, pending: map[key]*strings.Builder{}, pkgFailedTests: map[string]int{}}
}

func (r *report) line(raw string) {
	var ev event
	if !strings.HasPrefix(raw, "{") || json.Unmarshal([]byte(raw), &ev) != nil || ev.Action == "" {
		// Not an event: go's own messages (a build error on stderr, say).
		fmt.Fprintln(r.log, raw)
		fmt.Fprintln(r.live, raw)
		return
	}
	r.events++
	pkg := ev.Package
	if pkg == "" {
		pkg = ev.ImportPath
	}
	k := key{pkg, ev.Test}
	switch ev.Action {
	case "output", "build-output":
		fmt.Fprint(r.log, ev.Output)
		b := r.pending[k]
		if b == nil {
			b = &strings.Builder{}
			r.pending[k] = b
		}
		if b.Len() < maxKeep {
			b.WriteString(ev.Output)
		}
	case "pass":
		if ev.Test != "" {
			r.passed++
		} else {
			fmt.Fprintf(r.live, "ok   %s %.1fs\n", pkg, ev.Elapsed)
		}
		delete(r.pending, k)
	case "skip":
		if ev.Test != "" {
			r.skipped++
			r.skippedTests = append(r.skippedTests, pkg+" "+ev.Test+": "+skipReason(r.pending[k]))
		} else {
			fmt.Fprintf(r.live, "---- %s (no test files)\n", pkg)
		}
		delete(r.pending, k)
	case "fail":
		if ev.Test != "" {
			r.failed++
			r.pkgFailedTests[pkg]++
			r.failedTests = append(r.failedTests, pkg+" "+ev.Test)
			fmt.Fprintf(r.live, "\n==== FAIL %s %s\n%s\n", pkg, ev.Test, text(r.pending[k]))
		} else {
			// A package failing with no failing test of its own did not
			// build, panicked outside a test or timed out: that is a
			// failure to count too.
			if r.pkgFailedTests[pkg] == 0 {
				r.failed++
				fmt.Fprintf(r.live, "\n==== FAIL %s (no test failed: build error, panic or timeout)\n%s\n", pkg, text(r.pending[k]))
			}
			r.failedPackages = append(r.failedPackages, pkg)
			fmt.Fprintf(r.live, "FAIL %s %.1fs\n", pkg, ev.Elapsed)
		}
		delete(r.pending, k)
	}
}

func text(b *strings.Builder) string {
	if b == nil {
		return "(no output)"
	}
	return strings.TrimRight(b.String(), "\n")
}

// skipReason is the message a skipped test logged, for the summary.
func skipReason(b *strings.Builder) string {
	if b == nil {
		return "no reason given"
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l != "" && !strings.HasPrefix(l, "--- SKIP") && !strings.HasPrefix(l, "=== ") {
			return l
		}
	}
	return "no reason given"
}

func (r *report) summary(w io.Writer) {
	sort.Strings(r.skippedTests)
	for _, s := range r.skippedTests {
		fmt.Fprintf(w, "skipped: %s\n", s)
	}
	if len(r.failedTests)+len(r.failedPackages) > 0 {
		fmt.Fprintln(w, "failed:")
		for _, f := range r.failedTests {
			fmt.Fprintf(w, "  %s\n", f)
		}
		for _, p := range r.failedPackages {
			fmt.Fprintf(w, "  package %s\n", p)
		}
	}
	fmt.Fprintf(w, "tests: %d passed, %d failed, %d skipped\n", r.passed, r.failed, r.skipped)
}

func main() {
	logPath := flag.String("log", "", "write the plain-text output of every test to this file")
	countsPath := flag.String("counts", "", "write 'passed failed skipped' to this file, for the calling script")
	flag.Parse()

	var log io.Writer = io.Discard
	if *logPath != "" {
		f, err := os.Create(*logPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			os.Exit(2)
		}
		defer f.Close()
		bw := bufio.NewWriter(f)
		defer bw.Flush()
		log = bw
	}
	r := newReport(os.Stdout, log)
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		r.line(sc.Text())
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "testreport: reading go test output:", err)
		r.failed++
	}
	r.summary(os.Stdout)
	if *countsPath != "" {
		if err := os.WriteFile(*countsPath, fmt.Appendf(nil, "%d %d %d\n", r.passed, r.failed, r.skipped), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			os.Exit(2)
		}
	}
	if r.events == 0 {
		fmt.Println("testreport: no test event in the input: go test ran nothing")
		os.Exit(1)
	}
	if r.failed > 0 {
		os.Exit(1)
	}
}
