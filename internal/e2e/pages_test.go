package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// The service serves its demo pages at / beside the API, and unknown paths still get the
// API's JSON 404.
func TestPagesAreServedBesideTheAPI(t *testing.T) {
	a := start(t, settings{})
	for path, want := range map[string]string{
		"/":             "<h1>Sign in with your phone</h1>",
		"/index.html":   "<h1>Sign in with your phone</h1>",
		"/phone.html":   "<h1>Phone simulator</h1>",
		"/console.html": "<h1>Topic console</h1>",
		"/login.js":     "subscribe(",
	} {
		resp, err := http.Get(a.Base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, body has no %q", path, resp.StatusCode, want)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
	}
	for _, path := range []string{"/nope.html", "/static/index.html", "/v1"} {
		status, body := callRaw(t, http.MethodGet, a.Base+path, "", nil)
		if status != http.StatusNotFound || !strings.Contains(string(body), `"code":"not_found"`) {
			t.Errorf("GET %s: %d %s, want the API's JSON 404", path, status, body)
		}
	}
}
