package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// rawCodec sends bytes that are already an encoded protobuf message and
// keeps the response undecoded.
type rawCodec struct{}

type rawMsg struct{ b []byte }

func (rawCodec) Marshal(v any) ([]byte, error) { return v.(*rawMsg).b, nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	v.(*rawMsg).b = append(v.(*rawMsg).b[:0], b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

const exportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

func ingest(args []string) error {
	fs := flag.NewFlagSet("ingest", flag.ExitOnError)
	target := fs.String("target", "127.0.0.1:4317", "OTLP gRPC address")
	admin := fs.String("admin", "", "Clew admin address (host:port) to read RSS and disk use from /metrics")
	duration := fs.Duration("duration", 30*time.Second, "how long to send")
	conns := fs.Int("conns", 4, "gRPC connections")
	streams := fs.Int("concurrency", 4, "concurrent requests per connection")
	requests := fs.Int("requests", 512, "distinct pre-encoded requests")
	spansPer := fs.Int("spans-per-request", 500, "spans per request")
	idsOut := fs.String("ids-out", "", "write every 100th trace ID sent to this file (for `clewbench query`)")
	token := fs.String("token", "", "bearer token")
	seed := fs.Uint64("seed", 1, "random seed")
	_ = fs.Parse(args)

	rng := rand.New(rand.NewPCG(*seed, *seed))
	start := time.Now()
	tpls := generate(rng, *requests, *spansPer, start)
	var bytesPerSpan float64
	var totalSpans int
	for _, t := range tpls {
		bytesPerSpan += float64(len(t.body))
		totalSpans += t.spans
	}
	fmt.Printf("generated %d requests, %d spans, %.0f bytes/span on the wire, in %s\n",
		len(tpls), totalSpans, bytesPerSpan/float64(totalSpans), time.Since(start).Round(time.Millisecond))

	var idw *bufio.Writer
	var idMu sync.Mutex
	if *idsOut != "" {
		f, err := os.Create(*idsOut)
		if err != nil {
			return err
		}
		defer f.Close()
		idw = bufio.NewWriter(f)
		defer idw.Flush()
	}

	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	if *token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+*token)
	}
	var sentSpans, ackedSpans, failed atomic.Int64
	var seq atomic.Uint64
	errCodes := sync.Map{}
	var wg sync.WaitGroup
	for c := 0; c < *conns; c++ {
		cc, err := grpc.NewClient(*target, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{}), grpc.MaxCallSendMsgSize(64<<20)))
		if err != nil {
			return err
		}
		defer cc.Close()
		for s := 0; s < *streams; s++ {
			wg.Add(1)
			go func(worker int) {
				defer wg.Done()
				var buf []byte
				resp := &rawMsg{}
				for i := worker; ctx.Err() == nil; i++ {
					t := &tpls[i%len(tpls)]
					buf = append(buf[:0], t.body...)
					n := seq.Add(1)
					t.stamp(buf, n, time.Since(start))
					sentSpans.Add(int64(t.spans))
					err := cc.Invoke(ctx, exportMethod, &rawMsg{b: buf}, resp)
					if err != nil {
						if ctx.Err() != nil {
							sentSpans.Add(-int64(t.spans)) // cut off by the end of the run, not refused
							return
						}
						failed.Add(1)
						code := status.Code(err).String()
						v, _ := errCodes.LoadOrStore(code, new(atomic.Int64))
						v.(*atomic.Int64).Add(1)
						// Back off as an OTLP exporter would (Retry-After is 1 s;
						// a shorter pause keeps the pressure on).
						time.Sleep(100 * time.Millisecond)
						continue
					}
					ackedSpans.Add(int64(t.spans))
					if idw != nil && n%100 == 0 {
						id := t.traceID[0]
						copy(id[8:], buf[t.idOffs[0]:t.idOffs[0]+8])
						idMu.Lock()
						fmt.Fprintln(idw, hex.EncodeToString(id[:]))
						idMu.Unlock()
					}
				}
			}(c**streams + s)
		}
	}

	// Report every 10 s; the median interval rate is the sustained figure.
	var rates []float64
	var maxRSS float64
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	last, lastT := int64(0), time.Now()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
loop:
	for {
		select {
		case <-done:
			break loop
		case now := <-tick.C:
			cur := ackedSpans.Load()
			r := float64(cur-last) / now.Sub(lastT).Seconds()
			rates = append(rates, r)
			last, lastT = cur, now
			rss := scrape(*admin, "process_resident_memory_bytes")
			if rss > maxRSS {
				maxRSS = rss
			}
			fmt.Printf("  %6.0f s  %9.0f spans/s  rss %6.0f MiB  failed requests %d\n",
				time.Since(start).Seconds(), r, rss/(1<<20), failed.Load())
		}
	}
	elapsed := time.Since(lastT)
	_ = elapsed
	sort.Float64s(rates)
	median := 0.0
	if len(rates) > 0 {
		median = rates[len(rates)/2]
	}
	fmt.Printf("acked %d spans of %d sent in %s; median 10-s rate %.0f spans/s; failed requests %d",
		ackedSpans.Load(), sentSpans.Load(), *duration, median, failed.Load())
	errCodes.Range(func(k, v any) bool { fmt.Printf(" %s=%d", k, v.(*atomic.Int64).Load()); return true })
	fmt.Println()
	if *admin != "" {
		fmt.Printf("max rss %.0f MiB; wal %.1f MiB; blocks %.1f MiB\n", maxRSS/(1<<20),
			scrape(*admin, "clew_store_wal_bytes")/(1<<20), scrape(*admin, "clew_store_block_bytes")/(1<<20))
	}
	return nil
}

// scrape reads one unlabelled sample from a Prometheus text endpoint.
func scrape(admin, metric string) float64 {
	if admin == "" {
		return 0
	}
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, metric+" ") {
			v, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return v
		}
	}
	return 0
}
