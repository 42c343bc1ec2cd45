// Package web serves the demo pages that `go run .` shows at http://localhost:8888/: QR
// login (index.html), the phone simulator (phone.html) and the topic console
// (console.html). They are plain HTML, CSS and JavaScript modules embedded in the binary, so
// nothing is built at run time, and every URL in them is relative, so they also work when a
// proxy serves the service under a sub-path. The browser client library the pages use,
// sse-api-client.js and its TypeScript declarations, is served at /client/ from the files of
// the client folder, where it is published to npm from.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"time"

	"github.com/zeromicro/go-zero/rest"

	"github.com/sseapi/sse-api/client"
)

//go:embed static
var static embed.FS

// Files returns the embedded pages and assets, named as they are served (without "/").
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the folder
	}
	return sub
}

// securityHeaders go on every page and asset. The pages load only their own scripts, styles
// and images and talk only to their own origin; published event data is shown as text, and
// the policy is the second line of defence should that ever change.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
		"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy":        "no-referrer",
	// Revalidate every time (cheap, with the ETag), so a new binary's pages show at once.
	"Cache-Control": "no-cache",
}

// contentTypes are spelled out rather than taken from the system's MIME table, which varies
// between machines, and a module script with the wrong type does not run.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".ts":   "application/typescript; charset=utf-8", // the client's declarations (.d.ts)
	".png":  "image/png",
	".svg":  "image/svg+xml",
}

// ClientPrefix is where the client library's files are served: /client/sse-api-client.js.
const ClientPrefix = "/client/"

// Routes serve each embedded page and asset at /<name>, index.html at / too, and the client
// library's files under ClientPrefix. They are plain go-zero routes (one per file, no
// catch-all), so the API's own routes and its JSON 404 for unknown paths are untouched.
func Routes() []rest.Route {
	routes := fileRoutes(Files(), "/")
	return append(routes, fileRoutes(client.Files(), ClientPrefix)...)
}

func fileRoutes(files fs.FS, prefix string) []rest.Route {
	var routes []rest.Route
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		if contentTypes[path.Ext(name)] == "" {
			return fmt.Errorf("web: no content type for %s; add its extension to contentTypes", name)
		}
		h := fileHandler(name, body)
		routes = append(routes, rest.Route{Method: http.MethodGet, Path: prefix + name, Handler: h})
		if prefix == "/" && name == "index.html" {
			routes = append(routes, rest.Route{Method: http.MethodGet, Path: "/", Handler: h})
		}
		return nil
	})
	if err != nil {
		panic(err) // a file the table lacks: TestRoutesServeEveryFile fails first
	}
	return routes
}

// Register adds the pages to server.
func Register(server *rest.Server) {
	server.AddRoutes(Routes())
}

func fileHandler(name string, body []byte) http.HandlerFunc {
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	contentType := contentTypes[path.Ext(name)]
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range securityHeaders {
			h.Set(k, v)
		}
		h.Set("Content-Type", contentType)
		h.Set("ETag", etag)
		// ServeContent answers If-None-Match with 304 and handles ranges and HEAD.
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
	}
}
