package ui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"path"
	"strings"
)

//go:embed assets
var assets embed.FS

// assetPrefix is the URL prefix of static files; index.html links to it with
// absolute paths because it is served at every client route (/trace/{id}, ...).
const assetPrefix = "/assets/"

type file struct {
	body        []byte
	etag        string
	contentType string
}

// configPath is the UI's settings from the server: what the page cannot
// know by itself, such as where this Clew takes OTLP.
const configPath = assetPrefix + "config.json"

// Ingest is where the server receives telemetry: listen addresses as bound
// (host:port; empty when that receiver is off).
type Ingest struct {
	OTLPGRPC string
	OTLPHTTP string
}

// Options configure the UI handler.
type Options struct {
	// Ingest reports the receivers' bound addresses; it is called per
	// request because ports picked at start (":0") are known only then.
	// Nil: the UI says no address.
	Ingest func() Ingest
}

type handler struct {
	files  map[string]file // URL path → file
	index  file
	ingest func() Ingest
}

// Handler serves the UI. Mount it for every path the API does not claim:
// /assets/* are static files (and /assets/config.json the server's
// settings for the page), anything else gets index.html and is routed by
// the app in the browser (/, /search, /trace/{id}, /services, /map, /compare).
func Handler(opts ...Options) http.Handler {
	h := &handler{files: map[string]file{}}
	for _, o := range opts {
		if o.Ingest != nil {
			h.ingest = o.Ingest
		}
	}
	// The embedded tree is fixed at build time, so walking it cannot fail
	// except through a programming error, which the tests catch.
	_ = fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct := mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) {
		case ".mjs", ".js":
			// Browsers refuse module scripts without a JavaScript MIME type,
			// and the system MIME table may not know .mjs.
			ct = "text/javascript; charset=utf-8"
		case "":
			ct = "text/plain; charset=utf-8"
		}
		h.files["/"+p] = file{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, contentType: ct}
		return nil
	})
	h.index = h.files["/assets/index.html"]
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == configPath {
		h.serveConfig(w, r)
		return
	}
	f := h.index
	if strings.HasPrefix(r.URL.Path, assetPrefix) {
		var ok bool
		if f, ok = h.files[r.URL.Path]; !ok {
			http.NotFound(w, r)
			return
		}
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("ETag", f.etag)
	// Asset names carry no content hash, so the browser must revalidate;
	// the ETag makes that a 304.
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if match := r.Header.Get("If-None-Match"); match != "" && match == f.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(f.body)
}

// pageConfig is /assets/config.json.
type pageConfig struct {
	OTLP struct {
		GRPC string `json:"grpc"` // host:port, as an SDK dials it; "" when off
		HTTP string `json:"http"` // base URL (OTEL_EXPORTER_OTLP_ENDPOINT); "" when off
	} `json:"otlp"`
}

func (h *handler) serveConfig(w http.ResponseWriter, r *http.Request) {
	var c pageConfig
	if h.ingest != nil {
		in := h.ingest()
		c.OTLP.GRPC = advertise(in.OTLPGRPC, r.Host)
		if a := advertise(in.OTLPHTTP, r.Host); a != "" {
			c.OTLP.HTTP = "http://" + a
		}
	}
	w.Header().Set("Content-Type", "application/json")
	// The addresses can change with a restart; never cache them.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		return
	}
	_ = json.NewEncoder(w).Encode(c)
}

// advertise turns a bound listen address into one a client can dial: a
// wildcard host (":4318", "0.0.0.0:4318", "[::]:4318") becomes the host the
// browser used to reach the UI (from the request's Host header), since that
// name evidently reaches this machine. "" stays "" (receiver off).
func advertise(bound, requestHost string) string {
	host, port, err := net.SplitHostPort(bound)
	if err != nil || port == "" {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
		if h, _, err := net.SplitHostPort(requestHost); err == nil && h != "" {
			host = h
		} else if requestHost != "" && !strings.Contains(requestHost, ":") {
			host = requestHost
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	return net.JoinHostPort(host, port)
}
