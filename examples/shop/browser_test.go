package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clewtrace/clew/internal/browsertest"
)

func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CLEW_ARTIFACTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "clew-shop-artifacts-"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// click presses the button with the given id and waits until the page has
// finished the action (app.js sets body[data-done] to its label).
func click(id, label string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Click(chromedp.CSS("#"+id)),
		chromedp.WaitReady(chromedp.CSS(`body[data-done="`+label+`"]`)),
	)
}

// text reads an element's text.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("reading %s: %v", sel, err)
	}
	return s
}

// TestBrowserPlaceOrder drives the real page in headless Chromium: the OTel
// JS web SDK exports the browser's spans to Clew's OTLP/HTTP port, and the
// fetch instrumentation's traceparent joins them to the Go services' spans.
func TestBrowserPlaceOrder(t *testing.T) {
	clew := startClew(t)
	shop := startShop(t, clew)
	ctx := browsertest.Start(t, 1100, 1000)

	err := chromedp.Do(ctx,
		chromedp.Navigate(shop.FrontendURL()),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SetValue(chromedp.CSS("#username"), "alice"),
		click("login", "Log in"),
		chromedp.WaitVisible(chromedp.CSS("#shop-box")),
		click("place", "Place order"),
	)
	if err != nil {
		t.Fatalf("driving the shop page: %v", err)
	}
	status := text(t, ctx, "#status")
	pageTraceID := text(t, ctx, "#trace-id")
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(artifactsDir(t), "shop-page.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	if !strings.Contains(status, "Place order: done") {
		t.Fatalf("page status %q, want success", status)
	}

	// Find the trace the way a user would: the browser's root spans.
	q := url.Values{"service": {"frontend"}, "operation": {"click Place order"}, "limit": {"20"}}
	traceID := searchTraces(t, clew.Query, q, func(found []jTrace) string {
		for i := range found {
			roots, _ := found[i].roots()
			for _, r := range roots {
				if found[i].service(r) == "frontend" && r.OperationName == "click Place order" {
					return found[i].TraceID
				}
			}
		}
		return ""
	})
	if traceID != pageTraceID {
		t.Errorf("Clew's frontend trace %s is not the one the page shows (%s)", traceID, pageTraceID)
	}
	want := append(placeOrderSpans(),
		spanSpec{"frontend", "click Place order", ""},
		spanSpec{"frontend", "POST", "client"},
	)
	tr := waitForTrace(t, clew.Query, traceID, complete(want))
	checkPlaceOrder(t, tr, "frontend", "click Place order", "alice")

	// The fetch span is the gateway's parent: traceparent crossed the CORS
	// boundary from the browser.
	fetches := tr.spans("frontend", "POST", "client")
	gw := tr.spans("gateway", "POST /api/orders", "server")
	if len(fetches) != 1 || len(gw) != 1 || gw[0].parent() != fetches[0].SpanID {
		t.Errorf("the gateway's server span should be a child of the browser's fetch span:%s", tr.describe())
	}

	t.Run("slow click", func(t *testing.T) {
		err := chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS("#slow")),
			click("fetch", "Fetch my data"),
		)
		if err != nil {
			t.Fatalf("slow click: %v", err)
		}
		slowTraceID := text(t, ctx, "#trace-id")
		tr := waitForTrace(t, clew.Query, slowTraceID, complete([]spanSpec{
			{"frontend", "click Fetch my data", ""},
			{"frontend", "GET", "client"},
			{"gateway", "GET /api/me", "server"},
			{"orders", "SELECT orders", "client"},
		}))
		root := tr.spans("frontend", "click Fetch my data", "")[0]
		fetch := tr.spans("frontend", "GET", "client")[0]
		if gap := time.Duration(fetch.StartTime-root.StartTime) * time.Microsecond; gap < 1400*time.Millisecond {
			t.Errorf("the request left %v after the click, want the ~1.5 s slow-click gap", gap)
		}
	})
}
