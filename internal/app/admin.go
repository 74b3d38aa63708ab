package app

import (
	"errors"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/clewtrace/clew/internal/auth"
)

// adminHandler serves the admin port: /metrics, /healthz and /readyz open
// (scrapers and probes carry no token), the profiles behind the query token
// when one is set, because they read memory contents (goroutine stacks,
// the command line) and burn CPU on request. The admin port listens on
// loopback by default (docs/security.md).
func (a *App) adminHandler() http.Handler {
	admin := http.NewServeMux()
	admin.Handle("/metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	admin.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	admin.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !a.ready.Load() {
			http.Error(w, "starting or stopping", http.StatusServiceUnavailable)
			return
		}
		// Not ready while data cannot be written (a full disk), so a load
		// balancer sends exports elsewhere; ready again once the WAL writes.
		if err := errors.Join(a.store.Ready(), a.logs.Ready()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})

	// Profiles, so "where does the time go" can be answered on a running Clew.
	profiles := http.NewServeMux()
	profiles.HandleFunc("/debug/pprof/", pprof.Index)
	profiles.Handle("/debug/pprof/cmdline", cmdlineHandler(os.Args))
	profiles.HandleFunc("/debug/pprof/profile", pprof.Profile)
	profiles.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	profiles.HandleFunc("/debug/pprof/trace", pprof.Trace)
	admin.Handle("/debug/pprof/", auth.Require(auth.NewToken(a.cfg.QueryToken), profiles, nil))
	return admin
}

// secretFlags are the flags whose values /debug/pprof/cmdline must not show.
var secretFlags = map[string]bool{"ingest-token": true, "query-token": true}

// cmdlineHandler replaces pprof.Cmdline: the same NUL-separated output, with
// the values of token flags replaced by REDACTED in every form the flag
// package accepts (-f v, --f v, -f=v, --f=v).
func cmdlineHandler(args []string) http.Handler {
	shown := redactArgs(args)
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(strings.Join(shown, "\x00")))
	})
}

func redactArgs(args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	for i := 1; i < len(out); i++ {
		arg := out[i]
		if arg == "--" {
			break // the flag package stops here too
		}
		if !strings.HasPrefix(arg, "-") {
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if !secretFlags[name] {
			continue
		}
		if hasValue {
			out[i] = arg[:strings.Index(arg, "=")+1] + "REDACTED"
		} else if i+1 < len(out) {
			out[i+1] = "REDACTED"
			i++
		}
	}
	return out
}
