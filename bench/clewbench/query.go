package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"time"
)

func queryBench(args []string) error {
	fs := flag.NewFlagSet("query", flag.ExitOnError)
	base := fs.String("query", "http://127.0.0.1:16686", "Clew query API base URL")
	idsFile := fs.String("ids", "trace-ids.txt", "trace IDs written by `clewbench ingest --ids-out`")
	n := fs.Int("n", 300, "requests of each kind")
	token := fs.String("token", "", "bearer token")
	_ = fs.Parse(args)

	ids, err := readLines(*idsFile)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return fmt.Errorf("%s holds no trace IDs", *idsFile)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	client := &http.Client{Timeout: 60 * time.Second}
	get := func(u string) (time.Duration, int, error) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if *token != "" {
			req.Header.Set("Authorization", "Bearer "+*token)
		}
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(t0), resp.StatusCode, nil
	}
	run := func(name string, next func() string) error {
		lat := make([]time.Duration, 0, *n)
		for i := 0; i < *n; i++ {
			d, code, err := get(next())
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if code != http.StatusOK {
				return fmt.Errorf("%s: status %d", name, code)
			}
			lat = append(lat, d)
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		fmt.Printf("%-28s n=%d p50 %8s  p99 %8s  max %8s\n", name, len(lat),
			lat[len(lat)/2].Round(10*time.Microsecond), lat[len(lat)*99/100].Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
		return nil
	}
	hourAgo := strconv.FormatInt(time.Now().Add(-time.Hour).UnixMicro(), 10)
	now := strconv.FormatInt(time.Now().Add(time.Minute).UnixMicro(), 10)
	if err := run("trace by ID", func() string {
		return *base + "/api/traces/" + ids[rng.IntN(len(ids))]
	}); err != nil {
		return err
	}
	if err := run("search service+tag+minDur", func() string {
		q := url.Values{
			"service":     {services[rng.IntN(len(services))]},
			"tags":        {fmt.Sprintf(`{"http.request.method":%q}`, methods[rng.IntN(len(methods))])},
			"minDuration": {fmt.Sprintf("%dms", 100+rng.IntN(900))},
			"start":       {hourAgo}, "end": {now}, "limit": {"20"},
		}
		return *base + "/api/traces?" + q.Encode()
	}); err != nil {
		return err
	}
	if err := run("search without service", func() string {
		q := url.Values{
			"tags":  {fmt.Sprintf(`{"enduser.id":"user-%05d"}`, rng.IntN(20000))},
			"start": {hourAgo}, "end": {now}, "limit": {"20"},
		}
		return *base + "/api/traces?" + q.Encode()
	}); err != nil {
		return err
	}
	// A value that no span holds: every block in the window must be ruled
	// out, so this is the cost of searching the whole window.
	for _, w := range []struct {
		name string
		back time.Duration
	}{{"absent value, last 24 h", 24 * time.Hour}, {"absent value, last 7 days", 7 * 24 * time.Hour}} {
		from := strconv.FormatInt(time.Now().Add(-w.back).UnixMicro(), 10)
		if err := run(w.name, func() string {
			q := url.Values{
				"tags":  {fmt.Sprintf(`{"enduser.id":"nobody-%05d"}`, rng.IntN(20000))},
				"start": {from}, "end": {now}, "limit": {"20"},
			}
			return *base + "/api/traces?" + q.Encode()
		}); err != nil {
			return err
		}
	}
	return nil
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); l != "" {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}
