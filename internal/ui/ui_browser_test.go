package ui_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/clewtrace/clew/internal/browsertest"
	"github.com/clewtrace/clew/internal/model"
)

// newBrowser starts headless Chromium with the viewport the UI tests assume.
func newBrowser(t testing.TB) context.Context {
	t.Helper()
	return browsertest.Start(t, 1280, 800)
}

// artifactDir is $CLEW_ARTIFACTS, or a fresh temp dir kept after the test so
// the screenshots can be looked at.
func artifactDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("CLEW_ARTIFACTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "clew-ui-"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(t testing.TB, dir, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		buf, err := chromedp.CaptureScreenshot()(ctx, tg)
		if err != nil {
			return fmt.Errorf("screenshot %s: %w", name, err)
		}
		p := filepath.Join(dir, name+".png")
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			return fmt.Errorf("screenshot %s: %w", name, err)
		}
		t.Logf("screenshot: %s", p)
		return nil
	})
}

// waitJS polls a JavaScript condition until it is true: the page's own
// state, never a fixed sleep.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return void(chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second)))
}

// into runs a value-returning action and stores its value in dst.
func into[T any](dst *T, a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		v, err := a(ctx, tg)
		*dst = v
		return err
	})
}

func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := a(ctx, tg)
		return err
	})
}

func text(dst *string, sel string) chromedp.Action[chromedp.Void] {
	return into(dst, chromedp.Text(chromedp.CSS(sel)))
}

func eval[T any](dst *T, expr string) chromedp.Action[chromedp.Void] {
	return into(dst, chromedp.Evaluate[T](expr))
}

func click(sel string) chromedp.Action[chromedp.Void] { return chromedp.Click(chromedp.CSS(sel)) }

func run(t testing.TB, ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		var loc, body string
		_ = chromedp.Do(ctx, into(&loc, chromedp.Location()), eval(&body, `document.body.innerText.slice(0, 2000)`))
		t.Fatalf("%s: %v\nat %s\npage text:\n%s", step, err, loc, body)
	}
}

// seedLogsOf is the checkout trace's log lines: two under the gateway, one
// under GetCart and two (one an ERROR) under the failing Charge.
func checkoutLogs(t *testing.T, spans []model.Span, start time.Time) []seedLog {
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	gw, cart, pay := spanID(t, spans, "POST /api/checkout"), spanID(t, spans, "GetCart"), spanID(t, spans, "Charge")
	return []seedLog{
		{"api-gateway", gw, at(1401), plog.SeverityNumberInfo, "checkout request received", []string{"http.route", "/api/checkout"}},
		{"cart", cart, at(1415), plog.SeverityNumberDebug, "cart loaded", []string{"cart.items", "3"}},
		{"payment", pay, at(1505), plog.SeverityNumberInfo, "charging card", []string{"payment.amount", "42.00"}},
		{"payment", pay, at(1890), plog.SeverityNumberError, "card declined by issuer", []string{"attempt", "1"}},
		{"api-gateway", gw, at(1948), plog.SeverityNumberWarn, "upstream payment failed, returning 502", nil},
	}
}

func TestBrowserScenario(t *testing.T) {
	now := time.Now()
	checkout := checkoutTrace(checkoutID, now.Add(-10*time.Minute), false)
	srv := newTestApp(t,
		checkout,
		checkoutTrace(checkoutSlowID, now.Add(-5*time.Minute), true),
		inventoryTrace(now.Add(-20*time.Minute)),
	)
	srv.seedLogs(t, checkout[0].TraceID, checkoutLogs(t, checkout, now.Add(-10*time.Minute)))
	ctx := newBrowser(t)
	dir := artifactDir(t)
	var n int
	var s, loc string

	// "/" lands on the search page with the first service selected and its
	// traces listed.
	run(t, ctx, "search",
		chromedp.Navigate(srv.URL+"/"),
		waitJS(`document.querySelectorAll('[data-testid=result]').length === 2`),
		into(&loc, chromedp.Location()),
		text(&s, `[data-testid=result-count]`),
		eval(&n, `document.querySelectorAll('[data-testid=scatter] circle').length`),
	)
	if !strings.HasSuffix(loc, "/search?service=api-gateway") || s != "2 traces" || n != 2 {
		t.Errorf("search: at %s, %q, %d scatter dots; want service=api-gateway, 2 traces, 2 dots", loc, s, n)
	}
	// One /api/clew/logs/count call gives each result its log lines.
	var counts string
	run(t, ctx, "log counts in results",
		waitJS(`document.querySelectorAll('[data-testid=result] [data-testid=log-count]').length === 2`),
		eval(&counts, `[...document.querySelectorAll('[data-testid=result]')].map(r => r.dataset.traceId.slice(-1) + ':' + r.querySelector('[data-testid=log-count]').textContent).sort().join(',')`),
	)
	if counts != "1:5 logs,2:0 logs" {
		t.Errorf("log counts in search results = %q, want 1:5 logs,2:0 logs", counts)
	}
	run(t, ctx, "search screenshot", screenshot(t, dir, "1-search"))

	// Tag filter through the form: error=true keeps both (both fail), a
	// non-matching tag empties the list; the URL carries the search.
	run(t, ctx, "tag search",
		chromedp.SendKeys(chromedp.CSS(`#f-tags`), `http.response.status_code=200`),
		click(`[data-testid=search-submit]`),
		waitJS(`document.querySelector('[data-testid=result-count]')?.textContent === '0 traces'`),
		into(&loc, chromedp.Location()),
	)
	if !strings.Contains(loc, "tags=http.response.status_code%3D200") {
		t.Errorf("search URL %s does not carry the tags", loc)
	}
	run(t, ctx, "back to the previous search",
		chromedp.NavigateBack(),
		waitJS(`document.querySelectorAll('[data-testid=result]').length === 2`),
	)

	// Open the first checkout trace from the results.
	run(t, ctx, "open trace",
		click(`[data-testid=result][data-trace-id="`+checkoutID+`"] a`),
		waitJS(`document.querySelector('[data-testid=trace-view]') !== null && document.querySelectorAll('[data-testid=row]').length === 7`),
		into(&loc, chromedp.Location()),
		text(&s, `[data-testid=trace-title]`),
	)
	if !strings.HasSuffix(loc, "/trace/"+checkoutID) || s != "web-frontend: page load /checkout" {
		t.Errorf("trace view at %s titled %q", loc, s)
	}

	// The critical path is marked, and the root's 1.4 s late start is a gap.
	var gapText string
	run(t, ctx, "critical path and gap",
		waitJS(`document.querySelectorAll('[data-testid=crit]').length > 0`),
		eval(&n, `document.querySelectorAll('[data-testid=crit]').length`),
		text(&gapText, `[data-testid=row]:first-child [data-testid=gap]`),
	)
	if gapText != "1.4s gap" {
		t.Errorf("gap label on the root row = %q, want 1.4s gap", gapText)
	}
	if n < 5 {
		t.Errorf("%d critical-path segments shown, want at least 5", n)
	}

	// The seeded log lines are inline under their spans, with a count badge
	// on each span that has some; the badge folds them away.
	var badges, logRows string
	run(t, ctx, "logs inline",
		waitJS(`document.querySelectorAll('[data-testid=log-row]').length === 5`),
		eval(&badges, `[...document.querySelectorAll('[data-testid=row]')].filter(r => r.querySelector('[data-testid=log-badge]')).map(r => r.querySelector('.oname').textContent + '=' + r.querySelector('[data-testid=log-badge]').textContent.replace(/[▸▾]/, '').trim()).join('|')`),
		eval(&logRows, `[...document.querySelectorAll('[data-testid=log-row]')].map(r => r.dataset.severity + ':' + r.querySelector('.logbody').textContent).join('|')`),
	)
	if badges != "POST /api/checkout=2 logs|GetCart=1 log|Charge=2 logs" {
		t.Errorf("log badges = %q", badges)
	}
	if logRows != "info:checkout request received|warn:upstream payment failed, returning 502|debug:cart loaded|info:charging card|error:card declined by issuer" {
		t.Errorf("inline log rows = %q", logRows)
	}
	run(t, ctx, "trace with logs screenshot", screenshot(t, dir, "2-trace-logs"))
	run(t, ctx, "fold a span's logs",
		click(`[data-testid=row][aria-level="2"] [data-testid=log-badge]`),
		waitJS(`document.querySelectorAll('[data-testid=log-row]').length === 3`),
		click(`[data-testid=row][aria-level="2"] [data-testid=log-badge]`),
		waitJS(`document.querySelectorAll('[data-testid=log-row]').length === 5`),
	)

	// Collapse the gateway (4 descendants hidden), then expand it again.
	gwRow := `[data-testid=row][aria-level="2"][aria-expanded]`
	run(t, ctx, "collapse",
		click(gwRow+` [data-testid=toggle]`),
		waitJS(`document.querySelectorAll('[data-testid=row]').length === 3`),
		click(gwRow+` [data-testid=toggle]`),
		waitJS(`document.querySelectorAll('[data-testid=row]').length === 7`),
	)

	// Span detail of the failing payment span.
	var detail, stack string
	run(t, ctx, "span detail",
		chromedp.Click(`//div[@data-testid="row"][.//span[text()="Charge"]]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=span-detail]`)),
		text(&detail, `[data-testid=span-detail]`),
		text(&stack, `[data-testid=stacktrace]`),
		eval(&n, `document.querySelectorAll('[data-testid=span-logs] .slog').length`),
		into(&loc, chromedp.Location()),
	)
	for _, want := range []string{"Charge", "payment", "ERROR", "card declined by issuer", "payment.amount", "host.name", "payment-7f9c", "PaymentDeclined", "charging card"} {
		if !strings.Contains(detail, want) {
			t.Errorf("span detail lacks %q:\n%s", want, detail)
		}
	}
	if n != 2 {
		t.Errorf("span detail shows %d log lines, want 2", n)
	}
	if !strings.Contains(stack, "payment/charge.go:88") {
		t.Errorf("stack trace not shown: %q", stack)
	}
	if !strings.Contains(loc, "?span=") {
		t.Errorf("selecting a span did not deep-link it: %s", loc)
	}
	run(t, ctx, "trace screenshot", screenshot(t, dir, "2-trace-detail"))

	// The Logs tab lists all five lines; a line's span link selects that
	// span back in the timeline.
	var logsTab string
	run(t, ctx, "logs tab",
		click(`[data-testid=tab-logs]`),
		waitJS(`document.querySelectorAll('[data-testid=log-line]').length === 5`),
		text(&logsTab, `[data-testid=logs-tab]`),
		screenshot(t, dir, "2-trace-logs-tab"),
		chromedp.Click(`//tr[@data-testid="log-line"][.//div[text()="cart loaded"]]//a[@data-testid="log-span-link"]`),
		waitJS(`!location.search.includes('tab=logs') && document.querySelector('[data-testid=rows]')?.offsetHeight > 0 && document.querySelector('[data-testid=span-detail] h2')?.textContent.startsWith('GetCart')`),
		into(&loc, chromedp.Location()),
	)
	for _, want := range []string{"checkout request received", "cart loaded", "charging card", "card declined by issuer", "upstream payment failed, returning 502",
		"api-gateway", "cart", "payment", "ERROR", "WARN", "DEBUG", "attempt=1", "cart.items=3", "http.route=/api/checkout", "POST /api/checkout", "GetCart", "Charge"} {
		if !strings.Contains(logsTab, want) {
			t.Errorf("Logs tab lacks %q:\n%s", want, logsTab)
		}
	}
	if !strings.Contains(loc, "span=") || strings.Contains(loc, "tab=logs") {
		t.Errorf("after following a log line to its span: %s", loc)
	}

	// Find-in-trace counts matches; the link on the confirmation span leads
	// to the linked trace.
	run(t, ctx, "find",
		chromedp.SendKeys(chromedp.CSS(`[data-testid=find]`), "postgres"),
		waitJS(`document.querySelector('[data-testid=find-count]')?.textContent === '– of 2'`),
		chromedp.Click(`//div[@data-testid="row"][.//span[text()="render confirmation"]]`),
		click(`[data-testid=links] a`),
		waitJS(`location.pathname === '/trace/`+inventoryID+`' && document.querySelectorAll('[data-testid=row]').length === 2`),
	)

	// Dark theme, and back to the checkout trace with the browser's history.
	run(t, ctx, "dark theme",
		chromedp.NavigateBack(),
		waitJS(`location.pathname === '/trace/`+checkoutID+`' && document.querySelectorAll('[data-testid=row]').length === 7`),
		click(`[data-testid=theme]`),
		waitJS(`document.documentElement.dataset.theme === 'dark'`),
		screenshot(t, dir, "3-trace-dark"),
		click(`[data-testid=theme]`),
		waitJS(`document.documentElement.dataset.theme === 'light'`),
	)

	// Service map. Clew's service graph (span metrics) is used when the
	// server has it; otherwise Jaeger's dependencies, whose call counts for
	// the seeded traces are known exactly. Clicking a service searches it.
	var edgeLabels, source string
	run(t, ctx, "service map",
		chromedp.Navigate(srv.URL+"/map"),
		waitJS(`document.querySelector('[data-testid=map-source]') !== null && document.querySelectorAll('[data-testid=node]').length >= 6`),
		eval(&source, `document.querySelector('[data-testid=map-source]').dataset.source`),
		eval(&edgeLabels, `[...document.querySelectorAll('[data-testid=edge]')].map(e => [...e.querySelectorAll('text')].map(x => x.textContent).join(' / ')).sort().join(',')`),
		eval(&n, `document.querySelectorAll('[data-testid=node]:not([data-virtual])').length`),
		screenshot(t, dir, "4-map"),
		click(`[data-testid=node][data-service=payment]`),
		waitJS(`location.pathname + location.search === '/search?service=payment' && document.querySelectorAll('[data-testid=result]').length === 2`),
	)
	t.Logf("service map from %s: %s", source, edgeLabels)
	switch source {
	case "dependencies":
		// api-gateway→cart 3 (1+2), →payment 2, payment→postgres 3, cart→postgres 2,
		// web-frontend→api-gateway 2, inventory→postgres 1.
		if edgeLabels != "1,2,2,2,3,3" || n != 6 {
			t.Errorf("dependencies map: %d services, edge labels %q, want 6 and 1,2,2,2,3,3", n, edgeLabels)
		}
	case "servicegraph":
		if n != 6 || !strings.Contains(edgeLabels, "calls / ") || !strings.Contains(edgeLabels, "err · p95 ") {
			t.Errorf("service-graph map: %d services, edge labels %q", n, edgeLabels)
		}
	default:
		t.Errorf("map source %q", source)
	}

	// Compare the fast and the slow checkout.
	var rowsState string
	run(t, ctx, "compare",
		chromedp.Navigate(srv.URL+"/compare?a="+checkoutID+"&b="+checkoutSlowID),
		waitJS(`document.querySelectorAll('[data-testid=compare-row]').length > 0`),
		eval(&rowsState, `[...document.querySelectorAll('[data-testid=compare-row]')].filter(r => r.dataset.state !== 'same').map(r => r.dataset.state + ':' + r.children[1].textContent.trim().split(' ')[0]).join(',')`),
		screenshot(t, dir, "5-compare"),
	)
	for _, want := range []string{"added:ReserveItems", "changed:INSERT"} {
		if !strings.Contains(rowsState, want) {
			t.Errorf("compare rows %q lack %q", rowsState, want)
		}
	}
	// Services page: with span metrics it lists the seeded services; a
	// server without them (404) gets an explanation instead of an error.
	var svcState, svcText string
	run(t, ctx, "services page",
		click(`.nav a[href="/services"]`),
		waitJS(`location.pathname === '/services' && document.querySelector('[data-testid=services-unavailable], [data-testid=services-table], [data-testid=services-empty]') !== null`),
		eval(&svcState, `document.querySelector('[data-testid=services-unavailable], [data-testid=services-table], [data-testid=services-empty]').dataset.testid`),
		text(&svcText, `[data-testid=services-page]`),
		screenshot(t, dir, "7-services"),
	)
	t.Logf("services page: %s", svcState)
	switch svcState {
	case "services-unavailable":
		if !strings.Contains(svcText, "Service metrics are not available") || !strings.Contains(svcText, "/api/clew/metrics/services") {
			t.Errorf("services empty state: %q", svcText)
		}
	case "services-table":
		for _, want := range []string{"api-gateway", "cart", "payment", "web-frontend", "inventory"} {
			if !strings.Contains(svcText, want) {
				t.Errorf("services table lacks %q:\n%s", want, svcText)
			}
		}
		run(t, ctx, "real service detail",
			click(`[data-testid=service-row][data-service=payment]`),
			waitJS(`document.querySelectorAll('[data-testid=operation-row]').length >= 1 && document.querySelectorAll('[data-testid=chart]').length === 3`),
			text(&svcText, `[data-testid=service-detail]`),
			screenshot(t, dir, "7-services-payment"),
		)
		if !strings.Contains(svcText, "Charge") {
			t.Errorf("payment's operations lack Charge:\n%s", svcText)
		}
	default:
		t.Errorf("services page shows %s for seeded traces", svcState)
	}
	t.Logf("artifacts in %s", dir)
}

// TestBrowserServicesPage drives the Services page and the service-graph map
// over the span-metrics contract, served by metricsStandIn in front of the
// real app (which also answers the trace searches the page links to).
func TestBrowserServicesPage(t *testing.T) {
	now := time.Now()
	app := newTestApp(t, checkoutTrace(checkoutID, now.Add(-10*time.Minute), false), checkoutTrace(checkoutSlowID, now.Add(-5*time.Minute), true))
	m := newMetricsStandIn(t, app)
	ctx := newBrowser(t)
	dir := artifactDir(t)
	var order, detail, slow, failed string
	var charts int
	run(t, ctx, "services table",
		chromedp.Navigate(m.URL+"/services"),
		waitJS(`document.querySelectorAll('[data-testid=service-row]').length === 5`),
		eval(&order, `[...document.querySelectorAll('[data-testid=service-row]')].map(r => r.dataset.service).join(',')`),
		screenshot(t, dir, "8-services"),
	)
	// Default order: highest rate first.
	if order != "cart,api-gateway,payment,web-frontend,inventory" {
		t.Errorf("services by rate = %s", order)
	}
	run(t, ctx, "sort by p95",
		click(`[data-testid=services-table] th[data-sort=p95Ms]`),
		waitJS(`document.querySelector('[data-testid=service-row]').dataset.service === 'web-frontend'`),
		eval(&order, `[...document.querySelectorAll('[data-testid=service-row]')].map(r => r.dataset.service).join(',')`),
		click(`[data-testid=services-table] th[data-sort=p95Ms]`),
		waitJS(`document.querySelector('[data-testid=service-row]').dataset.service === 'cart'`),
	)
	if order != "web-frontend,api-gateway,payment,inventory,cart" {
		t.Errorf("services by p95 descending = %s", order)
	}
	run(t, ctx, "service detail",
		click(`[data-testid=service-row][data-service=payment]`),
		waitJS(`location.search === '?service=payment' && document.querySelectorAll('[data-testid=operation-row]').length === 2 && document.querySelectorAll('[data-testid=chart] path.series').length >= 3`),
		text(&detail, `[data-testid=service-detail]`),
		eval(&charts, `document.querySelectorAll('[data-testid=chart]').length`),
		eval(&slow, `document.querySelector('[data-testid=operation-row][data-operation=Charge] [data-testid=slow-traces]').getAttribute('href')`),
		eval(&failed, `document.querySelector('[data-testid=operation-row][data-operation=Charge] [data-testid=failed-traces]').getAttribute('href')`),
		screenshot(t, dir, "9-service-detail"),
	)
	for _, want := range []string{"payment", "Charge", "Refund", "7.0%", "413ms", "8.4%", "Rate", "Errors", "p95 duration"} {
		if !strings.Contains(detail, want) {
			t.Errorf("service detail lacks %q:\n%s", want, detail)
		}
	}
	if charts != 3 {
		t.Errorf("%d charts, want rate, errors and p95", charts)
	}
	// Idle minutes (p95 null) are a gap in the p95 line, not a drop to 0 ms;
	// the rate axis has one unit.
	var p95Runs int
	var rateTicks []string
	run(t, ctx, "chart gaps and units",
		eval(&p95Runs, `document.querySelectorAll('[data-testid=chart][data-field=p95Ms] path.series').length`),
		eval(&rateTicks, `[...document.querySelectorAll('[data-testid=chart][data-field=ratePerSec] .ytick')].map(e => e.textContent)`),
	)
	if p95Runs != 2 {
		t.Errorf("p95 chart has %d line runs, want 2 (a gap for the idle minutes)", p95Runs)
	}
	if len(rateTicks) < 2 {
		t.Errorf("rate ticks %q", rateTicks)
	}
	for _, tick := range rateTicks {
		if !strings.HasSuffix(tick, "/s") {
			t.Errorf("rate axis mixes units: %q", rateTicks)
			break
		}
	}
	if slow != "/search?service=payment&operation=Charge&minDuration=412500us&sort=longest" {
		t.Errorf("slow traces link %s", slow)
	}
	if failed != "/search?service=payment&operation=Charge&tags=error%3Dtrue" {
		t.Errorf("failed traces link %s", failed)
	}
	// The failed-traces link runs a real search: both checkouts fail in Charge.
	run(t, ctx, "failed traces",
		click(`[data-testid=operation-row][data-operation=Charge] [data-testid=failed-traces]`),
		waitJS(`location.pathname === '/search' && document.querySelectorAll('[data-testid=result]').length === 2`),
	)
	reqs := m.requests()
	for _, want := range []string{"/api/clew/metrics/services?start=", "/api/clew/metrics/operations?service=payment&start=", "/api/clew/metrics/timeseries?service=payment&start=", "step=60s"} {
		if !strings.Contains(reqs, want) {
			t.Errorf("metrics requests lack %q:\n%s", want, reqs)
		}
	}

	// The map uses the service graph: labels with error rate and p95, and
	// postgres as a virtual node that is not a link.
	var labels string
	run(t, ctx, "service graph map",
		chromedp.Navigate(m.URL+"/map"),
		waitJS(`document.querySelector('[data-testid=map-source]')?.dataset.source === 'servicegraph' && document.querySelectorAll('[data-testid=node]').length === 6`),
		eval(&labels, `[...document.querySelectorAll('[data-testid=edge]')].map(e => [...e.querySelectorAll('text')].map(x => x.textContent).join(' / ')).sort().join('|')`),
		eval(&charts, `document.querySelectorAll('[data-testid=node][data-virtual=true]').length`),
		screenshot(t, dir, "10-map-servicegraph"),
	)
	if charts != 1 || !strings.Contains(labels, "3600 calls / 7.0% err · p95 413ms") || !strings.Contains(labels, "7200 calls / 0% err · p95 9ms") {
		t.Errorf("service graph: %d virtual nodes, edge labels %s", charts, labels)
	}
}

func TestBrowserEmptyState(t *testing.T) {
	srv := newTestApp(t)
	ctx := newBrowser(t)
	var s string
	run(t, ctx, "empty state",
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=empty-state]`)),
		text(&s, `[data-testid=empty-state]`),
		screenshot(t, artifactDir(t), "0-empty"),
	)
	// The addresses this server listens on (loopback, random ports here),
	// not the default ports.
	if !strings.Contains(s, "No traces yet") || !strings.Contains(s, "OTEL_EXPORTER_OTLP_ENDPOINT="+srv.OTLP+"\n") ||
		!strings.Contains(s, "over gRPC on "+srv.GRPC) || !strings.Contains(s, "over HTTP at "+srv.OTLP) {
		t.Errorf("empty state text (OTLP at %s and %s): %q", srv.GRPC, srv.OTLP, s)
	}
}

// TestBrowserLargeTrace opens a 10,000-span trace and checks what the user
// must see: the trace, no error, a virtualised waterfall whose every row is
// reachable by scrolling, and the critical path drawn. How long it takes is
// measured by BenchmarkBrowserLargeTrace, not asserted here: this machine is
// shared and its speed varies several-fold.
func TestBrowserLargeTrace(t *testing.T) {
	const id = "b16b16b16b16b16b16b16b16b16b16b1"
	srv := newTestApp(t, bigTrace(id, time.Now().Add(-time.Minute), 10_000))
	ctx := newBrowser(t)
	var spans string
	var rows, crit, errs int
	run(t, ctx, "large trace",
		chromedp.Navigate(srv.URL+"/trace/"+id),
		waitJS(`document.querySelector('[data-testid=trace-view]')?.dataset.renderMs > 0`),
		text(&spans, `[data-testid=trace-spans]`),
		eval(&rows, `document.querySelectorAll('[data-testid=row]').length`),
		eval(&crit, `document.querySelectorAll('[data-testid=crit]').length`),
		eval(&errs, `document.querySelectorAll('[data-testid=trace-error]').length`),
		screenshot(t, artifactDir(t), "6-large-trace"),
	)
	if spans != "10000" {
		t.Errorf("span count shown %q, want 10000", spans)
	}
	if errs != 0 {
		t.Errorf("the trace view shows an error")
	}
	if rows == 0 || rows > 200 {
		t.Errorf("%d rows in the DOM; the waterfall should render only the visible ones", rows)
	}
	if crit == 0 {
		t.Errorf("no critical-path segment drawn on the first screen of a 10,000-span trace")
	}
	// Every row is reachable: scrolling to the end renders the last span,
	// and the middle of the trace renders too.
	for _, row := range []int{5000, 9999} {
		run(t, ctx, fmt.Sprintf("scroll to row %d", row),
			void(chromedp.Evaluate[float64](fmt.Sprintf(`document.querySelector('[data-testid=rows]').scrollTop = %d*26`, row))),
			waitJS(fmt.Sprintf(`[...document.querySelectorAll('[data-testid=row]')].some(r => r.style.top === (%d*26) + 'px')`, row)),
		)
	}
}

// BenchmarkBrowserLargeTrace reports how long a 10,000-span trace takes to
// show in headless Chromium (navigation to first painted rows, fetch and
// analysis included), as measured by the page itself (data-render-ms).
//
//	go test ./internal/ui -run '^$' -bench BrowserLargeTrace -benchtime 5x
func BenchmarkBrowserLargeTrace(b *testing.B) {
	const id = "b16b16b16b16b16b16b16b16b16b16b1"
	srv := newTestApp(b, bigTrace(id, time.Now().Add(-time.Minute), 10_000))
	ctx := newBrowser(b)
	var total float64
	for i := 0; i < b.N; i++ {
		var ms chromedp.AttributeResult
		run(b, ctx, "large trace",
			chromedp.Navigate("about:blank"),
			chromedp.Navigate(srv.URL+"/trace/"+id),
			waitJS(`document.querySelector('[data-testid=trace-view]')?.dataset.renderMs > 0`),
			into(&ms, chromedp.AttributeValue(chromedp.CSS(`[data-testid=trace-view]`), "data-render-ms")),
		)
		got, err := strconv.Atoi(ms.Value)
		if err != nil {
			b.Fatalf("render time %q: %v", ms.Value, err)
		}
		total += float64(got)
	}
	b.ReportMetric(total/float64(b.N), "render-ms/op")
}
