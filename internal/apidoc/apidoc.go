// Package apidoc serves the API document, openapi.json (swagger 2.0), at /openapi.json.
// `make gen` (tools/gen.sh) makes the document from sse.api with goctl and completes it
// with overlay.yaml (tools/openapi); it is embedded, so the binary serves the document of
// its own API. The package is small: it has the one route, and the document lives here.
package apidoc

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/zeromicro/go-zero/rest"
)

// Path is where the document is served.
const Path = "/openapi.json"

//go:embed openapi.json
var document []byte

// Document returns the API document.
func Document() []byte { return bytes.Clone(document) }

// Routes serve the document, a plain go-zero route like the pages' (internal/web).
func Routes() []rest.Route {
	sum := sha256.Sum256(document)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	return []rest.Route{{Method: http.MethodGet, Path: Path, Handler: func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", etag)
		http.ServeContent(w, r, "openapi.json", time.Time{}, bytes.NewReader(document))
	}}}
}

// Register adds the route to server.
func Register(server *rest.Server) {
	server.AddRoutes(Routes())
}
