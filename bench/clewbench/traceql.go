package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// traceqlBench measures the issue-14 targets through Clew's Tempo API, as
// Grafana's Tempo data source would ask: a TraceQL search with an attribute
// condition, a structural search, and a TraceQL metrics query over an hour.
func traceqlBench(args []string) error {
	fs := flag.NewFlagSet("traceql", flag.ExitOnError)
	base := fs.String("tempo", "http://127.0.0.1:3200", "Clew Tempo API base URL")
	n := fs.Int("n", 50, "requests per search query")
	nMetrics := fs.Int("n-metrics", 10, "requests of the metrics query")
	token := fs.String("token", "", "bearer token")
	admin := fs.String("admin", "", "Clew admin base URL (http://127.0.0.1:14269): also report the CPU each request cost (process_cpu_seconds_total over the kind's requests ÷ n)")
	kinds := fs.String("kinds", "attr,structural,rate", "comma-separated kinds to run: attr, structural, rate")
	_ = fs.Parse(args)
	want := map[string]bool{}
	for _, k := range strings.Split(*kinds, ",") {
		want[strings.TrimSpace(k)] = true
	}

	rng := rand.New(rand.NewPCG(14, 14))
	client := &http.Client{Timeout: 5 * time.Minute}
	get := func(u string) (time.Duration, error) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if *token != "" {
			req.Header.Set("Authorization", "Bearer "+*token)
		}
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("status %d: %.200s", resp.StatusCode, body)
		}
		return time.Since(t0), nil
	}
	run := func(name string, n int, next func() string) error {
		lat := make([]time.Duration, 0, n)
		cpu0 := scrapeCPU(client, *admin)
		for i := 0; i < n; i++ {
			d, err := get(next())
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			lat = append(lat, d)
		}
		line := latencySummary(name, 34, lat, 100*time.Microsecond)
		if cpu1 := scrapeCPU(client, *admin); cpu0 >= 0 && cpu1 >= 0 && n > 0 {
			line += fmt.Sprintf("  cpu/req %6.1f ms", (cpu1-cpu0)*1000/float64(n))
		}
		fmt.Println(line)
		return nil
	}
	end := time.Now().Add(time.Minute)
	start := end.Add(-time.Hour)
	window := "&start=" + strconv.FormatInt(start.Unix(), 10) + "&end=" + strconv.FormatInt(end.Unix(), 10)
	if !want["attr"] {
		// skipped
	} else if err := run("service && status_code >= 500", *n, func() string {
		q := fmt.Sprintf(`{ resource.service.name = %q && span.http.response.status_code >= 500 }`, services[rng.IntN(len(services))])
		return *base + "/api/search?limit=20&q=" + url.QueryEscape(q) + window
	}); err != nil {
		return err
	}
	if !want["structural"] {
		// skipped
	} else if err := run("gateway >> error (structural)", *n, func() string {
		return *base + "/api/search?limit=20&q=" + url.QueryEscape(`{ .service.name = "gateway" } >> { status = error }`) + window
	}); err != nil {
		return err
	}
	if !want["rate"] {
		return nil
	}
	return run("rate() by service, 1h, step 60s", *nMetrics, func() string {
		return *base + "/api/metrics/query_range?step=60s&q=" + url.QueryEscape(`{ } | rate() by (resource.service.name)`) + window
	})
}

// scrapeCPU reads process_cpu_seconds_total from Clew's /metrics; -1
// without an admin URL or when it cannot be read.
func scrapeCPU(client *http.Client, admin string) float64 {
	if admin == "" {
		return -1
	}
	resp, err := client.Get(admin + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_cpu_seconds_total "); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				return f
			}
		}
	}
	return -1
}
