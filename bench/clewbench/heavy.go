package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"
)

// heavyQueries runs --concurrency loops of the heaviest search the Jaeger
// API allows (limit 1500 over the last hour, one service), for --duration,
// and prints their count, statuses and latencies. Run beside `clewbench
// ingest` it measures how much ingest keeps while queries compete for the
// CPU (bench/ingest-under-queries.sh).
func heavyQueries(args []string) error {
	fs := flag.NewFlagSet("heavy", flag.ExitOnError)
	base := fs.String("query", "http://127.0.0.1:16686", "Clew query API base URL")
	concurrency := fs.Int("concurrency", 4, "queries running at once")
	duration := fs.Duration("duration", 60*time.Second, "how long to query")
	limit := fs.Int("limit", 1500, "traces per search")
	token := fs.String("token", "", "bearer token")
	_ = fs.Parse(args)

	client := &http.Client{Timeout: 2 * time.Minute}
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		lat      []time.Duration
		bytes    int64
		wg       sync.WaitGroup
	)
	end := time.Now().Add(*duration)
	for w := range *concurrency {
		wg.Go(func() {
			for i := 0; time.Now().Before(end); i++ {
				q := url.Values{
					"service": {services[(w+i)%len(services)]},
					"start":   {strconv.FormatInt(time.Now().Add(-time.Hour).UnixMicro(), 10)},
					"end":     {strconv.FormatInt(time.Now().Add(time.Minute).UnixMicro(), 10)},
					"limit":   {strconv.Itoa(*limit)},
				}
				req, _ := http.NewRequest(http.MethodGet, *base+"/api/traces?"+q.Encode(), nil)
				if *token != "" {
					req.Header.Set("Authorization", "Bearer "+*token)
				}
				t0 := time.Now()
				code := -1
				var n int64
				if resp, err := client.Do(req); err == nil {
					n, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				mu.Lock()
				statuses[code]++
				lat = append(lat, time.Since(t0))
				bytes += n
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(lat) == 0 {
		return fmt.Errorf("no query finished")
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("heavy queries: %d in %s (%d at once, limit %d), statuses %v, %.1f MiB answered; latency p50 %s max %s\n",
		len(lat), *duration, *concurrency, *limit, statuses, float64(bytes)/(1<<20),
		lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	return nil
}
