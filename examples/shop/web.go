package main

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
)

// static holds the page, its script and the committed OpenTelemetry bundle
// (built from web/ with esbuild; see docs/demo.md).
//
//go:embed static
var static embed.FS

type frontendConfig struct {
	gatewayURL    string
	otlpTracesURL string
	clewUI        string
	version       string
}

// newFrontend serves the shop page. It is deliberately not traced: the
// frontend service in Clew is the browser itself, which exports its own
// spans straight to Clew's OTLP/HTTP port.
func newFrontend(cfg frontendConfig) (http.Handler, error) {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		return nil, fmt.Errorf("frontend: static files: %w", err)
	}
	js, err := json.Marshal(map[string]string{
		"gatewayURL":     cfg.gatewayURL,
		"otlpTracesURL":  cfg.otlpTracesURL,
		"clewUI":         cfg.clewUI,
		"serviceName":    "frontend",
		"serviceVersion": cfg.version,
	})
	if err != nil {
		return nil, fmt.Errorf("frontend: page config: %w", err)
	}
	configJS := []byte("window.CLEW_SHOP_CONFIG = " + string(js) + ";\n")

	mux := http.NewServeMux()
	mux.HandleFunc("GET /config.js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(configJS)
	})
	files := http.FileServerFS(sub)
	mux.Handle("GET /", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	return mux, nil
}
