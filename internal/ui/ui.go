package ui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
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

type handler struct {
	files map[string]file // URL path → file
	index file
}

// Handler serves the UI. Mount it for every path the API does not claim:
// /assets/* are static files, anything else gets index.html and is routed by
// the app in the browser (/, /search, /trace/{id}, /services, /map, /compare).
func Handler() http.Handler {
	h := &handler{files: map[string]file{}}
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
