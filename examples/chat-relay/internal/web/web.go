// Package web serves the example's page: it asks a question, then follows the answer's
// topic on sse-api with EventSource and shows the answer as it comes.
package web

import (
	_ "embed"
	"html"
	"net/http"
	"net/url"
	"strings"

	"github.com/zeromicro/go-zero/rest"
)

var (
	//go:embed static/index.html
	indexHTML string
	//go:embed static/app.js
	appJS []byte
)

// Register serves the page at / and its script at /app.js. eventsBase is sse-api's address
// as browsers reach it: the page reads it from a meta tag, and may connect to it only.
func Register(server *rest.Server, eventsBase string) {
	base := strings.TrimSuffix(eventsBase, "/")
	page := []byte(strings.Replace(indexHTML, "{{EVENTS_BASE}}", html.EscapeString(base), 1))
	origin := base
	if u, err := url.Parse(base); err == nil {
		origin = u.Scheme + "://" + u.Host
	}
	csp := "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self' " + origin +
		"; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	serve := func(contentType string, body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Type", contentType)
			h.Set("Content-Security-Policy", csp)
			h.Set("X-Content-Type-Options", "nosniff")
			// The answer's id is in the page's fragment, never sent; no Referer leaks it either.
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("Cache-Control", "no-cache")
			_, _ = w.Write(body)
		}
	}
	server.AddRoutes([]rest.Route{
		{Method: http.MethodGet, Path: "/", Handler: serve("text/html; charset=utf-8", page)},
		{Method: http.MethodGet, Path: "/app.js", Handler: serve("text/javascript; charset=utf-8", appJS)},
	})
}
