package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLoadREDAndOperationNames runs the load generator against the shop and
// reads Clew's span metrics back, checking two things a new user tripped
// over (issue 13): the client-only loadgen's calls and errors equal its own
// count of actions and failures (not twice as many), and every service's
// operations are route templates, so tracking parcels does not add one
// operation per parcel.
func TestLoadREDAndOperationNames(t *testing.T) {
	clew := startClew(t)
	shop := startShop(t, clew)
	ctx := context.Background()
	start := time.Now().Add(-time.Minute)
	gen, err := newLoadGenerator(ctx, loadConfig{
		gatewayURL: shop.GatewayURL(), rate: 25, duration: 2 * time.Second,
		telemetry: telemetryConfig{otlpEndpoint: clew.OTLPGRPC, batchTimeout: 200 * time.Millisecond, logOutput: testLogWriter{t}, logLevel: slog.LevelWarn},
	})
	if err != nil {
		t.Fatal(err)
	}
	stats, err := gen.run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := gen.shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := shop.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var actions, failed uint64
	for k, n := range stats.counts {
		actions += uint64(n)
		if strings.HasSuffix(k, " failed") {
			failed += uint64(n)
		}
	}
	t.Logf("%s", stats)
	if actions < 10 || stats.counts["Track order ok"] == 0 {
		t.Fatalf("too little load to judge: %s", stats)
	}

	type svc struct {
		Service string `json:"service"`
		Calls   uint64 `json:"calls"`
		Errors  uint64 `json:"errors"`
	}
	window := func() string {
		return fmt.Sprintf("start=%d&end=%d", start.UnixMicro(), time.Now().Add(time.Minute).UnixMicro())
	}
	// The spans are exported; the metrics see them as soon as they arrive.
	pollCtx, cancel := context.WithTimeout(ctx, pollDeadline)
	defer cancel()
	var loadgen svc
	for loadgen.Calls < actions && pollCtx.Err() == nil {
		var body struct{ Services []svc }
		if _, err := getJSON(pollCtx, "http://"+clew.Query+"/api/clew/metrics/services?"+window(), &body); err != nil && pollCtx.Err() == nil {
			t.Fatal(err)
		}
		for _, s := range body.Services {
			if s.Service == "loadgen" {
				loadgen = s
			}
		}
		select {
		case <-pollCtx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	if loadgen.Calls != actions || loadgen.Errors != failed {
		t.Errorf("loadgen RED: %d calls, %d errors; the generator ran %d actions, %d failed", loadgen.Calls, loadgen.Errors, actions, failed)
	}

	id := regexp.MustCompile(`[0-9]{3,}|PX[0-9A-Z]+`) // an ID where a template belongs
	for _, service := range []string{"loadgen", "gateway", "orders", "shipping", "partner"} {
		var body struct {
			Operations []struct {
				Operation string `json:"operation"`
				SpanKind  string `json:"spanKind"`
			} `json:"operations"`
		}
		if _, err := getJSON(ctx, "http://"+clew.Query+"/api/clew/metrics/operations?service="+url.QueryEscape(service)+"&"+window(), &body); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, o := range body.Operations {
			names = append(names, o.SpanKind+" "+o.Operation)
			if id.MatchString(o.Operation) {
				t.Errorf("%s has operation %q: name spans by route template", service, o.Operation)
			}
		}
		if len(body.Operations) == 0 || len(body.Operations) > 12 {
			t.Errorf("%s has %d operations: %s", service, len(body.Operations), strings.Join(names, ", "))
		}
	}
}
