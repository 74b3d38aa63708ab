package main

import (
	"bytes"
	"strings"
	"testing"
)

// `clew version`, `clew --version` and `clew --config x --version` print the
// build, read from the binary (never the bare "clew dev" of issue 13's
// report: the Go version at least is always known).
func TestVersionForms(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}, {"--config", "none.yaml", "--version"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut.String())
			continue
		}
		if s := out.String(); !strings.HasPrefix(s, "clew ") || !strings.Contains(s, " go1.") {
			t.Errorf("%v printed %q", args, s)
		}
	}
}
