package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sseapi/sse-api/internal/apidoc"
	"github.com/sseapi/sse-api/internal/redistest"
)

// reply is an answer; a stream's body is not read (it does not end).
type reply struct {
	status int
	header http.Header
	body   []byte
}

// apiClient calls an instance whose TrustedProxies has 127.0.0.1, each request from an
// address of its own (X-Forwarded-For) unless it names one: the per-address limits are then
// met only where a case means to meet them.
type apiClient struct {
	t        *testing.T
	base     string
	n        int
	scanKeys map[string]string // of the sessions session made
}

func (c *apiClient) addr() string {
	c.n++
	return fmt.Sprintf("192.0.2.%d, 198.51.100.%d", c.n/250, c.n%250)
}

func (c *apiClient) do(method, path string, header http.Header, body string) reply {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	for k, v := range header {
		req.Header[k] = v
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if req.Header.Get("X-Forwarded-For") == "" {
		req.Header.Set("X-Forwarded-For", c.addr())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	r := reply{status: resp.StatusCode, header: resp.Header}
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		if r.body, err = io.ReadAll(resp.Body); err != nil {
			c.t.Fatal(err)
		}
	}
	return r
}

// hold opens a stream and keeps it open until the test ends or the returned func is called.
func (c *apiClient) hold(path string, header http.Header) func() {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		cancel()
		c.t.Fatalf("hold %s: %v %v", path, resp, err)
	}
	// The stream is counted once its position arrives.
	line := make([]byte, 1)
	for !bytes.Contains(line, []byte("id:")) {
		buf := make([]byte, 256)
		n, err := resp.Body.Read(buf)
		if err != nil {
			cancel()
			c.t.Fatalf("hold %s: %v", path, err)
		}
		line = append(line, buf[:n]...)
	}
	stop := func() { cancel(); resp.Body.Close() }
	c.t.Cleanup(stop)
	return stop
}

// session creates a QR-login session and returns its id and the browser's binding cookie.
func (c *apiClient) session() (id string, cookie http.Header) {
	c.t.Helper()
	r := c.do(http.MethodPost, "/v1/qr/sessions", nil, "")
	var out struct{ ID, ScanKey string }
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &out) != nil {
		c.t.Fatalf("create session: %d %s", r.status, r.body)
	}
	if c.scanKeys == nil {
		c.scanKeys = map[string]string{}
	}
	c.scanKeys[out.ID] = out.ScanKey
	cookie = http.Header{}
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		cookie.Add("Cookie", ck.Name+"="+ck.Value)
	}
	return out.ID, cookie
}

func (c *apiClient) must(r reply, want int, what string) {
	c.t.Helper()
	if r.status != want {
		c.t.Fatalf("%s: %d %s, want %d", what, r.status, r.body, want)
	}
}

// documented is every "METHOD path status" the document has, with what the success
// statuses produce.
func documented(t *testing.T, doc []byte) (map[string]bool, map[string][]string) {
	t.Helper()
	var d struct {
		Paths map[string]map[string]struct {
			Produces  []string                   `json:"produces"`
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	out, produces := map[string]bool{}, map[string][]string{}
	for path, ops := range d.Paths {
		for method, op := range ops {
			for status := range op.Responses {
				out[strings.ToUpper(method)+" "+path+" "+status] = true
			}
			produces[strings.ToUpper(method)+" "+path] = op.Produces
		}
	}
	return out, produces
}

// Every route of the document answers each status it documents, to a request built for it,
// and no status is tried that the document does not have.
func TestOpenAPIStatusesHappen(t *testing.T) {
	redis := redistest.StartServer(t, redistest.Options{})
	inst := start(t, settings{
		RedisAddr: redis.Addr(), MaxPayload: 1024, MaxStreamsPerUser: 1, QRCreatePerMinute: 1, QRMissesPerMinute: 1,
		QRScansPerMinute: 1,
		Extra:            "TrustedProxies: [127.0.0.1]",
	})
	c := &apiClient{t: t, base: inst.Base}

	served := c.do(http.MethodGet, apidoc.Path, nil, "")
	if served.status != http.StatusOK || !bytes.Equal(served.body, apidoc.Document()) ||
		!strings.HasPrefix(served.header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET %s: %d %s, not the embedded document", apidoc.Path, served.status, served.header.Get("Content-Type"))
	}
	docStatuses, produces := documented(t, served.body)

	users := 0
	user := func(publish, subscribe string) http.Header {
		users++
		var pub, sub []string
		if publish != "" {
			pub = []string{publish}
		}
		if subscribe != "" {
			sub = []string{subscribe}
		}
		return bearer(token(t, "user"+strconv.Itoa(users), pub, sub))
	}
	alice, bob := bearer(token(t, "alice", nil, nil)), bearer(token(t, "bob", nil, nil))
	badToken := bearer("not-a-token")
	const unknown = "00000000000000000000000000000000"
	sessionPath := func(id, rest string) string { return "/v1/qr/sessions/" + id + rest }
	// Scans are limited to one per user and minute here: each scan is by a user of its own.
	scanner := func() http.Header { return user("", "") }
	key := func(id string) string { return `{"key":"` + c.scanKeys[id] + `"}` }
	scanned := func(by http.Header) (string, http.Header) {
		id, cookie := c.session()
		c.must(c.do(http.MethodPost, sessionPath(id, "/scan"), by, key(id)), http.StatusOK, "scan")
		return id, cookie
	}
	cancelled := func() (string, http.Header) {
		id, cookie := c.session()
		c.must(c.do(http.MethodDelete, sessionPath(id, ""), cookie, ""), http.StatusOK, "cancel")
		return id, cookie
	}
	twice := func(method, path string, header http.Header) reply {
		h := header.Clone()
		if h == nil {
			h = http.Header{}
		}
		h.Set("X-Forwarded-For", c.addr())
		c.do(method, path, h, "")
		return c.do(method, path, h, "")
	}
	overStreamLimit := func(path string) reply {
		h := user("", "news:*")
		c.hold(path, h)
		return c.do(http.MethodGet, path, h, "")
	}

	const (
		publish = "POST /v1/topics/{topic}/events"
		batch   = "POST /v1/publish"
		hist    = "GET /v1/topics/{topic}/events"
		tickets = "POST /v1/tickets"
		events  = "GET /v1/events"
		me      = "GET /v1/me/events"
		create  = "POST /v1/qr/sessions"
		get     = "GET /v1/qr/sessions/{id}"
		del     = "DELETE /v1/qr/sessions/{id}"
		image   = "GET /v1/qr/sessions/{id}/image.png"
		qrEvs   = "GET /v1/qr/sessions/{id}/events"
		scan    = "POST /v1/qr/sessions/{id}/scan"
		confirm = "POST /v1/qr/sessions/{id}/confirm"
		phone   = "POST /v1/qr/sessions/{id}/cancel"
		xchg    = "POST /v1/qr/sessions/{id}/exchange"
		present = "GET /v1/topics/{topic}/presence"
		discon  = "POST /v1/users/{uid}/disconnect"
	)
	admin := bearer(signed(t, "ops", map[string]any{"admin": true}))
	cases := map[string]func() reply{
		publish + " 201": func() reply { return c.do("POST", "/v1/topics/news:1/events", user("news:*", ""), `{"data":1}`) },
		publish + " 400": func() reply { return c.do("POST", "/v1/topics/news:1/events", user("news:*", ""), `{"data":`) },
		publish + " 401": func() reply { return c.do("POST", "/v1/topics/news:1/events", nil, `{"data":1}`) },
		publish + " 403": func() reply { return c.do("POST", "/v1/topics/news:1/events", user("other:*", ""), `{"data":1}`) },
		publish + " 413": func() reply {
			return c.do("POST", "/v1/topics/news:1/events", user("news:*", ""), `{"data":"`+strings.Repeat("x", 2000)+`"}`)
		},

		batch + " 201": func() reply {
			return c.do("POST", "/v1/publish", user("news:*", ""), `{"events":[{"topic":"news:1","data":1}]}`)
		},
		batch + " 400": func() reply {
			return c.do("POST", "/v1/publish", user("news:*", ""), `{"events":[{"topic":"news:1","data":1},{"topic":"bad topic","data":1}]}`)
		},
		batch + " 401": func() reply { return c.do("POST", "/v1/publish", nil, `{"events":[{"topic":"news:1","data":1}]}`) },
		batch + " 403": func() reply {
			return c.do("POST", "/v1/publish", user("news:*", ""), `{"events":[{"topic":"news:1","data":1},{"topic":"other:1","data":1}]}`)
		},
		batch + " 413": func() reply {
			return c.do("POST", "/v1/publish", user("news:*", ""), `{"events":[{"topic":"news:1","data":"`+strings.Repeat("x", 2000)+`"}]}`)
		},

		hist + " 200": func() reply { return c.do("GET", "/v1/topics/news:1/events?limit=10", user("", "news:*"), "") },
		hist + " 400": func() reply { return c.do("GET", "/v1/topics/news:1/events?after=bad", user("", "news:*"), "") },
		hist + " 401": func() reply { return c.do("GET", "/v1/topics/news:1/events", badToken, "") },
		hist + " 403": func() reply { return c.do("GET", "/v1/topics/secret:1/events", user("", "news:*"), "") },

		tickets + " 201": func() reply { return c.do("POST", "/v1/tickets", user("", "news:*"), `{"topics":["news:1"]}`) },
		tickets + " 400": func() reply { return c.do("POST", "/v1/tickets", user("", "news:*"), `{"topics":["bad topic"]}`) },
		tickets + " 401": func() reply { return c.do("POST", "/v1/tickets", badToken, `{"topics":["news:1"]}`) },
		tickets + " 403": func() reply { return c.do("POST", "/v1/tickets", user("", "news:*"), `{"topics":["secret:1"]}`) },

		events + " 200": func() reply { return c.do("GET", "/v1/events?topic=news:1", user("", "news:*"), "") },
		events + " 400": func() reply { return c.do("GET", "/v1/events?topic=bad%20topic", user("", "news:*"), "") },
		events + " 401": func() reply { return c.do("GET", "/v1/events?topic=news:1", badToken, "") },
		events + " 403": func() reply { return c.do("GET", "/v1/events?topic=secret:1", user("", "news:*"), "") },
		events + " 429": func() reply { return overStreamLimit("/v1/events?topic=news:1") },

		me + " 200": func() reply { return c.do("GET", "/v1/me/events", user("", ""), "") },
		me + " 400": func() reply { return c.do("GET", "/v1/me/events?topic=bad%20topic", user("", "news:*"), "") },
		me + " 401": func() reply { return c.do("GET", "/v1/me/events", nil, "") },
		me + " 403": func() reply { return c.do("GET", "/v1/me/events?topic=secret:1", user("", "news:*"), "") },
		me + " 429": func() reply { return overStreamLimit("/v1/me/events") },

		create + " 201": func() reply { return c.do("POST", "/v1/qr/sessions", nil, "") },
		create + " 429": func() reply { return twice("POST", "/v1/qr/sessions", nil) },

		get + " 200": func() reply { id, ck := c.session(); return c.do("GET", sessionPath(id, ""), ck, "") },
		get + " 403": func() reply { id, _ := c.session(); return c.do("GET", sessionPath(id, ""), nil, "") },
		get + " 404": func() reply { return c.do("GET", sessionPath(unknown, ""), nil, "") },
		get + " 429": func() reply { return twice("GET", sessionPath(unknown, ""), nil) },

		del + " 200": func() reply { id, ck := c.session(); return c.do("DELETE", sessionPath(id, ""), ck, "") },
		del + " 403": func() reply { id, _ := c.session(); return c.do("DELETE", sessionPath(id, ""), nil, "") },
		del + " 404": func() reply { return c.do("DELETE", sessionPath(unknown, ""), nil, "") },
		del + " 410": func() reply { id, ck := cancelled(); return c.do("DELETE", sessionPath(id, ""), ck, "") },

		image + " 200": func() reply { id, ck := c.session(); return c.do("GET", sessionPath(id, "/image.png"), ck, "") },
		image + " 403": func() reply { id, _ := c.session(); return c.do("GET", sessionPath(id, "/image.png"), nil, "") },
		image + " 404": func() reply { return c.do("GET", sessionPath(unknown, "/image.png"), nil, "") },

		qrEvs + " 200": func() reply { id, ck := c.session(); return c.do("GET", sessionPath(id, "/events"), ck, "") },
		qrEvs + " 403": func() reply { id, _ := c.session(); return c.do("GET", sessionPath(id, "/events"), nil, "") },
		qrEvs + " 404": func() reply { return c.do("GET", sessionPath(unknown, "/events"), nil, "") },

		scan + " 200": func() reply { id, _ := c.session(); return c.do("POST", sessionPath(id, "/scan"), scanner(), key(id)) },
		scan + " 401": func() reply { id, _ := c.session(); return c.do("POST", sessionPath(id, "/scan"), nil, key(id)) },
		scan + " 404": func() reply {
			id, _ := c.session()
			return c.do("POST", sessionPath(id, "/scan"), scanner(), `{"key":"wrong"}`)
		},
		scan + " 409": func() reply {
			id, _ := scanned(scanner())
			return c.do("POST", sessionPath(id, "/scan"), scanner(), key(id))
		},
		scan + " 410": func() reply { id, _ := cancelled(); return c.do("POST", sessionPath(id, "/scan"), scanner(), key(id)) },
		scan + " 429": func() reply {
			who := scanner()
			id, _ := scanned(who)
			return c.do("POST", sessionPath(id, "/scan"), who, key(id))
		},

		confirm + " 200": func() reply {
			who := scanner()
			id, _ := scanned(who)
			return c.do("POST", sessionPath(id, "/confirm"), who, "")
		},
		confirm + " 401": func() reply {
			id, _ := scanned(scanner())
			return c.do("POST", sessionPath(id, "/confirm"), badToken, "")
		},
		confirm + " 403": func() reply { id, _ := scanned(scanner()); return c.do("POST", sessionPath(id, "/confirm"), bob, "") },
		confirm + " 404": func() reply { return c.do("POST", sessionPath(unknown, "/confirm"), alice, "") },
		confirm + " 409": func() reply { id, _ := c.session(); return c.do("POST", sessionPath(id, "/confirm"), alice, "") },
		confirm + " 410": func() reply { id, _ := cancelled(); return c.do("POST", sessionPath(id, "/confirm"), alice, "") },

		phone + " 200": func() reply {
			who := scanner()
			id, _ := scanned(who)
			return c.do("POST", sessionPath(id, "/cancel"), who, "")
		},
		phone + " 401": func() reply { id, _ := scanned(scanner()); return c.do("POST", sessionPath(id, "/cancel"), nil, "") },
		phone + " 403": func() reply { id, _ := scanned(scanner()); return c.do("POST", sessionPath(id, "/cancel"), bob, "") },
		phone + " 404": func() reply { return c.do("POST", sessionPath(unknown, "/cancel"), alice, "") },
		phone + " 409": func() reply { id, _ := c.session(); return c.do("POST", sessionPath(id, "/cancel"), alice, "") },
		phone + " 410": func() reply { id, _ := cancelled(); return c.do("POST", sessionPath(id, "/cancel"), alice, "") },

		xchg + " 200": func() reply {
			who := scanner()
			id, ck := scanned(who)
			c.must(c.do("POST", sessionPath(id, "/confirm"), who, ""), http.StatusOK, "confirm")
			return c.do("POST", sessionPath(id, "/exchange"), ck, "")
		},
		xchg + " 403": func() reply { id, _ := c.session(); return c.do("POST", sessionPath(id, "/exchange"), nil, "") },
		xchg + " 404": func() reply { return c.do("POST", sessionPath(unknown, "/exchange"), nil, "") },
		xchg + " 409": func() reply { id, ck := c.session(); return c.do("POST", sessionPath(id, "/exchange"), ck, "") },
		xchg + " 410": func() reply { id, ck := cancelled(); return c.do("POST", sessionPath(id, "/exchange"), ck, "") },

		present + " 200": func() reply { return c.do("GET", "/v1/topics/news:1/presence", user("", "news:*"), "") },
		present + " 400": func() reply { return c.do("GET", "/v1/topics/bad%20topic/presence", user("", "news:*"), "") },
		present + " 401": func() reply { return c.do("GET", "/v1/topics/news:1/presence", badToken, "") },
		present + " 403": func() reply { return c.do("GET", "/v1/topics/news:1/presence", user("", "other:*"), "") },

		discon + " 202": func() reply { return c.do("POST", "/v1/users/nobody/disconnect", admin, "") },
		discon + " 400": func() reply { return c.do("POST", "/v1/users/nobody/disconnect", admin, `{"revoke":"yes"}`) },
		discon + " 401": func() reply { return c.do("POST", "/v1/users/nobody/disconnect", nil, "") },
		discon + " 403": func() reply { return c.do("POST", "/v1/users/nobody/disconnect", user("", ""), "") },
	}

	// With Redis gone, every route that needs it answers 503. A session made before
	// gives the QR routes an id that exists.
	liveID, liveCookie := c.session()
	down := map[string]func() reply{
		publish: func() reply { return c.do("POST", "/v1/topics/news:1/events", user("news:*", ""), `{"data":1}`) },
		batch: func() reply {
			return c.do("POST", "/v1/publish", user("news:*", ""), `{"events":[{"topic":"news:1","data":1}]}`)
		},
		hist:    func() reply { return c.do("GET", "/v1/topics/news:1/events", user("", "news:*"), "") },
		tickets: func() reply { return c.do("POST", "/v1/tickets", user("", "news:*"), `{"topics":["news:1"]}`) },
		// A topic the instance has not served yet: it must ask Redis where the topic stands.
		events:  func() reply { return c.do("GET", "/v1/events?topic=news:unseen", user("", "news:*"), "") },
		me:      func() reply { return c.do("GET", "/v1/me/events", user("", ""), "") },
		create:  func() reply { return c.do("POST", "/v1/qr/sessions", nil, "") },
		get:     func() reply { return c.do("GET", sessionPath(liveID, ""), liveCookie, "") },
		del:     func() reply { return c.do("DELETE", sessionPath(liveID, ""), liveCookie, "") },
		image:   func() reply { return c.do("GET", sessionPath(liveID, "/image.png"), liveCookie, "") },
		qrEvs:   func() reply { return c.do("GET", sessionPath(liveID, "/events"), liveCookie, "") },
		scan:    func() reply { return c.do("POST", sessionPath(liveID, "/scan"), scanner(), key(liveID)) },
		confirm: func() reply { return c.do("POST", sessionPath(liveID, "/confirm"), alice, "") },
		phone:   func() reply { return c.do("POST", sessionPath(liveID, "/cancel"), alice, "") },
		xchg:    func() reply { return c.do("POST", sessionPath(liveID, "/exchange"), liveCookie, "") },
		present: func() reply { return c.do("GET", "/v1/topics/news:1/presence", user("", "news:*"), "") },
		discon:  func() reply { return c.do("POST", "/v1/users/nobody/disconnect", admin, `{"revoke":true}`) },
	}
	for op, call := range down {
		cases[op+" 503"] = call
	}

	for key := range docStatuses {
		if cases[key] == nil {
			t.Errorf("documented, but no case makes it happen: %s", key)
		}
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range cases {
			if !yield(k) {
				return
			}
		}
	})
	check := func(key string) {
		t.Helper()
		if !docStatuses[key] {
			t.Errorf("a case for %s, which the document does not have", key)
			return
		}
		r := cases[key]()
		status, _ := strconv.Atoi(key[strings.LastIndexByte(key, ' ')+1:])
		op := key[:strings.LastIndexByte(key, ' ')]
		ct := r.header.Get("Content-Type")
		var e struct{ Code, Message string }
		switch {
		case r.status != status:
			t.Errorf("%s: answered %d %s", key, r.status, r.body)
		case status >= 400 && (json.Unmarshal(r.body, &e) != nil || e.Code == "" || e.Message == ""):
			t.Errorf("%s: the error is not the documented {code, message}: %s %q", key, ct, r.body)
		case status < 400 && !slices.ContainsFunc(produces[op], func(p string) bool { return strings.HasPrefix(ct, p) }):
			t.Errorf("%s: Content-Type %q, documented %v", key, ct, produces[op])
		}
	}
	for _, key := range keys {
		if !strings.HasSuffix(key, " 503") {
			check(key)
		}
	}
	redis.Kill(t)
	for _, key := range keys {
		if strings.HasSuffix(key, " 503") {
			check(key)
		}
	}
}
