package app

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clewtrace/clew/internal/browsertest"
)

// legacyOTelBundle is the OTel JS web SDK 1.30.1 with
// @opentelemetry/exporter-trace-otlp-http 0.57.2, the last exporter line that
// sends with navigator.sendBeacon by default. Built from
// testdata/legacy-web (cd there; npm ci && npm run build) and committed, so
// this test needs Chromium but not Node.
//
//go:embed testdata/legacy-otel-bundle.js
var legacyOTelBundle []byte

const legacyPage = `<!doctype html><meta charset="utf-8"><title>legacy exporter</title>
<script src="/otel.js"></script><body>legacy exporter test</body>`

// TestBrowserLegacyExporterLands exports from a page on another origin with
// the pre-fetch OTel JS exporter, in its default sendBeacon transport (a
// credentialed request: Chromium drops it unless Clew's CORS answer allows
// credentials) and in its XMLHttpRequest transport, and finds both traces
// stored in Clew.
func TestBrowserLegacyExporterLands(t *testing.T) {
	a := startApp(t, t.TempDir())
	addrs := a.Addrs()
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, legacyPage)
		case "/otel.js":
			w.Header().Set("Content-Type", "text/javascript")
			_, _ = w.Write(legacyOTelBundle)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(page.Close)
	// The page (127.0.0.1:<page port>) and Clew (127.0.0.1:<otlp port>) are
	// different origins; the default allow-list admits http://127.0.0.1:*.
	ctx := browsertest.Start(t, 0, 0)
	err := chromedp.Do(ctx, chromedp.Navigate(page.URL), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Poll[bool](`window.legacyReady === true`)(ctx, tg)
		return err
	}))
	if err != nil {
		t.Fatalf("loading the page: %v", err)
	}
	for _, transport := range []string{"beacon", "xhr"} {
		t.Run(transport, func(t *testing.T) {
			service := "legacy-web-" + transport
			js := fmt.Sprintf(`window.legacyExport({url: %q, transport: %q, service: %q, traceName: "click Buy"})`,
				"http://"+addrs.OTLPHTTP+"/v1/traces", transport, service)
			traceID, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatalf("exporting with the %s transport: %v", transport, err)
			}
			// sendBeacon reports success even when Chromium drops the
			// request, so only Clew's store can tell.
			// SimpleSpanProcessor sends each span on its own: wait for both.
			u := "http://" + addrs.Query + "/api/traces/" + traceID
			var tr jaegerResponse[[]jaegerTrace]
			for deadline := time.Now().Add(30 * time.Second); ; {
				tr = jaegerResponse[[]jaegerTrace]{}
				resp, err := http.Get(u)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode == http.StatusOK {
					err = json.NewDecoder(resp.Body).Decode(&tr)
				}
				resp.Body.Close()
				if err != nil {
					t.Fatalf("decoding %s: %v", u, err)
				}
				if len(tr.Data) == 1 && len(tr.Data[0].Spans) == 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("trace %s from the %s transport never reached Clew whole (last status %d, %+v)", traceID, transport, resp.StatusCode, tr.Data)
				}
				time.Sleep(100 * time.Millisecond)
			}
			for _, p := range tr.Data[0].Processes {
				if p.ServiceName != service {
					t.Errorf("service %q, want %q", p.ServiceName, service)
				}
			}
		})
	}
}
