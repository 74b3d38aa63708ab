package ui_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// requestGate holds the page's requests whose URL matches a pattern until
// the test releases them, so an answer can be made to arrive after the typing
// it answers (as it does on a slow network).
type requestGate struct {
	mu      sync.Mutex
	holding bool
	held    []fetch.RequestID
	arrived chan struct{} // one send per held request
}

func newRequestGate(t *testing.T, ctx context.Context, pattern string) *requestGate {
	t.Helper()
	g := &requestGate{holding: true, arrived: make(chan struct{}, 256)}
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: pattern}}}); err != nil {
		t.Fatalf("intercepting %s: %v", pattern, err)
	}
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			g.mu.Lock()
			hold := g.holding
			if hold {
				g.held = append(g.held, ev.RequestID)
			}
			g.mu.Unlock()
			if hold {
				g.arrived <- struct{}{}
			} else {
				_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
			}
		}
	}()
	return g
}

// hold makes the gate keep the requests that come from now on.
func (g *requestGate) hold() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(context.Context, *chromedp.Target) error {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.holding = true
		return nil
	})
}

// releaseNewestFirst waits until at least one request is held, then lets
// every held request go, the newest first, and lets later ones through.
func (g *requestGate) releaseNewestFirst() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		select {
		case <-g.arrived:
		case <-ctx.Done():
			return ctx.Err()
		}
		g.mu.Lock()
		held := slices.Clone(g.held)
		g.held, g.holding = nil, false
		g.mu.Unlock()
		for len(g.arrived) > 0 {
			<-g.arrived
		}
		slices.Reverse(held)
		for _, id := range held {
			if _, err := chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: id}); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestBrowserTraceQL types a TraceQL query with autocomplete of a field name
// and a value, runs it, and opens a result: the trace view highlights the
// spans the query matched. The autocomplete answers are held until the
// typing is done, so completion must follow the text typed, not the text
// that was there when the answer was asked for.
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
	gate := newRequestGate(t, ctx, "*/api/v2/search/tag*")

	run(t, ctx, "field completion",
		chromedp.Navigate(srv.URL+"/search?service=api-gateway"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=traceql-input]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=traceql-input]`), `{ resource.serv`),
		gate.releaseNewestFirst(),
		waitJS(`[...document.querySelectorAll('[data-testid=traceql-suggestions] li')].some(li => li.textContent === 'resource.service.name')`),
		chromedp.KeyEvent(kb.Tab),
		waitJS(`document.querySelector('[data-testid=traceql-input]').value === '{ resource.service.name '`),
	)
	run(t, ctx, "value completion",
		gate.hold(),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=traceql-input]`), `= "pay`),
		gate.releaseNewestFirst(),
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
