package ui_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clewtrace/clew/internal/model"
)

// orderTrace is a browser click whose request fails in payment (the same
// bug each time, with a different order number and user), or in shipping
// with another error.
func orderTrace(n int, start time.Time, user, session string, shipping bool) []model.Span {
	b := newTrace(fmt.Sprintf("e0000000000000000000000000000%03d", n), start)
	browser := b.resource("web-frontend")
	browser.Attributes = append(browser.Attributes, model.Attribute{Key: "session.id", Value: model.StringValue(session)})
	for i := range browser.Attributes {
		if browser.Attributes[i].Key == "telemetry.sdk.language" {
			browser.Attributes[i].Value = model.StringValue("webjs")
		}
	}
	root := b.add(model.SpanID{}, "web-frontend", "click Place order", model.KindInternal, 0, 400, attrs("enduser.id", user))
	gw := b.add(root, "api-gateway", "POST /api/orders", model.KindServer, 10, 390, attrs("enduser.id", user))
	if shipping {
		b.add(gw, "shipping", "POST /ship", model.KindServer, 20, 380, func(s *model.Span) {
			s.StatusCode = model.StatusError
			s.Events = append(s.Events, model.Event{TimeUnixNano: s.EndUnixNano - 1, Name: "exception", Attributes: []model.Attribute{
				{Key: "exception.type", Value: model.StringValue("PartnerTimeout")},
				{Key: "exception.message", Value: model.StringValue(fmt.Sprintf("partner did not answer within %dms", 3000+n))},
			}})
		})
		return b.spans
	}
	b.add(gw, "payment", "Charge", model.KindServer, 20, 380, attrs("enduser.id", user),
		failed(fmt.Sprintf("card declined for order %d", 1000+n), "PaymentDeclined\n    at payment.charge (payment/charge.go:88)"))
	return b.spans
}

// TestBrowserErrorsAndUserPages: six payment failures by two users and two
// shipping timeouts become two error groups; the group shows its counts,
// users and traces; a failing span of the trace view leads to its group,
// and its enduser.id to the user's timeline.
func TestBrowserErrorsAndUserPages(t *testing.T) {
	now := time.Now()
	var traces [][]model.Span
	users := []string{"alice", "bob", "alice", "alice", "bob", "alice"}
	for i, u := range users {
		traces = append(traces, orderTrace(i+1, now.Add(-time.Duration(30-i)*time.Minute), u, "sess-"+u, false))
	}
	traces = append(traces, orderTrace(7, now.Add(-9*time.Minute), "carol", "sess-carol", true), orderTrace(8, now.Add(-8*time.Minute), "bob", "sess-bob", true))
	app := newTestApp(t, traces...)
	ctx := newBrowser(t)
	dir := artifactDir(t)

	var rows, detail, groupID, userIDs string
	var stored int
	run(t, ctx, "errors list",
		chromedp.Navigate(app.URL+"/errors"),
		waitJS(`document.querySelectorAll('[data-testid=error-row]').length === 2`),
		eval(&rows, `[...document.querySelectorAll('[data-testid=error-row]')].map(r => r.dataset.count + ' ' + r.querySelector('[data-testid=error-users]').textContent + ' ' + r.cells[0].textContent.trim()).join('|')`),
		screenshot(t, dir, "errors-1-list"),
	)
	// The shipping spans carry only the session; the users come from the
	// traces' other spans.
	if !strings.Contains(rows, "6 2 PaymentDeclined: card declined for order <n>") || !strings.Contains(rows, "2 2 PartnerTimeout: partner did not answer within <n>ms") {
		t.Errorf("error rows: %s", rows)
	}
	run(t, ctx, "filter by text",
		chromedp.SendKeys(chromedp.CSS(`[data-testid=errors-filter]`), "timeout\r"),
		waitJS(`location.search.includes('q=timeout') && document.querySelectorAll('[data-testid=error-row]').length === 1`),
		chromedp.Navigate(app.URL+"/errors"),
		waitJS(`document.querySelectorAll('[data-testid=error-row]').length === 2`),
	)
	run(t, ctx, "group detail",
		click(`[data-testid=error-row]:first-child`),
		waitJS(`document.querySelector('[data-testid=error-group]') && document.querySelectorAll('[data-testid=group-trace]').length === 6`),
		text(&detail, `[data-testid=error-group]`),
		eval(&groupID, `document.querySelector('[data-testid=error-group]').dataset.id`),
		eval(&stored, `document.querySelectorAll('[data-testid=group-trace][data-stored=true] a[href^="/trace/"]').length`),
		text(&userIDs, `[data-testid=group-user-ids]`),
		screenshot(t, dir, "errors-2-group"),
	)
	for _, want := range []string{"PaymentDeclined", "card declined for order <n>", "payment", "Charge", "payment.charge"} {
		if !strings.Contains(detail, want) {
			t.Errorf("group detail lacks %q:\n%s", want, detail)
		}
	}
	if stored != 6 || !strings.Contains(userIDs, "alice") || !strings.Contains(userIDs, "bob") {
		t.Errorf("group: %d stored example traces (want 6), users %q", stored, userIDs)
	}

	// From the trace view: the failing span's "error group" link.
	spans := traces[0]
	charge := spanID(t, spans, "Charge")
	var resolved, loc string
	run(t, ctx, "trace → error group",
		chromedp.Navigate(app.URL+"/trace/"+spans[0].TraceID.String()+"?span="+charge.String()),
		waitJS(`!!document.querySelector('[data-testid=span-detail] [data-testid=error-group-link]')`),
		click(`[data-testid=span-detail] [data-testid=error-group-link]`),
		waitJS(`!!document.querySelector('[data-testid=error-group]')`),
		eval(&resolved, `document.querySelector('[data-testid=error-group]').dataset.id`),
	)
	if resolved != groupID {
		t.Errorf("the span's error group is %q, want %q", resolved, groupID)
	}

	// From the trace view: enduser.id → the user's timeline.
	var actions, errs string
	run(t, ctx, "trace → user page",
		chromedp.Navigate(app.URL+"/trace/"+spans[0].TraceID.String()+"?span="+charge.String()),
		waitJS(`!!document.querySelector('[data-testid=span-detail] [data-testid=user-link]')`),
		click(`[data-testid=span-detail] [data-testid=user-link]`),
		waitJS(`location.pathname === '/user' && document.querySelectorAll('[data-testid=user-action]').length === 4`),
		into(&loc, chromedp.Location()),
		eval(&actions, `[...document.querySelectorAll('[data-testid=user-action]')].map(r => r.cells[1].textContent.trim()).join('|')`),
		eval(&errs, `[...document.querySelectorAll('[data-testid=user-action][data-error=true]')].length + ''`),
		screenshot(t, dir, "errors-3-user"),
	)
	if !strings.HasSuffix(loc, "/user?id=alice") || errs != "4" || !strings.Contains(actions, "web-frontend: click Place order browser") {
		t.Errorf("user page at %s: actions %q, %s with errors", loc, actions, errs)
	}

	// From search: the user field.
	var n string
	run(t, ctx, "search by user",
		chromedp.Navigate(app.URL+"/search?service=api-gateway&user=bob"),
		waitJS(`document.querySelectorAll('[data-testid=result]').length === 3 && !!document.querySelector('[data-testid=search-user-link]')`),
		click(`[data-testid=search-user-link]`),
		waitJS(`location.pathname === '/user' && document.querySelectorAll('[data-testid=user-action]').length === 3`),
		chromedp.Navigate(app.URL+"/session?id=sess-carol"),
		waitJS(`document.querySelectorAll('[data-testid=user-action]').length === 1`),
		eval(&n, `document.querySelector('[data-testid=user-action]').dataset.traceId`),
	)
	if n != traces[6][0].TraceID.String() {
		t.Errorf("session page shows trace %s, want %s", n, traces[6][0].TraceID)
	}

	// From the Services page.
	run(t, ctx, "services → errors",
		chromedp.Navigate(app.URL+"/services?service=payment"),
		waitJS(`!!document.querySelector('[data-testid=services-errors-link]')`),
		click(`[data-testid=services-errors-link]`),
		waitJS(`location.pathname === '/errors' && location.search === '?service=payment' && document.querySelectorAll('[data-testid=error-row]').length === 1`),
	)
}
