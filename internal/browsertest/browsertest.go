// Package browsertest starts the headless Chromium that Clew's browser tests
// drive: the UI pages, the OTel browser exporters, the demo shop. Only tests
// import it. A missing browser fails the test with the command that installs
// it (./scripts/test installs it first), so these tests never skip silently.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// DebianPath is where Debian's chromium package installs the browser.
const DebianPath = "/usr/bin/chromium"

// StepTimeout bounds all the steps a test runs in one browser: a deadline
// that catches a hang, not a budget.
const StepTimeout = 90 * time.Second

// Start launches headless Chromium for t, with a window (and viewport) of
// width × height CSS pixels when both are set, and returns a context for its
// steps that expires after StepTimeout. The browser is closed when t ends.
func Start(t testing.TB, width, height int) context.Context {
	t.Helper()
	path := DebianPath
	if _, err := os.Stat(path); err != nil {
		p, lerr := exec.LookPath("chromium")
		if lerr != nil {
			t.Fatalf("this test needs Chromium but %s does not exist (%v); install it with: apt-get update && apt-get install -y chromium", DebianPath, err)
		}
		path = p
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// Without these Chromium waits on the network, which a test
		// machine may not have.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	var first []chromedp.Action[chromedp.Void]
	if width > 0 && height > 0 {
		opts = append(opts, chromedp.WindowSize(width, height))
		first = append(first, chromedp.EmulateViewport(int64(width), int64(height)))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(cancelBrowser)
	// The first run starts the browser and must carry no deadline: when a
	// deadline ends, the browser ends with it. Later steps run under one.
	if err := chromedp.Do(ctx, first...); err != nil {
		t.Fatalf("starting Chromium at %s: %v", path, err)
	}
	ctx, cancelSteps := context.WithTimeout(ctx, StepTimeout)
	t.Cleanup(cancelSteps)
	return ctx
}
