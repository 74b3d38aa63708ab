package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
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
	_ = fs.Parse(args)

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
		for i := 0; i < n; i++ {
			d, err := get(next())
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			lat = append(lat, d)
		}
		fmt.Println(latencySummary(name, 34, lat, 100*time.Microsecond))
		return nil
	}
	end := time.Now().Add(time.Minute)
	start := end.Add(-time.Hour)
	window := "&start=" + strconv.FormatInt(start.Unix(), 10) + "&end=" + strconv.FormatInt(end.Unix(), 10)
	if err := run("service && status_code >= 500", *n, func() string {
		q := fmt.Sprintf(`{ resource.service.name = %q && span.http.response.status_code >= 500 }`, services[rng.IntN(len(services))])
		return *base + "/api/search?limit=20&q=" + url.QueryEscape(q) + window
	}); err != nil {
		return err
	}
	if err := run("gateway >> error (structural)", *n, func() string {
		return *base + "/api/search?limit=20&q=" + url.QueryEscape(`{ .service.name = "gateway" } >> { status = error }`) + window
	}); err != nil {
		return err
	}
	return run("rate() by service, 1h, step 60s", *nMetrics, func() string {
		return *base + "/api/metrics/query_range?step=60s&q=" + url.QueryEscape(`{ } | rate() by (resource.service.name)`) + window
	})
}
