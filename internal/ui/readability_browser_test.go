package ui_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/clewtrace/clew/internal/config"
	"github.com/clewtrace/clew/internal/model"
)

// demoServices are the demo shop's services (docs/demo.md), whose colours
// were near-identical violets and slates before.
var demoServices = []string{"frontend", "gateway", "auth", "orders", "shipping", "partner", "worker", "loadgen"}

// demoTrace has one span of each demo service.
func demoTrace(idHex string, start time.Time) []model.Span {
	b := newTrace(idHex, start)
	root := b.add(model.SpanID{}, "frontend", "click Place order", model.KindClient, 0, 900)
	gw := b.add(root, "gateway", "POST /api/orders", model.KindServer, 10, 880)
	b.add(gw, "auth", "POST /check", model.KindServer, 20, 60)
	orders := b.add(gw, "orders", "POST /orders", model.KindServer, 70, 860)
	ship := b.add(orders, "shipping", "POST /shipments", model.KindServer, 100, 800)
	b.add(ship, "partner", "POST /v2/parcels", model.KindServer, 110, 600)
	b.add(ship, "worker", "send confirmation", model.KindConsumer, 620, 790)
	b.add(root, "loadgen", "action place-order", model.KindInternal, 880, 895)
	return b.spans
}

// readServiceColours returns the computed colour of each service's bar
// marker in the trace view.
func readServiceColours(t *testing.T, ctx context.Context, step string) map[string]rgb {
	t.Helper()
	var raw map[string]string
	run(t, ctx, step, eval(&raw, `Object.fromEntries([...document.querySelectorAll('[data-testid=row]')].map(r =>
		[r.querySelector('.sname').textContent, getComputedStyle(r.querySelector('.sbar')).backgroundColor]))`))
	out := map[string]rgb{}
	for name, css := range raw {
		c, err := parseCSSColour(css)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		out[name] = c
	}
	return out
}

// TestBrowserServiceColours: the demo's services get colours that everyone
// can tell apart (normal, deuteranope and protanope vision), readable on the
// dark theme, the same on every page and after a reload.
func TestBrowserServiceColours(t *testing.T) {
	const id = "de110000000000000000000000000001"
	srv := newTestApp(t, demoTrace(id, time.Now().Add(-5*time.Minute)))
	ctx := newBrowser(t)
	dir := artifactDir(t)
	run(t, ctx, "open the demo trace",
		chromedp.Navigate(srv.URL+"/trace/"+id),
		waitJS(`document.querySelectorAll('[data-testid=row]').length === 8`),
		screenshot(t, dir, "colours-light"),
	)
	colours := readServiceColours(t, ctx, "read colours")
	if len(colours) != len(demoServices) {
		t.Fatalf("colours of %d services, want %d: %v", len(colours), len(demoServices), colours)
	}
	for _, c := range []struct {
		name string
		v    vision
		min  float64
	}{{"normal", normal, 20}, {"deuteranope", deutan, 10}, {"protanope", protan, 10}} {
		if d, pair := minPairDistance(colours, c.v); d < c.min {
			t.Errorf("%s vision: %s are only ΔE2000 %.1f apart, want ≥ %.0f", c.name, pair, d, c.min)
		}
	}
	// The whole palette, for traces with other names: ten colours, each pair
	// apart for all three visions.
	var palette []string
	run(t, ctx, "palette", into(&palette, chromedp.Evaluate[[]string](`import('/assets/js/lib.mjs').then(m => m.PALETTE)`, chromedp.EvalAwaitPromise)))
	all := map[string]rgb{}
	for _, h := range palette {
		all[h] = parseHex(h)
	}
	if len(all) < 10 {
		t.Errorf("palette has %d colours, want at least 10", len(all))
	}
	for _, c := range []struct {
		name string
		v    vision
		min  float64
	}{{"normal", normal, 20}, {"deuteranope", deutan, 10}, {"protanope", protan, 10}} {
		if d, pair := minPairDistance(all, c.v); d < c.min {
			t.Errorf("palette, %s vision: %s only ΔE2000 %.1f apart, want ≥ %.0f", c.name, pair, d, c.min)
		}
	}

	// Dark theme: every service colour stands out from the panel (WCAG's
	// 3:1 for graphics).
	var bg string
	run(t, ctx, "dark theme",
		click(`[data-testid=theme]`),
		waitJS(`document.documentElement.dataset.theme === 'dark'`),
		eval(&bg, `getComputedStyle(document.querySelector('[data-testid=rows]')).backgroundColor`),
		screenshot(t, dir, "colours-dark"),
	)
	panel, err := parseCSSColour(bg)
	if err != nil {
		t.Fatal(err)
	}
	if luminance(panel) > 0.05 {
		t.Fatalf("dark theme panel %s is not dark", bg)
	}
	for name, c := range readServiceColours(t, ctx, "dark colours") {
		if r := contrast(c, panel); r < 3 {
			t.Errorf("dark theme: %s's colour has contrast %.2f on the panel, want ≥ 3", name, r)
		}
	}

	// Stable: the same after a reload, and on the search page's chips.
	run(t, ctx, "reload", chromedp.Reload(), waitJS(`document.querySelectorAll('[data-testid=row]').length === 8`))
	again := readServiceColours(t, ctx, "colours after reload")
	var chips map[string]string
	run(t, ctx, "search page",
		chromedp.Navigate(srv.URL+"/search?service=frontend"),
		waitJS(`document.querySelectorAll('[data-testid=result] .svc').length === 8`),
		eval(&chips, `Object.fromEntries([...document.querySelectorAll('[data-testid=result] .svc')].map(e =>
			[e.textContent.replace(/ \(\d+\).*$/, ''), getComputedStyle(e.querySelector('i')).backgroundColor]))`),
	)
	for name, c := range colours {
		if again[name] != c {
			t.Errorf("%s: colour %v after a reload, %v before", name, again[name], c)
		}
		chip, err := parseCSSColour(chips[name])
		if err != nil || chip != c {
			t.Errorf("%s: search chip colour %q, trace view %v", name, chips[name], c)
		}
	}
}

// labelsTrace has the bars whose labels used to be clipped or overlap: a
// root spanning the whole trace, tiny spans at both ends, and spans with
// trailing gaps of different sizes.
func labelsTrace(idHex string, start time.Time) []model.Span {
	b := newTrace(idHex, start)
	root := b.add(model.SpanID{}, "gateway", "GET /labels", model.KindServer, 0, 1000)
	b.add(root, "orders", "tiny first", model.KindInternal, 0, 3)
	c := b.add(root, "orders", "long with gap", model.KindServer, 100, 900)
	b.add(c, "stock", "covered head", model.KindClient, 100, 200)
	d := b.add(c, "billing", "short trailing gap", model.KindServer, 300, 700)
	b.add(d, "stock", "most of it", model.KindClient, 300, 640)
	b.add(root, "mailer", "tiny last", model.KindInternal, 992, 1000)
	return b.spans
}

// checkLabels lists every duration or gap label that is outside its row's
// timeline or the viewport, overlaps a bar it does not belong to, sits over a
// gap box, or overlaps another label. Each row must have a duration label.
const checkLabels = `(() => {
  const bad = [], vw = document.documentElement.clientWidth, e = 0.5;
  const within = (a, b) => a.left >= b.left - e && a.right <= b.right + e && a.top >= b.top - e && a.bottom <= b.bottom + e;
  const over = (a, b) => a.left < b.right - e && b.left < a.right - e && a.top < b.bottom - e && b.top < a.bottom - e;
  for (const row of document.querySelectorAll('[data-testid=row]')) {
    const name = row.querySelector('.oname').textContent;
    const tl = row.querySelector('.tl').getBoundingClientRect(), bar = row.querySelector('.bar').getBoundingClientRect();
    const el = row.querySelector('[data-testid=dur-label]');
    if (!el || !el.textContent) { bad.push(name + ': no duration label'); continue; }
    const l = el.getBoundingClientRect();
    if (!within(l, tl) || l.left < 0 || l.right > vw) bad.push(name + ': duration label outside the timeline');
    if (el.dataset.inside === 'true' ? !within({ left: l.left, right: l.right, top: bar.top, bottom: bar.bottom }, bar) : over(l, bar)) bad.push(name + ': duration label ' + (el.dataset.inside === 'true' ? 'leaves its bar' : 'over its bar'));
    for (const g of row.querySelectorAll('[data-testid=gap]')) if (over(l, g.getBoundingClientRect())) bad.push(name + ': duration label over a gap');
    for (const gl of row.querySelectorAll('[data-testid=gap-label]')) {
      const r = gl.getBoundingClientRect();
      if (!within({ left: r.left, right: r.right, top: tl.top, bottom: tl.bottom }, gl.parentElement.getBoundingClientRect()) && !within(r, gl.parentElement.getBoundingClientRect())) bad.push(name + ': gap label leaves its gap');
      if (over(r, l)) bad.push(name + ': gap label over the duration label');
    }
  }
  return bad;
})()`

// TestBrowserLabels: duration and gap labels are never clipped and never
// overlap bars or each other — with the detail panel closed and open, and
// with the name column dragged wider (remembered after a reload).
func TestBrowserLabels(t *testing.T) {
	const id = "1abe1000000000000000000000000001"
	now := time.Now()
	srv := newTestApp(t, labelsTrace(id, now.Add(-3*time.Minute)), checkoutTrace(checkoutID, now.Add(-10*time.Minute), false))
	ctx := newBrowser(t)
	dir := artifactDir(t)
	check := func(step string) {
		t.Helper()
		var bad []string
		run(t, ctx, step, eval(&bad, checkLabels), screenshot(t, dir, "labels-"+strings.ReplaceAll(step, " ", "-")))
		if len(bad) > 0 {
			t.Errorf("%s: %s", step, strings.Join(bad, "; "))
		}
	}
	for _, tr := range []struct {
		id   string
		rows int
	}{{id, 7}, {checkoutID, 7}} {
		run(t, ctx, "open "+tr.id,
			chromedp.Navigate(srv.URL+"/trace/"+tr.id),
			waitJS(`document.querySelectorAll('[data-testid=row]').length === `+strconv.Itoa(tr.rows)+` && document.querySelectorAll('[data-testid=crit]').length > 0`),
		)
		check(tr.id[:6] + " labels")
		run(t, ctx, "open detail "+tr.id,
			click(`[data-testid=row]:nth-child(2)`),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid=span-detail]`)),
		)
		check(tr.id[:6] + " labels with detail")
	}
	// The root's gap label of the checkout trace is still shown.
	var gap string
	run(t, ctx, "gap label", text(&gap, `[data-testid=row]:first-child [data-testid=gap-label]`))
	if gap != "1.4s gap" {
		t.Errorf("root gap label %q, want 1.4s gap", gap)
	}

	// Drag the name column 150 px wider: names are no longer cut, the labels
	// still fit, and the width is remembered.
	var before, after, reloaded float64
	var box struct{ X, Y float64 }
	run(t, ctx, "drag the split",
		eval(&before, `document.querySelector('[data-testid=row] .namecol').getBoundingClientRect().width`),
		eval(&box, `(() => { const r = document.querySelector('[data-testid=splitter]').getBoundingClientRect(); return { X: r.left + r.width / 2, Y: r.top + 40 }; })()`),
	)
	run(t, ctx, "drag",
		chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, box.X, box.Y, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, box.X+60, box.Y, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, box.X+150, box.Y, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, box.X+150, box.Y, chromedp.ButtonLeft),
		waitJS(`localStorage.getItem('clew.nameColumn') !== null`),
		eval(&after, `document.querySelector('[data-testid=row] .namecol').getBoundingClientRect().width`),
	)
	if after < before+140 || after > before+160 {
		t.Errorf("name column %v px wide after dragging 150 px from %v", after, before)
	}
	check("labels after resize")
	run(t, ctx, "reload keeps the width",
		chromedp.Reload(),
		waitJS(`document.querySelectorAll('[data-testid=row]').length === 7`),
		eval(&reloaded, `document.querySelector('[data-testid=row] .namecol').getBoundingClientRect().width`),
	)
	if reloaded != after {
		t.Errorf("name column %v px after a reload, %v before", reloaded, after)
	}

	// Span detail keys wrap only after a '.': every line of a wrapped key
	// but the last ends with a dot.
	var breaks []string
	run(t, ctx, "key wrapping",
		// The reload kept ?span=, so the gateway's detail is open again.
		waitJS(`location.search.includes('span=')`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=attributes]`)),
		eval(&breaks, `(() => {
		  const out = [];
		  for (const td of document.querySelectorAll('[data-testid=span-detail] td.key')) {
		    const text = td.textContent, range = document.createRange();
		    let prevTop = null, line = '';
		    const lines = [];
		    const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
		    for (let n = walker.nextNode(); n; n = walker.nextNode()) for (let i = 0; i < n.length; i++) {
		      range.setStart(n, i); range.setEnd(n, i + 1);
		      const top = Math.round(range.getBoundingClientRect().top);
		      if (prevTop !== null && top > prevTop + 2) { lines.push(line); line = ''; }
		      prevTop = top; line += n.data[i];
		    }
		    lines.push(line);
		    if (lines.length > 1) out.push(lines.join('|'));
		  }
		  return out;
		})()`),
		screenshot(t, dir, "labels-detail-keys"),
	)
	if len(breaks) == 0 {
		t.Errorf("no attribute key wrapped; the test needs a long key to judge the wrapping")
	}
	for _, b := range breaks {
		parts := strings.Split(b, "|")
		for _, p := range parts[:len(parts)-1] {
			if !strings.HasSuffix(p, ".") {
				t.Errorf("key wrapped mid-word: %q", b)
				break
			}
		}
	}
}

// TestBrowserSignIn: a Clew with a query token gets a sign-in form with a
// password field (not window.prompt); a wrong token is refused, the right one
// opens the page, and signing out forgets it.
func TestBrowserSignIn(t *testing.T) {
	const token = "s3cret-query-token"
	srv := newTestAppWith(t, func(c *config.Config) { c.QueryToken = token }, inventoryTrace(time.Now().Add(-2*time.Minute)))
	ctx := newBrowser(t)
	var typ, stored, errText string
	var dialogs int
	run(t, ctx, "sign-in form",
		chromedp.Navigate(srv.URL+"/"),
		// A window.prompt would block the page; count any that happen.
		void(chromedp.Evaluate[bool](`window.prompt = () => { window.__prompts = (window.__prompts || 0) + 1; return null; }; true`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=signin]`)),
		eval(&typ, `document.querySelector('[data-testid=signin-token]').type`),
		screenshot(t, artifactDir(t), "signin"),
	)
	if typ != "password" {
		t.Errorf("token input type %q, want password", typ)
	}
	run(t, ctx, "wrong token",
		chromedp.SendKeys(chromedp.CSS(`[data-testid=signin-token]`), "wrong"),
		click(`[data-testid=signin-submit]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=signin-error]`)),
		text(&errText, `[data-testid=signin-error]`),
		eval(&stored, `localStorage.getItem('clew.queryToken') || ''`),
	)
	if !strings.Contains(errText, "rejected") || stored != "" {
		t.Errorf("wrong token: error %q, stored %q", errText, stored)
	}
	run(t, ctx, "right token",
		void(chromedp.Evaluate[bool](`(() => { const i = document.querySelector('[data-testid=signin-token]'); i.select(); return true; })()`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=signin-token]`), token),
		click(`[data-testid=signin-submit]`),
		waitJS(`document.querySelector('[data-testid=signin]') === null && document.querySelectorAll('[data-testid=result]').length === 1`),
		eval(&stored, `localStorage.getItem('clew.queryToken') || ''`),
		eval(&dialogs, `window.__prompts || 0`),
	)
	if stored != token || dialogs != 0 {
		t.Errorf("after signing in: stored %q, %d prompts", stored, dialogs)
	}
	run(t, ctx, "sign out",
		click(`[data-testid=signout]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=signin]`)),
		eval(&stored, `localStorage.getItem('clew.queryToken') || ''`),
	)
	if stored != "" {
		t.Errorf("after signing out the token is still stored: %q", stored)
	}
	var n int
	run(t, ctx, "no sign-out without a token", eval(&n, `document.querySelectorAll('[data-testid=signout]').length`))
	if n != 0 {
		t.Errorf("sign-out button shown with no token")
	}
}

// TestBrowserTraceChrome: a single-span trace's minimap is a thin line, not
// a solid block, and the Logs tab shows none of the timeline's controls.
func TestBrowserTraceChrome(t *testing.T) {
	const id = "5170000000000000000000000000e001"
	b := newTrace(id, time.Now().Add(-2*time.Minute))
	b.add(model.SpanID{}, "worker", "send confirmation", model.KindConsumer, 0, 250)
	srv := newTestApp(t, b.spans)
	ctx := newBrowser(t)
	dir := artifactDir(t)
	var painted struct{ Rows, Height int }
	run(t, ctx, "single-span minimap",
		chromedp.Navigate(srv.URL+"/trace/"+id),
		waitJS(`document.querySelectorAll('[data-testid=row]').length === 1 && document.querySelector('[data-testid=minimap] canvas').width > 0`),
		// Rows of device pixels with any paint in them.
		eval(&painted, `(() => {
		  const c = document.querySelector('[data-testid=minimap] canvas'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		  let rows = 0;
		  for (let y = 0; y < c.height; y++) { for (let x = 0; x < c.width; x++) if (d[(y * c.width + x) * 4 + 3] > 0) { rows++; break; } }
		  return { Rows: rows, Height: c.height };
		})()`),
		screenshot(t, dir, "chrome-single-span"),
	)
	if painted.Rows == 0 || painted.Rows*4 > painted.Height {
		t.Errorf("single-span minimap paints %d of %d pixel rows, want a thin line (at most a quarter)", painted.Rows, painted.Height)
	}
	// Controls of the timeline, visible on its tab and gone on the Logs tab.
	const timelineControls = `[...document.querySelectorAll('.toolbar input, .toolbar button, .toolbar label')].filter(e => e.offsetParent !== null)
	  .map(e => e.dataset.testid || e.textContent.trim()).filter(x => ['find', 'collapse-all', 'Expand all', 'Critical path', 'Gaps', 'Logs inline'].includes(x))`
	var onTimeline, onLogs []string
	run(t, ctx, "toolbar per tab",
		eval(&onTimeline, timelineControls),
		click(`[data-testid=tab-logs]`),
		waitJS(`document.querySelector('[data-testid=logs-tab]') !== null`),
		eval(&onLogs, timelineControls),
		screenshot(t, dir, "chrome-logs-tab"),
	)
	if len(onTimeline) < 5 {
		t.Errorf("timeline tab controls %q, want find, expand/collapse, critical path and gaps", onTimeline)
	}
	if len(onLogs) != 0 {
		t.Errorf("Logs tab shows timeline controls %q", onLogs)
	}
}

// TestBrowserTimes: one time format everywhere — 24-hour clock, ISO dates,
// the browser's time zone named next to absolute times, relative times
// ("10m ago") beside them as in Jaeger — even in a US-English browser whose
// own formatting would say "PM". The zone is chosen so that the trace falls
// in the afternoon there, where a 12-hour clock would show.
func TestBrowserTimes(t *testing.T) {
	now := time.Now()
	start := now.Add(-10 * time.Minute)
	offset := 16 - start.UTC().Hour() // hours east of UTC that make it about 16:00
	if offset > 14 {
		offset -= 24
	} else if offset < -12 {
		offset += 24
	}
	zone, zoneName := "UTC", "UTC"
	if offset != 0 {
		zone, zoneName = fmt.Sprintf("Etc/GMT%+d", -offset), fmt.Sprintf("GMT%+d", offset) // Etc/GMT-5 is UTC+5
	}
	local := start.In(time.FixedZone(zoneName, offset*3600))
	srv := newTestApp(t, checkoutTrace(checkoutID, start, false))
	ctx := newBrowser(t)
	emulate := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{Locale: "en-US"})
		return err
	})
	var ticks []string
	var zoneText, at, ago, page string
	run(t, ctx, "search page in "+zone,
		emulate,
		chromedp.Navigate(srv.URL+"/search?service=api-gateway"),
		waitJS(`document.querySelectorAll('[data-testid=result]').length === 1`),
		eval(&ticks, `[...document.querySelectorAll('[data-testid=scatter] .xtick')].map(e => e.textContent)`),
		eval(&zoneText, `document.querySelector("[data-testid=scatter-zone]").textContent`),
		text(&at, `[data-testid=result] [data-testid=at]`),
		text(&ago, `[data-testid=result] [data-testid=ago]`),
		eval(&page, `document.body.innerText`),
		screenshot(t, artifactDir(t), "times-search"),
	)
	t.Logf("zone %s (%s), trace at %s", zone, zoneName, local.Format(time.DateTime))
	if len(ticks) == 0 {
		t.Errorf("scatter has no time ticks")
	}
	for _, tick := range ticks {
		if !clock24.MatchString(tick) {
			t.Errorf("scatter tick %q is not a 24-hour HH:MM:SS", tick)
		}
	}
	if zoneText != zoneName {
		t.Errorf("scatter names zone %q, want %q", zoneText, zoneName)
	}
	if want := local.Format("15:04:05") + " " + zoneName; at != want {
		t.Errorf("result time %q, want %q", at, want)
	}
	// A loaded machine can take a while to get here: the relative time is
	// judged against the time that has really passed.
	if !agoMatches(ago, start) {
		t.Errorf("result relative time %q, %v after the trace", ago, time.Since(start))
	}
	var head, headAgo, detail string
	run(t, ctx, "trace view",
		chromedp.Navigate(srv.URL+"/trace/"+checkoutID+"?span="+spanID(t, checkoutTrace(checkoutID, start, false), "GetCart").String()),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=span-detail]`)),
		text(&head, `[data-testid=trace-start]`),
		eval(&headAgo, `document.querySelector("[data-testid=trace-ago]").textContent`),
		text(&detail, `[data-testid=span-detail]`),
	)
	if want := local.Format("2006-01-02 15:04:05.000") + " " + zoneName; head != want {
		t.Errorf("trace start %q, want %q", head, want)
	}
	if !agoMatches(headAgo, start) {
		t.Errorf("trace start relative %q, %v after the trace", headAgo, time.Since(start))
	}
	if want := local.Add(1410*time.Millisecond).Format("15:04:05.000") + " " + zoneName + " (+1.41s)"; !strings.Contains(detail, want) {
		t.Errorf("span detail lacks start %q:\n%s", want, detail)
	}
	for _, p := range []string{page, detail} {
		if m := ampm.FindString(p); m != "" {
			t.Errorf("12-hour time on the page: %q", m)
		}
	}
}

var (
	clock24 = regexp.MustCompile(`^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$`)
	ampm    = regexp.MustCompile(`\d\s?[AaPp]\.?[Mm]\b`)
)

// queueTrace has a queue hop (a consumer whose parent is the producer) and a
// batch consumer linked to that producer and to a span of another trace.
func queueTrace(idHex string, start time.Time, other model.TraceID, otherSpan model.SpanID) []model.Span {
	b := newTrace(idHex, start)
	srv := b.add(model.SpanID{}, "shipping", "POST /shipments", model.KindServer, 0, 300)
	prod := b.add(srv, "shipping", "publish email", model.KindProducer, 100, 110)
	b.add(prod, "worker", "process email", model.KindConsumer, 145, 260)
	b.add(srv, "worker", "batch send", model.KindConsumer, 270, 290, linkTo(b.tid, prod), linkTo(other, otherSpan))
	return b.spans
}

// TestBrowserMessagingAndLinks: span kinds are shown, the producer→consumer
// hop and a span link to a producer are drawn as arrows from the producer's
// start to the consumer's, and links (on the bar and in the detail) lead to
// their spans.
func TestBrowserMessagingAndLinks(t *testing.T) {
	const id = "9e0e0000000000000000000000000001"
	now := time.Now()
	checkout := checkoutTrace(checkoutID, now.Add(-10*time.Minute), false)
	spans := queueTrace(id, now.Add(-4*time.Minute), checkout[0].TraceID, checkout[0].SpanID)
	prodID := spanID(t, spans, "publish email").String()
	srv := newTestApp(t, spans, checkout)
	ctx := newBrowser(t)
	dir := artifactDir(t)
	var kinds map[string]string
	var bad []string
	run(t, ctx, "open the queue trace",
		chromedp.Navigate(srv.URL+"/trace/"+id),
		waitJS(`document.querySelectorAll('[data-testid=row]').length === 4 && document.querySelectorAll('[data-testid=hop]').length === 2`),
		eval(&kinds, `Object.fromEntries([...document.querySelectorAll('[data-testid=row]')].map(r => [r.querySelector('.oname').textContent, r.querySelector('[data-testid=kind]')?.textContent || '']))`),
		eval(&bad, checkLabels),
		screenshot(t, dir, "messaging"),
	)
	if want := map[string]string{"POST /shipments": "server", "publish email": "producer", "process email": "consumer", "batch send": "consumer"}; fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("kinds shown %v, want %v", kinds, want)
	}
	if len(bad) > 0 {
		t.Errorf("labels: %s", strings.Join(bad, "; "))
	}
	// The hop arrow runs from the producer bar's start to the consumer bar's.
	var hop struct {
		Via, Text                       string
		Left, Right, ProdLeft, ConsLeft float64
	}
	run(t, ctx, "hop geometry", eval(&hop, `(() => {
	  const row = name => [...document.querySelectorAll('[data-testid=row]')].find(r => r.querySelector('.oname').textContent === name);
	  const h = row('process email').querySelector('[data-testid=hop]'), r = h.getBoundingClientRect();
	  return { Via: h.dataset.via, Text: h.textContent.trim(), Left: r.left, Right: r.right,
	    ProdLeft: row('publish email').querySelector('.bar').getBoundingClientRect().left, ConsLeft: row('process email').querySelector('.bar').getBoundingClientRect().left };
	})()`))
	if hop.Via != "parent" || hop.Text != "queue 45ms" || abs(hop.Left-hop.ProdLeft) > 1.5 || abs(hop.Right-hop.ConsLeft) > 1.5 {
		t.Errorf("queue hop %+v: want via parent, labelled queue 45ms, from the producer's bar start to the consumer's", hop)
	}
	var via, loc string
	run(t, ctx, "link hop", eval(&via, `[...document.querySelectorAll('[data-testid=row]')].find(r => r.querySelector('.oname').textContent === 'batch send').querySelector('[data-testid=hop]').dataset.via`))
	if via != "link" {
		t.Errorf("batch consumer's arrow via %q, want link", via)
	}
	// Clicking the arrow goes to the producer.
	run(t, ctx, "follow the hop",
		chromedp.Click(`//div[@data-testid="row"][.//span[text()="process email"]]//div[@data-testid="hop"]`),
		waitJS(`document.querySelector('[data-testid=span-detail] h2')?.textContent.startsWith('publish email')`),
		into(&loc, chromedp.Location()),
	)
	if !strings.Contains(loc, "span="+prodID) {
		t.Errorf("after following the hop: %s, want span=%s", loc, prodID)
	}
	// The consumer's detail names its producer; the batch consumer lists its
	// two links, the one in this trace by name, and following it selects it.
	var from string
	var links []string
	run(t, ctx, "consumer detail",
		chromedp.Click(`//div[@data-testid="row"][.//span[text()="process email"]]//span[@class="oname"]`),
		waitJS(`document.querySelector('[data-testid=span-detail] h2')?.textContent.startsWith('process email')`),
		text(&from, `[data-testid=message-from]`),
		chromedp.Click(`//div[@data-testid="row"][.//span[text()="batch send"]]//span[@class="oname"]`),
		waitJS(`document.querySelector('[data-testid=span-detail] h2')?.textContent.startsWith('batch send')`),
		eval(&links, `[...document.querySelectorAll('[data-testid=links] [data-testid=ref-link]')].map(a => a.textContent.replace(/\s+/g, ' ').trim())`),
		screenshot(t, dir, "messaging-links"),
		chromedp.Click(`//table[@data-testid="links"]//a[contains(., "publish email")]`),
		waitJS(`document.querySelector('[data-testid=span-detail] h2')?.textContent.startsWith('publish email')`),
		into(&loc, chromedp.Location()),
	)
	if !strings.Contains(from, "shipping") || !strings.Contains(from, "publish email") || !strings.Contains(from, "45ms after it") {
		t.Errorf("message-from row: %q", from)
	}
	if len(links) != 2 || links[0] != "shipping publish email producer" || !strings.HasPrefix(links[1], "c0ffee000000…") {
		t.Errorf("links listed %q", links)
	}
	if !strings.Contains(loc, "/trace/"+id) || !strings.Contains(loc, "span="+prodID) {
		t.Errorf("following the in-trace link: %s", loc)
	}
	// The link marker on the batch consumer's bar: two links, so it selects
	// the span (whose detail lists them); the other trace's link opens it.
	run(t, ctx, "link marker",
		chromedp.Click(`//div[@data-testid="row"][.//span[text()="batch send"]]//span[@data-testid="link-marker"]`),
		waitJS(`document.querySelector('[data-testid=span-detail] h2')?.textContent.startsWith('batch send')`),
		chromedp.Click(`//table[@data-testid="links"]//a[contains(., "c0ffee")]`),
		waitJS(`location.pathname === '/trace/`+checkoutID+`' && document.querySelectorAll('[data-testid=row]').length === 7`),
	)
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestBrowserLogsPage searches the checkout trace's log records by
// service, severity, text, attribute and time range, and follows a record
// to its span and its trace.
func TestBrowserLogsPage(t *testing.T) {
	now := time.Now()
	start := now.Add(-10 * time.Minute)
	checkout := checkoutTrace(checkoutID, start, false)
	srv := newTestApp(t, checkout)
	srv.seedLogs(t, checkout[0].TraceID, checkoutLogs(t, checkout, start))
	ctx := newBrowser(t)
	dir := artifactDir(t)
	utc := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "UTC"})
		return err
	})
	bodies := func(dst *string) chromedp.Action[chromedp.Void] {
		return eval(dst, `[...document.querySelectorAll('[data-testid=log-record] .logmsg')].map(e => e.textContent).join('|')`)
	}
	var got, loc string
	run(t, ctx, "all records",
		utc,
		chromedp.Navigate(srv.URL+"/logs"),
		waitJS(`document.querySelectorAll('[data-testid=log-record]').length === 5`),
		bodies(&got),
		screenshot(t, dir, "logs-page"),
	)
	// Newest first.
	if got != "upstream payment failed, returning 502|card declined by issuer|charging card|cart loaded|checkout request received" {
		t.Errorf("all records: %q", got)
	}
	for _, c := range []struct{ step, field, value, want string }{
		{"by service", "#l-service", "payment", "card declined by issuer|charging card"},
		{"by text", "#l-q", "DECLINED", "card declined by issuer"},
		{"by attribute", "#l-attrs", "cart.items=3", "cart loaded"},
	} {
		n := strings.Count(c.want, "|") + 1
		run(t, ctx, c.step,
			chromedp.Navigate(srv.URL+"/logs"),
			waitJS(`document.querySelectorAll('[data-testid=log-record]').length === 5`),
			chromedp.SendKeys(chromedp.CSS(c.field), c.value),
			click(`[data-testid=logs-submit]`),
			waitJS(`location.search !== '' && document.querySelectorAll('[data-testid=log-record]').length === `+strconv.Itoa(n)),
			bodies(&got),
		)
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.step, got, c.want)
		}
	}
	run(t, ctx, "by severity",
		chromedp.Navigate(srv.URL+"/logs"),
		waitJS(`document.querySelectorAll('[data-testid=log-record]').length === 5`),
		chromedp.SetValue(chromedp.CSS(`#l-severity`), "WARN"),
		void(chromedp.Evaluate[bool](`document.querySelector('#l-severity').dispatchEvent(new Event('change', { bubbles: true }))`)),
		click(`[data-testid=logs-submit]`),
		waitJS(`location.search === '?severity=WARN' && document.querySelectorAll('[data-testid=log-record]').length === 2`),
		bodies(&got),
	)
	if got != "upstream payment failed, returning 502|card declined by issuer" {
		t.Errorf("WARN and above: %q", got)
	}
	// A custom range that ends before the records: none; one around them: all.
	f := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04") }
	run(t, ctx, "time range without the records",
		chromedp.Navigate(srv.URL+"/logs?lookback=custom&start="+f(now.Add(-3*time.Hour))+"&end="+f(now.Add(-2*time.Hour))),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=logs-empty]`)),
	)
	run(t, ctx, "time range with the records",
		chromedp.Navigate(srv.URL+"/logs?lookback=custom&start="+f(start.Add(-time.Minute))+"&end="+f(start.Add(5*time.Minute))),
		waitJS(`document.querySelectorAll('[data-testid=log-record]').length === 5`),
	)
	// Links: the record's span opens the trace at that span; its trace link
	// opens the trace's Logs tab.
	charge := spanID(t, checkout, "Charge").String()
	run(t, ctx, "span link",
		chromedp.Click(`//tr[@data-testid="log-record"][.//div[text()="card declined by issuer"]]//a[@data-testid="log-span-link"]`),
		waitJS(`document.querySelector('[data-testid=span-detail] h2')?.textContent.startsWith('Charge')`),
		into(&loc, chromedp.Location()),
	)
	if !strings.Contains(loc, "/trace/"+checkoutID+"?span="+charge) {
		t.Errorf("span link led to %s", loc)
	}
	run(t, ctx, "trace link",
		chromedp.NavigateBack(),
		waitJS(`location.pathname === '/logs' && document.querySelectorAll('[data-testid=log-record]').length === 5`),
		chromedp.Click(`//tr[@data-testid="log-record"][.//div[text()="cart loaded"]]//a[@data-testid="log-trace-link"]`),
		waitJS(`location.pathname === '/trace/`+checkoutID+`' && document.querySelectorAll('[data-testid=log-line]').length === 5`),
	)
}

// TestBrowserTraceStatsAndFlame: the Statistics tab's numbers for the
// checkout trace (self time computed as the analysis API does, shares of the
// trace adding up), the model's self time on overlapping and outliving
// children, and the flame graph's geometry and click-through.
func TestBrowserTraceStatsAndFlame(t *testing.T) {
	now := time.Now()
	checkout := checkoutTrace(checkoutID, now.Add(-10*time.Minute), false)
	srv := newTestApp(t, checkout)
	ctx := newBrowser(t)
	dir := artifactDir(t)
	// selfTime on a hand-made trace: children 10–40 and 30–60 overlap, one
	// runs from 90 to 150, past its parent's end at 100.
	var self map[string]float64
	run(t, ctx, "self time model",
		chromedp.Navigate(srv.URL+"/trace/"+checkoutID),
		waitJS(`document.querySelectorAll('[data-testid=row]').length === 7`),
		into(&self, chromedp.Evaluate[map[string]float64](`import('/assets/js/tracemodel.mjs').then(m => {
		  const sp = (id, parent, start, end) => ({ traceID: 't', spanID: id, operationName: id, startTime: start, duration: end - start, processID: 'p',
		    references: parent ? [{ refType: 'CHILD_OF', traceID: 't', spanID: parent }] : [] });
		  const tr = m.buildTrace({ traceID: 't', processes: { p: { serviceName: 's' } }, spans: [sp('root', '', 0, 100), sp('a', 'root', 10, 40), sp('b', 'root', 30, 60), sp('c', 'root', 90, 150)] });
		  const st = Object.fromEntries(tr.spans.map(s => [s.spanID, m.selfTime(s)]));
		  st.statsRootPct = m.traceStats(tr).find(r => r.operation === 'root').selfPct;
		  return st;
		})`, chromedp.EvalAwaitPromise)),
	)
	// root: 100 − (10–60 ∪ 90–100) = 40; the trace lasts 150 µs.
	if self["root"] != 40 || self["a"] != 30 || self["b"] != 30 || self["c"] != 60 || abs(self["statsRootPct"]-100.0*40/150) > 1e-9 {
		t.Errorf("self times %v, want root 40, a 30, b 30, c 60, root share 26.67%%", self)
	}

	var rows map[string]string
	var selfSum float64
	run(t, ctx, "statistics tab",
		click(`[data-testid=tab-stats]`),
		waitJS(`location.search === '?tab=stats' && document.querySelectorAll('[data-testid=stats-row]').length === 7`),
		eval(&rows, `Object.fromEntries([...document.querySelectorAll('[data-testid=stats-row]')].map(r => [r.dataset.service + ' ' + r.dataset.operation,
		  ['count', 'total', 'self', 'selfPct'].map(c => r.querySelector('[data-col=' + c + ']').textContent).join(' ')]))`),
		eval(&selfSum, `[...document.querySelectorAll('[data-testid=stats-row] [data-col=selfPct]')].reduce((a, e) => a + parseFloat(e.textContent), 0)`),
		screenshot(t, dir, "stats"),
	)
	for k, want := range map[string]string{
		"web-frontend page load /checkout": "1 2s 1.41s 70.5%",  // 2000 − (1400–1950 ∪ 1955–1995)
		"api-gateway POST /api/checkout":   "1 550ms 80ms 4.0%", // 550 − (1410–1480 ∪ 1500–1900)
		"payment Charge":                   "1 400ms 350ms 17.5%",
		"postgres SELECT cart_items":       "1 50ms 50ms 2.5%",
		"postgres INSERT payment_attempt":  "1 50ms 50ms 2.5%",
		"web-frontend render confirmation": "1 40ms 40ms 2.0%",
	} {
		if rows[k] != want {
			t.Errorf("statistics %q: %q, want %q", k, rows[k], want)
		}
	}
	if abs(selfSum-100) > 0.2 {
		t.Errorf("self shares add up to %.1f%%, want 100%% (every moment of the trace is some span's self time)", selfSum)
	}
	var byService int
	run(t, ctx, "by service",
		click(`[data-testid=stats-by-service]`),
		waitJS(`document.querySelectorAll('[data-testid=stats-row]').length === 5`),
		eval(&byService, `+document.querySelector('[data-testid=stats-row][data-service=postgres] [data-col=count]').textContent`),
	)
	if byService != 2 {
		t.Errorf("postgres by service: count %d, want 2", byService)
	}

	// Flame graph: every span drawn, the root across the whole width, each
	// child inside its parent's time range and one row below it.
	var bad []string
	run(t, ctx, "flame graph",
		click(`[data-testid=tab-flame]`),
		waitJS(`location.search === '?tab=flame' && document.querySelectorAll('[data-testid=flame-box]').length === 7`),
		eval(&bad, `(() => {
		  const bad = [], box = document.querySelector('[data-testid=flame]').getBoundingClientRect();
		  const byId = new Map([...document.querySelectorAll('[data-testid=flame-box]')].map(e => [e.dataset.spanId, e]));
		  const spans = `+checkoutParents(checkout)+`;
		  for (const [id, parent] of Object.entries(spans)) {
		    const r = byId.get(id).getBoundingClientRect();
		    if (!parent) { if (Math.abs(r.left - box.left) > 1 || Math.abs(r.right - box.right) > 1) bad.push('root does not span the width'); continue; }
		    const p = byId.get(parent).getBoundingClientRect();
		    if (r.left < p.left - 1 || r.right > p.right + 1) bad.push(id + ' outside its parent');
		    if (Math.abs(r.top - p.bottom - 1) > 1.5) bad.push(id + ' not one row below its parent: ' + r.top + ' vs ' + p.bottom);
		  }
		  return bad;
		})()`),
		screenshot(t, dir, "flame"),
	)
	if len(bad) > 0 {
		t.Errorf("flame graph: %s", strings.Join(bad, "; "))
	}
	charge := spanID(t, checkout, "Charge").String()
	var loc string
	run(t, ctx, "flame click",
		click(`[data-testid=flame-box][data-span-id="`+charge+`"]`),
		waitJS(`document.querySelector('[data-testid=span-detail] h2')?.textContent.startsWith('Charge') && document.querySelector('[data-testid=rows]').offsetHeight > 0`),
		into(&loc, chromedp.Location()),
	)
	if !strings.Contains(loc, "span="+charge) || strings.Contains(loc, "tab=") {
		t.Errorf("after clicking Charge in the flame graph: %s", loc)
	}
}

// checkoutParents is a JS object literal: span ID → parent span ID ("" for
// the root).
func checkoutParents(spans []model.Span) string {
	var b strings.Builder
	b.WriteString("{")
	for _, s := range spans {
		p := ""
		if s.ParentSpanID != (model.SpanID{}) {
			p = s.ParentSpanID.String()
		}
		fmt.Fprintf(&b, "%q: %q,", s.SpanID.String(), p)
	}
	b.WriteString("}")
	return b.String()
}

// agoMatches tells whether a relative time such as "10m ago" names the
// minutes since t, allowing for the minute that may have turned while the
// page was read.
func agoMatches(ago string, t time.Time) bool {
	m := int(time.Since(t).Minutes() + 0.5)
	return ago == fmt.Sprintf("%dm ago", m) || ago == fmt.Sprintf("%dm ago", m-1)
}
