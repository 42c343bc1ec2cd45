package web

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/sseapi/sse-api/client"
)

func routeFor(t *testing.T, p string) http.HandlerFunc {
	t.Helper()
	for _, r := range Routes() {
		if r.Path == p && r.Method == http.MethodGet {
			return r.Handler
		}
	}
	t.Fatalf("no route for GET %s", p)
	return nil
}

func TestRoutesServeEveryFile(t *testing.T) {
	files := Files()
	names, err := fs.Glob(files, "*")
	if err != nil || len(names) == 0 {
		t.Fatalf("embedded files: %v %v", names, err)
	}
	for _, name := range append(names, "") { // "" is "/", the login page
		file := name
		if file == "" {
			file = "index.html"
		}
		want, err := fs.ReadFile(files, file)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		routeFor(t, "/"+name)(rec, httptest.NewRequest(http.MethodGet, "/"+name, nil))
		if rec.Code != http.StatusOK || rec.Body.String() != string(want) {
			t.Errorf("GET /%s: %d, %d bytes, want 200 and the %d bytes of %s", name, rec.Code, rec.Body.Len(), len(want), file)
		}
		if got := rec.Header().Get("Content-Type"); got != contentTypes[path.Ext(file)] {
			t.Errorf("GET /%s: Content-Type %q", name, got)
		}
		for k, v := range securityHeaders {
			if rec.Header().Get(k) != v {
				t.Errorf("GET /%s: %s %q, want %q", name, k, rec.Header().Get(k), v)
			}
		}

		// Revalidation is cheap: the ETag answers 304 with no body.
		etag := rec.Header().Get("ETag")
		req := httptest.NewRequest(http.MethodGet, "/"+name, nil)
		req.Header.Set("If-None-Match", etag)
		rec = httptest.NewRecorder()
		routeFor(t, "/"+name)(rec, req)
		if etag == "" || rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Errorf("GET /%s with If-None-Match %q: %d, %d bytes", name, etag, rec.Code, rec.Body.Len())
		}
	}
}

// The client library is served from the client folder's own files (the copy published to
// npm), with a type a module script runs with.
func TestRoutesServeTheClientLibrary(t *testing.T) {
	for name, wantType := range map[string]string{
		"sse-api-client.js":   "text/javascript; charset=utf-8",
		"sse-api-client.d.ts": "application/typescript; charset=utf-8",
	} {
		want, err := fs.ReadFile(client.Files(), name)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		routeFor(t, ClientPrefix+name)(rec, httptest.NewRequest(http.MethodGet, ClientPrefix+name, nil))
		if rec.Code != http.StatusOK || rec.Body.String() != string(want) {
			t.Errorf("GET %s%s: %d, %d bytes, want 200 and %d bytes", ClientPrefix, name, rec.Code, rec.Body.Len(), len(want))
		}
		if got := rec.Header().Get("Content-Type"); got != wantType {
			t.Errorf("GET %s%s: Content-Type %q, want %q", ClientPrefix, name, got, wantType)
		}
		if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s%s: X-Content-Type-Options %q", ClientPrefix, name, got)
		}
	}
}

func TestEveryFileHasAKnownContentType(t *testing.T) {
	err := fs.WalkDir(Files(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			if d != nil && d.IsDir() && name != "." {
				t.Errorf("%s: a folder; the pages are served flat, one route per file", name)
			}
			return err
		}
		if contentTypes[path.Ext(name)] == "" {
			t.Errorf("%s: no content type for its extension", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

var (
	// A string or attribute value that starts with "/" is an absolute path (or, with "//",
	// another host): both break under a sub-path proxy.
	absolute = regexp.MustCompile("[\"'`]/[^\\s\"'`]|url\\(\\s*[\"']?/")
	// Absolute URLs with a scheme.
	withScheme = regexp.MustCompile(`(?i)\b(?:https?|wss?):/`)
	linkAttr   = regexp.MustCompile(`\b(?:href|src)="([^"]*)"`)
	importFrom = regexp.MustCompile(`\bfrom '([^']*)'`)
	inputID    = regexp.MustCompile(`<(?:input|textarea|select)\b[^>]*\bid="([^"]+)"`)
	labelFor   = regexp.MustCompile(`<label\b[^>]*\bfor="([^"]+)"`)
)

// Pages behind a proxy at https://example.com/sse/ reach the service only through relative
// URLs; one absolute path would escape the prefix.
func TestPagesUseRelativeURLsOnly(t *testing.T) {
	files := Files()
	names, _ := fs.Glob(files, "*")
	for _, name := range names {
		if path.Ext(name) == ".svg" {
			continue // its xmlns is a name, not a link
		}
		body, _ := fs.ReadFile(files, name)
		for i, line := range strings.Split(string(body), "\n") {
			code := line
			if path.Ext(name) == ".js" {
				code, _, _ = strings.Cut(line, "// ") // comments may cite URLs
			}
			if m := absolute.FindString(code); m != "" {
				t.Errorf("%s:%d: absolute path %q in %q", name, i+1, m, strings.TrimSpace(line))
			}
			if m := withScheme.FindString(code); m != "" {
				t.Errorf("%s:%d: absolute URL %q in %q", name, i+1, m, strings.TrimSpace(line))
			}
		}
	}
}

// Every page and script links only files that exist (pages, or the client library under
// client/), so a renamed file cannot leave a page silently broken.
func TestLinksPointAtEmbeddedFiles(t *testing.T) {
	files := Files()
	names, _ := fs.Glob(files, "*")
	for _, name := range names {
		body, _ := fs.ReadFile(files, name)
		var targets [][]string
		switch path.Ext(name) {
		case ".html":
			targets = linkAttr.FindAllStringSubmatch(string(body), -1)
		case ".js":
			targets = importFrom.FindAllStringSubmatch(string(body), -1)
		}
		for _, m := range targets {
			target, _, _ := strings.Cut(m[1], "?")
			target = strings.TrimPrefix(target, "./")
			if target == "" {
				continue // "./": the login page
			}
			in := files
			if lib, ok := strings.CutPrefix(target, strings.TrimPrefix(ClientPrefix, "/")); ok {
				in, target = client.Files(), lib
			}
			if _, err := fs.Stat(in, target); err != nil {
				t.Errorf("%s links %q, which is not embedded", name, m[1])
			}
		}
	}
}

// The pages' basic accessibility: a language, a title, one h1, and a label for every field.
func TestPagesHaveLabelsAndLandmarks(t *testing.T) {
	files := Files()
	names, _ := fs.Glob(files, "*.html")
	for _, name := range names {
		raw, _ := fs.ReadFile(files, name)
		body := string(raw)
		for _, want := range []string{`<html lang="en">`, "<title>", "<main>", "<nav aria-label="} {
			if !strings.Contains(body, want) {
				t.Errorf("%s has no %s", name, want)
			}
		}
		if n := strings.Count(body, "<h1"); n != 1 {
			t.Errorf("%s has %d h1 headings, want 1", name, n)
		}
		labels := map[string]bool{}
		for _, m := range labelFor.FindAllStringSubmatch(body, -1) {
			labels[m[1]] = true
		}
		for _, m := range inputID.FindAllStringSubmatch(body, -1) {
			if !labels[m[1]] {
				t.Errorf("%s: field #%s has no <label for>", name, m[1])
			}
		}
	}
}
