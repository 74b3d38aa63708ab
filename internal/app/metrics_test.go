package app

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/clewtrace/clew/internal/config"
	"github.com/clewtrace/clew/internal/pipeline/sampling"
)

// metricScheme is Clew's one naming scheme: clew_<component>_<what>[_<unit>],
// counters ending in _total (docs/metrics.md). The span-metrics and
// service-graph names follow the OpenTelemetry Collector's connectors.
var metricScheme = regexp.MustCompile(`^clew_(build_info|(receiver_(otlp|jaeger|zipkin)|pipeline|store|objstore|logstore|spanmetrics|servicegraph|query_api)_[a-z][a-z0-9_]*[a-z0-9])$`)

// everyComponent starts Clew with every optional part that has metrics on.
func everyComponent(c *config.Config) {
	c.JaegerHTTPAddr, c.JaegerCompactAddr, c.JaegerBinaryAddr, c.ZipkinAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	c.Pipeline.TailSampling.Enabled = true
	c.Pipeline.TailSampling.Policies = []sampling.PolicyConfig{{SubPolicyConfig: sampling.SubPolicyConfig{Name: "all", Type: "always_sample"}}}
}

// TestMetricNamesFollowTheSchemeAndAreDocumented lists every registered
// metric (with a value or not) and checks its name against the scheme and
// that docs/metrics.md documents it.
func TestMetricNamesFollowTheSchemeAndAreDocumented(t *testing.T) {
	a := startApp(t, t.TempDir(), everyComponent)
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	seen := map[string]bool{}
	for _, d := range a.reg.described() {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read the name of %s", d)
		}
		seen[m[1]] = true
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	clew := 0
	for _, n := range names {
		if strings.HasPrefix(n, "go_") || strings.HasPrefix(n, "process_") {
			continue // the Go and process collectors, documented as groups
		}
		clew++
		if !metricScheme.MatchString(n) {
			t.Errorf("%s does not follow clew_<component>_<what> (docs/metrics.md)", n)
		}
		if !strings.Contains(string(doc), "`"+n+"`") {
			t.Errorf("%s is not documented in docs/metrics.md", n)
		}
	}
	for _, group := range []string{"clew_receiver_jaeger_", "clew_receiver_zipkin_", "clew_pipeline_tail_sampling_", "clew_query_api_", "clew_build_info"} {
		found := false
		for _, n := range names {
			found = found || strings.HasPrefix(n, group)
		}
		if !found {
			t.Errorf("no %s* metric registered: the test no longer sees every component", group)
		}
	}
	t.Logf("%d clew metrics", clew)
}

// The query API is measured by endpoint pattern and status.
func TestQueryAPIMetrics(t *testing.T) {
	a := startApp(t, t.TempDir())
	for _, path := range []string{"/api/services", "/api/services", "/api/traces/nothex"} {
		resp, err := http.Get("http://" + a.Addrs().Query + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get("http://" + a.Addrs().Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	text := string(body)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`clew_query_api_requests_total\{endpoint="[^"]*/api/services",listener="query",status="200"\} 2`),
		regexp.MustCompile(`clew_query_api_requests_total\{endpoint="[^"]*/api/traces/\{[^"]*",listener="query",status="400"\} 1`),
		regexp.MustCompile(`clew_query_api_request_duration_seconds_count\{endpoint="[^"]*/api/services",listener="query"\} 2`),
	} {
		if !want.MatchString(text) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(text, "clew_query_api"))
		}
	}
}

func grepLines(text, sub string) string {
	var out []string
	for l := range strings.SplitSeq(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
