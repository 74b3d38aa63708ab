package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/clewtrace/clew/internal/app"
	"github.com/clewtrace/clew/internal/model"
)

// TestTraceQLOverShopTraffic runs TraceQL queries through the Tempo API over
// the demo shop's real traffic and checks each answer against a brute-force
// evaluation of the same question over every stored trace, fetched through
// the Jaeger API and Tempo's trace-by-ID endpoint (not through TraceQL).
func TestTraceQLOverShopTraffic(t *testing.T) {
	clew := startClew(t)
	shop := startShopWith(t, clew, func(c *Config) { c.PartnerFailureRate, c.AuthFailureRate = 0.3, 0.1 })
	ctx := context.Background()
	start := time.Now().Add(-time.Minute)
	gen, err := newLoadGenerator(ctx, loadConfig{
		gatewayURL: shop.GatewayURL(), rate: 25, duration: 2 * time.Second,
		telemetry: telemetryConfig{otlpEndpoint: clew.OTLPGRPC, batchTimeout: 200 * time.Millisecond, logOutput: testLogWriter{t}, logLevel: slog.LevelWarn},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gen.run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := gen.shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := shop.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Flushed spans are acknowledged, so stored and readable.
	end := time.Now().Add(time.Minute)
	traces := allTraces(t, clew, start, end)
	if len(traces) < 20 {
		t.Fatalf("only %d traces of shop traffic", len(traces))
	}

	svc := func(s *model.Span, name string) bool { return s.Service() == name }
	isErr := func(s *model.Span) bool { return s.StatusCode == model.StatusError }
	code := func(s *model.Span) int64 {
		v, ok := model.Lookup(s.Attributes, "http.response.status_code")
		if !ok || v.Type != model.ValueInt {
			return -1
		}
		return v.Int
	}
	cases := []struct {
		q    string
		want func(sp []model.Span) bool
	}{
		{`{ resource.service.name = "gateway" } >> { status = error }`, func(sp []model.Span) bool {
			return any2(sp, func(a, b *model.Span) bool { return svc(a, "gateway") && isErr(b) && ancestor(sp, a, b) })
		}},
		{`{ resource.service.name = "gateway" } > { resource.service.name != "gateway" }`, func(sp []model.Span) bool {
			return any2(sp, func(a, b *model.Span) bool { return svc(a, "gateway") && !svc(b, "gateway") && parentOf(a, b) })
		}},
		{`{ span.http.response.status_code >= 500 }`, func(sp []model.Span) bool {
			return any1(sp, func(s *model.Span) bool { return code(s) >= 500 })
		}},
		{`{ kind = client } ~ { kind = client }`, func(sp []model.Span) bool {
			return any2(sp, func(a, b *model.Span) bool {
				return a.Kind == model.KindClient && b.Kind == model.KindClient && a != b &&
					!a.ParentSpanID.IsZero() && a.ParentSpanID == b.ParentSpanID
			})
		}},
		{`{ status = error } | count() >= 2`, func(sp []model.Span) bool {
			n := 0
			for i := range sp {
				if isErr(&sp[i]) {
					n++
				}
			}
			return n >= 2
		}},
		{`{ } | by(resource.service.name) | count() > 3`, func(sp []model.Span) bool {
			per := map[string]int{}
			for i := range sp {
				per[sp[i].Service()]++
			}
			for _, n := range per {
				if n > 3 {
					return true
				}
			}
			return false
		}},
		{`{ resource.service.name = "loadgen" } !>> { status = error }`, func(sp []model.Span) bool {
			return any1(sp, func(b *model.Span) bool {
				return isErr(b) && !any1(sp, func(a *model.Span) bool { return svc(a, "loadgen") && ancestor(sp, a, b) })
			})
		}},
	}
	base := "http://" + clew.Tempo
	window := fmt.Sprintf("&start=%d&end=%d", start.Unix(), end.Unix())
	nonEmpty := 0
	for _, c := range cases {
		var want []string
		for id, sp := range traces {
			if c.want(sp) {
				want = append(want, id)
			}
		}
		sort.Strings(want)
		var resp struct {
			Traces []struct {
				TraceID string `json:"traceID"`
			} `json:"traces"`
		}
		if ok, err := getJSON(ctx, base+"/api/search?limit=1000&q="+url.QueryEscape(c.q)+window, &resp); !ok || err != nil {
			t.Fatalf("%s: %v", c.q, err)
		}
		var got []string
		for _, tr := range resp.Traces {
			got = append(got, tr.TraceID)
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: %d traces, brute force says %d", c.q, len(got), len(want))
		}
		if len(want) > 0 {
			nonEmpty++
		}
		t.Logf("%s: %d of %d traces", c.q, len(want), len(traces))
	}
	if nonEmpty < 6 {
		t.Errorf("only %d of %d queries match any shop trace: the traffic tests too little", nonEmpty, len(cases))
	}

	// TraceQL metrics: error spans per service over the window.
	wantErr := map[string]float64{}
	for _, sp := range traces {
		for i := range sp {
			if isErr(&sp[i]) && sp[i].StartUnixNano >= start.Unix()*1e9 {
				wantErr[sp[i].Service()]++
			}
		}
	}
	var inst struct {
		Series []struct {
			Labels []struct {
				Value struct {
					StringValue string `json:"stringValue"`
				} `json:"value"`
			} `json:"labels"`
			Value float64 `json:"value"`
		} `json:"series"`
	}
	q := `{ status = error } | count_over_time() by (resource.service.name)`
	if ok, err := getJSON(ctx, base+"/api/metrics/query?q="+url.QueryEscape(q)+window, &inst); !ok || err != nil {
		t.Fatalf("metrics: %v", err)
	}
	got := map[string]float64{}
	for _, s := range inst.Series {
		got[s.Labels[0].Value.StringValue] = s.Value
	}
	if fmt.Sprint(got) != fmt.Sprint(wantErr) || len(wantErr) == 0 {
		t.Errorf("error spans per service: got %v, brute force %v", got, wantErr)
	}
}

func any1(sp []model.Span, f func(*model.Span) bool) bool {
	for i := range sp {
		if f(&sp[i]) {
			return true
		}
	}
	return false
}

func any2(sp []model.Span, f func(a, b *model.Span) bool) bool {
	for i := range sp {
		for j := range sp {
			if f(&sp[i], &sp[j]) {
				return true
			}
		}
	}
	return false
}

func parentOf(a, b *model.Span) bool { return !b.ParentSpanID.IsZero() && b.ParentSpanID == a.SpanID }

// ancestor walks up from b by parent span IDs (bounded by the span count).
func ancestor(sp []model.Span, a, b *model.Span) bool {
	cur := b
	for range sp {
		var p *model.Span
		for i := range sp {
			if parentOf(&sp[i], cur) {
				p = &sp[i]
			}
		}
		if p == nil {
			return false
		}
		if p.SpanID == a.SpanID {
			return true
		}
		cur = p
	}
	return false
}

// allTraces lists every trace through the Jaeger API (per service) and
// reads each through Tempo's trace-by-ID endpoint in protobuf.
func allTraces(t *testing.T, clew app.Addrs, start, end time.Time) map[string][]model.Span {
	t.Helper()
	ctx := context.Background()
	var services struct{ Data []string }
	if ok, err := getJSON(ctx, "http://"+clew.Query+"/api/services", &services); !ok || err != nil {
		t.Fatalf("services: %v", err)
	}
	out := map[string][]model.Span{}
	for _, svc := range services.Data {
		var found struct {
			Data []struct {
				TraceID string `json:"traceID"`
			}
		}
		u := fmt.Sprintf("http://%s/api/traces?service=%s&limit=1500&start=%d&end=%d", clew.Query, url.QueryEscape(svc), start.UnixMicro(), end.UnixMicro())
		if ok, err := getJSON(ctx, u, &found); !ok || err != nil {
			t.Fatalf("search %s: %v", svc, err)
		}
		for _, tr := range found.Data {
			out[model.TraceID{}.String()[:32-len(tr.TraceID)]+tr.TraceID] = nil
		}
	}
	for id := range out {
		req, _ := http.NewRequest("GET", "http://"+clew.Tempo+"/api/v2/traces/"+id, nil)
		req.Header.Set("Accept", "application/protobuf")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(body) < 2 {
			t.Fatalf("trace %s: %d", id, resp.StatusCode)
		}
		n, k := uvarint(body[1:])
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(body[1+k : 1+k+n])
		if err != nil {
			t.Fatal(err)
		}
		out[id] = model.AppendSpans(nil, td)
	}
	return out
}

func uvarint(b []byte) (int, int) {
	var x uint64
	for i, c := range b {
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return int(x), i + 1
		}
	}
	return 0, len(b)
}
