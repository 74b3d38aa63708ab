package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// loadConfig drives traffic through the gateway API.
type loadConfig struct {
	gatewayURL string
	rate       int           // user actions per second
	duration   time.Duration // how long
	telemetry  telemetryConfig
}

// loadGenerator simulates many users of a client app, each with a session
// (a login), clicking through the shop. Every action is a root span of the
// "loadgen" service, so Clew fills with complete, varied traces.
type loadGenerator struct {
	cfg    loadConfig
	tel    *telemetry
	client *http.Client

	mu     sync.Mutex
	tokens map[string]string // user -> current token
	counts map[string]int    // "action ok|failed" -> count
}

func newLoadGenerator(ctx context.Context, cfg loadConfig) (*loadGenerator, error) {
	tel, err := newTelemetry(ctx, cfg.telemetry, "loadgen", version)
	if err != nil {
		return nil, err
	}
	return &loadGenerator{cfg: cfg, tel: tel, client: tel.client(), tokens: map[string]string{}, counts: map[string]int{}}, nil
}

func (g *loadGenerator) shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return g.tel.shutdown(ctx)
}

// loadStats summarises a run.
type loadStats struct {
	counts  map[string]int
	dropped int
	elapsed time.Duration
}

func (s loadStats) String() string {
	keys := make([]string, 0, len(s.counts))
	total := 0
	for k, n := range s.counts {
		keys = append(keys, k)
		total += n
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "load: %d actions in %v (%d skipped: too many in flight)\n", total, s.elapsed.Round(time.Millisecond), s.dropped)
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-28s %d\n", k, s.counts[k])
	}
	return b.String()
}

// run issues cfg.rate actions per second for cfg.duration, then waits for
// the actions in flight.
func (g *loadGenerator) run(ctx context.Context) (loadStats, error) {
	start := time.Now()
	users := seededUsers()
	ctx, cancel := context.WithTimeout(ctx, g.cfg.duration)
	defer cancel()
	tick := time.NewTicker(time.Second / time.Duration(g.cfg.rate))
	defer tick.Stop()

	inflight := make(chan struct{}, 4*g.cfg.rate+16)
	var wg sync.WaitGroup
	dropped := 0
	g.tel.log.InfoContext(ctx, "load started", "rate", g.cfg.rate, "duration", g.cfg.duration)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
		select {
		case inflight <- struct{}{}:
		default:
			dropped++
			continue
		}
		user := users[rand.N(len(users))]
		if rand.N(20) == 0 {
			user = fmt.Sprintf("guest%04d", rand.N(10000)) // new, with no orders yet
		}
		wg.Go(func() {
			defer func() { <-inflight }()
			// Detached from the deadline: an action started is finished.
			g.act(context.WithoutCancel(ctx), user)
		})
	}
	wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	stats := loadStats{counts: make(map[string]int, len(g.counts)), dropped: dropped, elapsed: time.Since(start)}
	for k, v := range g.counts {
		stats.counts[k] = v
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return stats, err
	}
	return stats, nil
}

// act picks an action for user and runs it in a root span.
func (g *loadGenerator) act(ctx context.Context, user string) {
	g.mu.Lock()
	token := g.tokens[user]
	g.mu.Unlock()

	action := "Log in"
	if token != "" {
		switch p := rand.Float64(); {
		case p < 0.35:
			action = "Fetch my data"
		case p < 0.65:
			action = "Track order"
		case p < 0.92:
			action = "Place order"
		case p < 0.96:
			action = "Reuse old token" // a token from an earlier run: 401 at the gateway
		default:
			action = "Log in" // a fresh session
		}
	}
	slow := rand.Float64() < 0.08
	ctx, span := g.tel.tracer().Start(ctx, "tap "+action, trace.WithNewRoot(), trace.WithAttributes(
		attribute.String("app.action", action), attribute.Bool("app.slow_click", slow),
	))
	err := func() error {
		if slow {
			if err := pause(ctx, 1500*time.Millisecond, "slow click: waiting 1.5 s before sending the request"); err != nil {
				return err
			}
		}
		return g.do(ctx, user, action, token)
	}()
	outcome := "ok"
	if err != nil {
		outcome = "failed"
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		g.tel.log.DebugContext(ctx, "action failed", "action", action, "user", user, "error", err)
	}
	span.End()
	g.mu.Lock()
	g.counts[action+" "+outcome]++
	g.mu.Unlock()
}

func (g *loadGenerator) do(ctx context.Context, user, action, token string) error {
	hdr := http.Header{"Authorization": {"Bearer " + token}}
	base := g.cfg.gatewayURL
	switch action {
	case "Log in":
		var resp loginResponse
		if err := callJSON(ctx, g.client, "gateway", http.MethodPost, base+"/api/login", "/api/login", nil, loginRequest{Username: user}, &resp); err != nil {
			return err
		}
		g.mu.Lock()
		g.tokens[user] = resp.Token
		g.mu.Unlock()
		return nil
	case "Fetch my data":
		return callJSON(ctx, g.client, "gateway", http.MethodGet, base+"/api/me", "/api/me", hdr, nil, nil)
	case "Track order":
		return callJSON(ctx, g.client, "gateway", http.MethodGet, base+"/api/orders/latest/tracking", "/api/orders/{id}/tracking", hdr, nil, nil)
	case "Place order":
		items := []string{"teapot", "kettle", "mug", "tea towel", "strainer"}
		in := placeOrderRequest{Item: items[rand.N(len(items))], Quantity: 1 + rand.N(3)}
		return callJSON(ctx, g.client, "gateway", http.MethodPost, base+"/api/orders", "/api/orders", hdr, in, nil)
	case "Reuse old token":
		// Well-formed, but signed with another run's secret.
		stale := http.Header{"Authorization": {"Bearer " + staleToken}}
		return callJSON(ctx, g.client, "gateway", http.MethodGet, base+"/api/me", "/api/me", stale, nil, nil)
	}
	return fmt.Errorf("unknown action %q", action)
}

// staleToken is an HS256 token for "mallory" signed with a secret no run
// uses, so the gateway's kitjwt verifier rejects it (invalid_signature).
const staleToken = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." +
	"eyJhdWQiOiJjbGV3LXNob3AiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6ImNsZXctc2hvcC1hdXRoIiwic2lkIjoib2xkLXNlc3Npb24iLCJzdWIiOiJtYWxsb3J5In0." +
	"c2lnbmVkLXdpdGgtYW4tb2xkLXNlY3JldC1ub3QtdmFsaWQtYW55bW9yZQ"
