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
	"strconv"
	"strings"
	"time"
)

func queryBench(args []string) error {
	fs := flag.NewFlagSet("query", flag.ExitOnError)
	base := fs.String("query", "http://127.0.0.1:16686", "Clew query API base URL")
	idsFile := fs.String("ids", "trace-ids.txt", "trace IDs written by `clewbench ingest --ids-out`")
	n := fs.Int("n", 300, "requests of each kind")
	token := fs.String("token", "", "bearer token")
	admin := fs.String("admin", "", "Clew admin base URL (http://127.0.0.1:14269): report the object-store GETs each request sent (clew_objstore_requests_total, --storage s3 only)")
	coldWarm := fs.Bool("cold-warm", false, "send each kind's --n requests twice and report both passes: cold (first touch of the data they read, as far as earlier kinds did not read it) and warm (repeated)")
	only := fs.String("kinds", "", "comma-separated subset of: id, tag, tagsum, tempotag, rare, user24h, session24h, absent24h, absent7d (default all, in that order)")
	pid := fs.Int("clew-pid", 0, "Clew's process ID (same machine): report the CPU Clew spent per request of each kind (user+system, from /proc)")
	at := fs.String("at", "", "the instant the search windows (last hour, last 24 h, ...) end at, RFC 3339 (default now): lets data written earlier by `clewbench blocks` be queried later with the same windows")
	_ = fs.Parse(args)
	ref := time.Now()
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return fmt.Errorf("--at: %w", err)
		}
		ref = t
	}
	kinds := map[string]bool{}
	for _, k := range strings.Split(*only, ",") {
		if k != "" {
			kinds[k] = true
		}
	}
	want := func(kind string) bool { return len(kinds) == 0 || kinds[kind] }

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
	// requests reads the object-store request counters (GET = get + range,
	// HEAD = open); -1s without --admin.
	requests := func() (gets, heads float64) {
		if *admin == "" {
			return -1, -1
		}
		c := scrapeRequests(client, *admin)
		return c["get"] + c["range"], c["open"]
	}
	measure := func(name string, urls []string) error {
		lat := make([]time.Duration, 0, len(urls))
		g0, h0 := requests()
		c0 := processCPU(*pid)
		for _, u := range urls {
			d, code, err := get(u)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if code != http.StatusOK {
				return fmt.Errorf("%s: status %d", name, code)
			}
			lat = append(lat, d)
		}
		g1, h1 := requests()
		c1 := processCPU(*pid)
		line := latencySummary(name, 28, lat, 10*time.Microsecond)
		if c0 >= 0 && c1 >= 0 && len(urls) > 0 {
			line += fmt.Sprintf("  CPU/op %.1f ms", (c1-c0).Seconds()*1e3/float64(len(urls)))
		}
		if g0 >= 0 && len(urls) > 0 {
			line += fmt.Sprintf("  GETs/op %.2f  HEADs/op %.2f", (g1-g0)/float64(len(urls)), (h1-h0)/float64(len(urls)))
		}
		fmt.Println(line)
		return nil
	}
	run := func(kind, name string, next func() string) error {
		if !want(kind) {
			return nil
		}
		urls := make([]string, *n)
		for i := range urls {
			urls[i] = next()
		}
		if *coldWarm {
			// The same requests twice: the first pass finds the caches as
			// the earlier kinds left them, the second finds them warm.
			if err := measure(name+" (cold)", urls); err != nil {
				return err
			}
			name += " (warm)"
		}
		return measure(name, urls)
	}
	hourAgo := strconv.FormatInt(ref.Add(-time.Hour).UnixMicro(), 10)
	now := strconv.FormatInt(ref.Add(time.Minute).UnixMicro(), 10)
	if err := run("id", "trace by ID", func() string {
		return *base + "/api/traces/" + ids[rng.IntN(len(ids))]
	}); err != nil {
		return err
	}
	if err := run("tag", "search service+tag+minDur", func() string {
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
	// The same search answered by summaries, not whole traces: Jaeger
	// api_v3's trace summaries (the search page's list) and Tempo's search
	// by tags (under /api/tempo on the query port). Same random sequence
	// as "tag", so the three kinds ask the same searches.
	hourAgoT, nowT := ref.Add(-time.Hour), ref.Add(time.Minute)
	tagRNG := func() *rand.Rand { return rand.New(rand.NewPCG(11, 11)) }
	r := tagRNG()
	if err := run("tagsum", "summaries service+tag+minDur", func() string {
		q := url.Values{
			"query.service_name":   {services[r.IntN(len(services))]},
			"query.attributes":     {fmt.Sprintf(`{"http.request.method":%q}`, methods[r.IntN(len(methods))])},
			"query.duration_min":   {fmt.Sprintf("%dms", 100+r.IntN(900))},
			"query.start_time_min": {hourAgoT.Format(time.RFC3339Nano)}, "query.start_time_max": {nowT.Format(time.RFC3339Nano)},
			"query.search_depth": {"20"},
		}
		return *base + "/api/v3/trace-summaries?" + q.Encode()
	}); err != nil {
		return err
	}
	r = tagRNG()
	if err := run("tempotag", "Tempo search service+tag+minDur", func() string {
		q := url.Values{
			"tags":        {fmt.Sprintf(`service.name=%s http.request.method=%s`, services[r.IntN(len(services))], methods[r.IntN(len(methods))])},
			"minDuration": {fmt.Sprintf("%dms", 100+r.IntN(900))},
			"start":       {strconv.FormatInt(hourAgoT.Unix(), 10)}, "end": {strconv.FormatInt(nowT.Unix(), 10)}, "limit": {"20"},
		}
		return *base + "/api/tempo/api/search?" + q.Encode()
	}); err != nil {
		return err
	}
	if err := run("rare", "search without service", func() string {
		q := url.Values{
			"tags":  {fmt.Sprintf(`{"enduser.id":"user-%05d"}`, rng.IntN(20000))},
			"start": {hourAgo}, "end": {now}, "limit": {"20"},
		}
		return *base + "/api/traces?" + q.Encode()
	}); err != nil {
		return err
	}
	// Issue 12's users and sessions: "all traces of user X in the last day"
	// and "this session" (values the generator spreads over every block).
	dayAgo := strconv.FormatInt(ref.Add(-24*time.Hour).UnixMicro(), 10)
	if err := run("user24h", "enduser.id, last 24 h", func() string {
		q := url.Values{
			"tags":  {fmt.Sprintf(`{"enduser.id":"user-%05d"}`, rng.IntN(20000))},
			"start": {dayAgo}, "end": {now}, "limit": {"20"},
		}
		return *base + "/api/traces?" + q.Encode()
	}); err != nil {
		return err
	}
	if err := run("session24h", "session.id, last 24 h", func() string {
		q := url.Values{
			"tags":  {fmt.Sprintf(`{"session.id":"sess-%06d"}`, rng.IntN(100_000))},
			"start": {dayAgo}, "end": {now}, "limit": {"20"},
		}
		return *base + "/api/traces?" + q.Encode()
	}); err != nil {
		return err
	}
	// A value that no span holds: every block in the window must be ruled
	// out, so this is the cost of searching the whole window.
	for _, w := range []struct {
		kind, name string
		back       time.Duration
	}{{"absent24h", "absent value, last 24 h", 24 * time.Hour}, {"absent7d", "absent value, last 7 days", 7 * 24 * time.Hour}} {
		from := strconv.FormatInt(ref.Add(-w.back).UnixMicro(), 10)
		if err := run(w.kind, w.name, func() string {
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

// processCPU is the user+system CPU time of process pid so far, from
// /proc/<pid>/stat; -1 when pid is 0 or the file cannot be read.
func processCPU(pid int) time.Duration {
	if pid <= 0 {
		return -1
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// Fields after the command name (which may hold spaces, in parentheses):
	// state is field 3, utime 14 and stime 15, in clock ticks (100 a second
	// on Linux).
	_, rest, ok := strings.Cut(string(raw), ") ")
	if !ok {
		return -1
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(u+st) * 10 * time.Millisecond
}

// scrapeRequests reads clew_objstore_requests_total by op from /metrics.
func scrapeRequests(client *http.Client, admin string) map[string]float64 {
	out := map[string]float64{}
	resp, err := client.Get(admin + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	const prefix = `clew_objstore_requests_total{op="`
	for sc.Scan() {
		op, rest, ok := strings.Cut(strings.TrimPrefix(sc.Text(), prefix), `"} `)
		if !ok || !strings.HasPrefix(sc.Text(), prefix) {
			continue
		}
		v, err := strconv.ParseFloat(rest, 64)
		if err == nil {
			out[op] = v
		}
	}
	return out
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
