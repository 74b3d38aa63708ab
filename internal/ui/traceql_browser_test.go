package ui_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestBrowserTraceQL types a TraceQL query with autocomplete of a field name
// and a value, runs it, and opens a result: the trace view highlights the
// spans the query matched.
func TestBrowserTraceQL(t *testing.T) {
	now := time.Now()
	srv := newTestApp(t,
		checkoutTrace(checkoutID, now.Add(-10*time.Minute), false),
		checkoutTrace(checkoutSlowID, now.Add(-5*time.Minute), true),
		inventoryTrace(now.Add(-20*time.Minute)),
	)
	ctx := newBrowser(t)
	dir := artifactDir(t)
	var s, loc, val string
	var n int

	run(t, ctx, "field completion",
		chromedp.Navigate(srv.URL+"/search?service=api-gateway"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=traceql-input]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=traceql-input]`), `{ resource.serv`),
		waitJS(`[...document.querySelectorAll('[data-testid=traceql-suggestions] li')].some(li => li.textContent === 'resource.service.name')`),
		chromedp.KeyEvent(kb.Tab),
		waitJS(`document.querySelector('[data-testid=traceql-input]').value === '{ resource.service.name '`),
	)
	run(t, ctx, "value completion",
		chromedp.SendKeys(chromedp.CSS(`[data-testid=traceql-input]`), `= "pay`),
		waitJS(`[...document.querySelectorAll('[data-testid=traceql-suggestions] li')].map(li => li.textContent).join() === 'payment'`),
		chromedp.KeyEvent(kb.Tab),
		into(&val, chromedp.Value(chromedp.CSS(`[data-testid=traceql-input]`))),
	)
	if val != `{ resource.service.name = "payment"` {
		t.Fatalf("after completing the value: %q", val)
	}
	run(t, ctx, "run query",
		chromedp.SendKeys(chromedp.CSS(`[data-testid=traceql-input]`), ` } >> { .db.system.name = "postgresql" }`),
		click(`[data-testid=traceql-run]`),
		waitJS(`document.querySelector('[data-testid=result-count]')?.textContent === '2 traces'`),
		into(&loc, chromedp.Location()),
		text(&s, `[data-testid=result][data-trace-id$="2"] [data-testid=matched-badge]`),
		screenshot(t, dir, "traceql-search"),
	)
	if !strings.Contains(loc, "q=") || s != "2 matched" {
		t.Errorf("TraceQL search: at %s, slow trace badge %q; want q= in the URL and 2 matched", loc, s)
	}
	run(t, ctx, "open result",
		click(`[data-testid=result][data-trace-id$="2"] a`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=traceql-count]`)),
		text(&s, `[data-testid=traceql-count]`),
		eval(&n, `document.querySelectorAll('[data-testid=row].match').length`),
		screenshot(t, dir, "traceql-trace"),
	)
	if s != "TraceQL: 2 spans" || n != 2 {
		t.Errorf("trace view: badge %q, %d highlighted rows; want 2 spans (the INSERTs under payment)", s, n)
	}

	// A malformed query shows the parser's message, with the position.
	run(t, ctx, "bad query",
		chromedp.Navigate(srv.URL+`/search?q=%7B+.a+%3D+%7D`),
		chromedp.WaitVisible(chromedp.CSS(`[role=alert]`)),
		text(&s, `[role=alert]`),
	)
	if !strings.Contains(s, "position 8") {
		t.Errorf("error shown: %q", s)
	}
}
