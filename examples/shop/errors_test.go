package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clewtrace/clew/internal/api/errorsapi"
	"github.com/clewtrace/clew/internal/browsertest"
)

// TestShopFailuresBecomeErrorGroups forces the shop's failures for two
// users and checks that Clew's error groups count them exactly, per
// service, with the right users and each failure's error log joined.
func TestShopFailuresBecomeErrorGroups(t *testing.T) {
	clew := startClew(t)
	shop := startShop(t, clew)
	client := newTestClient(t, clew)
	tokens := map[string]string{"alice": login(t, client, shop, "alice"), "bob": login(t, client, shop, "bob")}
	plan := []struct {
		user, fail string
		n          int
	}{
		{"alice", "auth", 3}, {"bob", "auth", 2},
		{"alice", "partner", 2}, {"bob", "partner", 1},
		{"alice", "bounce", 2}, {"bob", "bounce", 2},
		{"alice", "none", 2}, {"bob", "none", 1},
	}
	aliceTraces := map[string]bool{}
	for _, p := range plan {
		for range p.n {
			traceID, err := placeOrder(t, client, shop, tokens[p.user], p.fail)
			if p.user == "alice" {
				aliceTraces[traceID] = true
			}
			// A bounce happens in the worker after the order succeeded.
			if (p.fail == "none" || p.fail == "bounce") && err != nil {
				t.Fatalf("order with forced failure %q: %v", p.fail, err)
			}
			if p.fail == "auth" || p.fail == "partner" {
				checkStatus(t, err, http.StatusBadGateway)
			}
		}
	}
	// The failing server spans: auth fails for 5 orders and the gateway
	// reports it; the partner fails for 3 and shipping, orders and the
	// gateway report it. Each is a group with its count and both users.
	want := map[string]uint64{
		"auth POST /check":                5,
		"gateway POST /api/orders|5":      5,
		"partner POST /v2/bookings":       3,
		"shipping POST /shipments":        3,
		"orders POST /orders":             3,
		"gateway POST /api/orders|3":      3,
		"worker send confirmation e-mail": 4,
		"worker process shop.email.*":     4,
	}
	// Every group has its failure's log line joined, except the worker's
	// consumer span: the worker logs inside its child span.
	wantLogs := func(key string) uint64 {
		if key == "worker process shop.email.*" {
			return 0
		}
		return want[key]
	}
	u := "http://" + clew.Query + errorsapi.Path + "?limit=50"
	var got []errorsapi.GroupJSON
	describe := func() string {
		var b strings.Builder
		for _, g := range got {
			fmt.Fprintf(&b, "\n  %s %s %s: %s: %s ×%d logs %d users %v", g.ID, g.Service, g.Operation, g.Type, g.Pattern, g.Count, g.Logs, g.UserIDs)
		}
		return b.String()
	}
	key := func(g errorsapi.GroupJSON) string {
		k := g.Service + " " + g.Operation
		if g.Service == "gateway" {
			k += fmt.Sprintf("|%d", g.Count)
		}
		return k
	}
	settled := func() bool {
		if len(got) != len(want) {
			return false
		}
		for _, g := range got {
			if want[key(g)] != g.Count || g.Logs != wantLogs(key(g)) || len(g.UserIDs) != 2 {
				return false
			}
		}
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), pollDeadline)
	defer cancel()
	for {
		var list errorsapi.ListResponse
		if ok, err := getJSON(ctx, u, &list); err != nil && ctx.Err() == nil {
			t.Fatalf("GET %s: %v", u, err)
		} else if ok {
			got = list.Groups
		}
		if settled() {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("error groups never matched the forced failures; last seen:%s", describe())
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	t.Logf("error groups:%s", describe())
	for _, g := range got {
		users := slices.Clone(g.UserIDs)
		sort.Strings(users)
		if strings.Join(users, ",") != "alice,bob" {
			t.Errorf("group %s %s: users %v", g.Service, g.Operation, users)
		}
		if g.Type == "" || g.Pattern == "" {
			t.Errorf("group %s %s lacks a type or message: %+v", g.Service, g.Operation, g)
		}
	}

	// The same in the UI: the Errors page, a group, and alice's page.
	bctx := browsertest.Start(t, 1100, 1000)
	var rows, users string
	var listed []string
	err := chromedp.Do(bctx,
		chromedp.Navigate("http://"+clew.Query+"/errors"),
		poll(`document.querySelectorAll('[data-testid=error-row]').length === 8`),
	)
	if err != nil {
		t.Fatalf("Errors page: %v", err)
	}
	rows, err = chromedp.Run(bctx, chromedp.Evaluate[string](`[...document.querySelectorAll('[data-testid=error-row]')].map(r => r.dataset.count).join(',')`))
	if err != nil || rows != "5,5,4,4,3,3,3,3" {
		t.Errorf("Errors page counts %q (%v), want 5,5,4,4,3,3,3,3", rows, err)
	}
	err = chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`[data-testid=error-row]:first-child`)),
		poll(`document.querySelectorAll('[data-testid=group-trace][data-stored=true]').length === 5`),
	)
	if err != nil {
		t.Fatalf("error group: %v", err)
	}
	users = text(t, bctx, `[data-testid=group-user-ids]`)
	if !strings.Contains(users, "alice") || !strings.Contains(users, "bob") {
		t.Errorf("group users %q", users)
	}
	err = chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`[data-testid=group-user-ids] a[href="/user?id=alice"]`)),
		poll(fmt.Sprintf(`location.pathname === '/user' && document.querySelectorAll('[data-testid=user-action]').length >= %d`, len(aliceTraces))),
	)
	if err != nil {
		t.Fatalf("alice's page: %v", err)
	}
	listed, err = chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid=user-action]')].map(r => r.dataset.traceId)`))
	if err != nil {
		t.Fatal(err)
	}
	for id := range aliceTraces {
		if !slices.Contains(listed, id) {
			t.Errorf("alice's page lacks her trace %s (lists %v)", id, listed)
		}
	}
	failed, _ := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid=user-action][data-error=true]').length`))
	// Her 5 failed orders and her 2 orders whose e-mail bounced: a trace
	// with an error span is marked even when its root succeeded.
	if failed != 7 {
		t.Errorf("alice's page marks %d traces failed, want 7 (5 failed orders, 2 bounces)", failed)
	}
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err == nil {
		path := filepath.Join(artifactsDir(t), "shop-user-page.png")
		if os.WriteFile(path, shot, 0o644) == nil {
			t.Logf("screenshot: %s", path)
		}
	}
}

// poll waits until a JavaScript condition holds on the page.
func poll(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expr)(ctx, tg)
		return err
	})
}
