package app

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Version is set at build time with -ldflags "-X .../internal/app.Version=...".
// Without it, the module version from the build information is used
// (v1.2.3 for `go install ...@v1.2.3`).
var Version = "dev"

// Build describes the running binary.
type Build struct {
	Version   string // release version, or "dev"
	Revision  string // VCS commit; empty when the build was not stamped
	Time      string // commit time, RFC 3339
	Modified  bool   // built from a working tree with changes
	GoVersion string
}

// ReadBuild reads what the Go toolchain embedded (debug.ReadBuildInfo).
func ReadBuild() Build {
	bi, ok := debug.ReadBuildInfo()
	return buildFrom(bi, ok, Version)
}

func buildFrom(bi *debug.BuildInfo, ok bool, ldVersion string) Build {
	b := Build{Version: ldVersion}
	if !ok || bi == nil {
		return b
	}
	b.GoVersion = bi.GoVersion
	if (b.Version == "" || b.Version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		b.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// String is what `clew version` prints:
// "clew v1.2.0 (revision 1a2b3c4d5e6f, 2026-11-30T14:00:00Z, modified) go1.26.8".
func (b Build) String() string {
	var details []string
	if b.Revision != "" {
		details = append(details, "revision "+shortRevision(b.Revision))
	}
	if b.Time != "" {
		details = append(details, b.Time)
	}
	if b.Modified {
		details = append(details, "modified")
	}
	s := "clew " + b.Version
	if len(details) > 0 {
		s += " (" + strings.Join(details, ", ") + ")"
	}
	if b.GoVersion != "" {
		s += " " + b.GoVersion
	}
	return s
}

func shortRevision(r string) string {
	if len(r) > 12 {
		return r[:12]
	}
	return r
}

// buildInfoGauge is clew_build_info: always 1, the build in its labels, so
// a dashboard can show which version runs and when it changed.
func buildInfoGauge(b Build) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "clew_build_info",
		Help: "Always 1; the labels describe the running build.",
		ConstLabels: prometheus.Labels{
			"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion,
			"modified": fmt.Sprint(b.Modified),
		},
	})
	g.Set(1)
	return g
}
