package app

import (
	"io"
	"net/http"
	"runtime/debug"
	"strings"
	"testing"
)

func TestBuildFromBuildInfo(t *testing.T) {
	stamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/clewtrace/clew", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "1a2b3c4d5e6f7a8b9c0d"}, {Key: "vcs.time", Value: "2026-11-30T14:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	for _, c := range []struct {
		name string
		bi   *debug.BuildInfo
		ld   string
		want string
	}{
		{"go install @version", stamped, "dev", "clew v1.4.0 (revision 1a2b3c4d5e6f, 2026-11-30T14:00:00Z, modified) go1.26.8"},
		{"ldflags win", stamped, "v2.0.0-rc1", "clew v2.0.0-rc1 (revision 1a2b3c4d5e6f, 2026-11-30T14:00:00Z, modified) go1.26.8"},
		{"go build in a checkout", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}}}, "dev", "clew dev (revision abc) go1.26.8"},
		{"no build info", nil, "dev", "clew dev"},
	} {
		if got := buildFrom(c.bi, c.bi != nil, c.ld).String(); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestBuildInfoMetric(t *testing.T) {
	a := startApp(t, t.TempDir())
	resp, err := http.Get("http://" + a.Addrs().Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b := ReadBuild()
	want := `clew_build_info{goversion="` + b.GoVersion + `",modified="` + map[bool]string{true: "true", false: "false"}[b.Modified] + `",revision="` + b.Revision + `",version="` + b.Version + `"} 1`
	if !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %s", want)
	}
}
