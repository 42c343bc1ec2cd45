package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/sseapi/sse-api/internal/redistest"
)

// browser is one browser: its own cookie jar.
type browser struct {
	t      *testing.T
	client *http.Client
	header http.Header
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, client: &http.Client{Jar: jar}, header: http.Header{}}
}

func (b *browser) do(method, url string, header http.Header) (int, map[string]any) {
	b.t.Helper()
	return doJSON(b.t, b.client, method, url, header, b.header)
}

func doJSON(t *testing.T, client *http.Client, method, url string, headers ...http.Header) (int, map[string]any) {
	t.Helper()
	return sendJSON(t, client, method, url, "", headers...)
}

// sendJSON is doJSON with a request body, sent as JSON when there is one.
func sendJSON(t *testing.T, client *http.Client, method, url, body string, headers ...http.Header) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		for k, v := range h {
			req.Header[k] = v
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	if len(raw) > 0 && json.Unmarshal(raw, &out) != nil {
		t.Fatalf("%s %s: %d, not JSON: %q", method, url, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// qrSession is a session created by a browser. key is the scan key its QR carries.
type qrSession struct {
	id, key, base string
	owner         *browser
	created       map[string]any // the create answer
}

var scanKey = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`) // 128 bits, base64url

func createSession(t *testing.T, a *instance, b *browser) qrSession {
	t.Helper()
	status, out := b.do(http.MethodPost, a.Base+"/v1/qr/sessions", nil)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, out)
	}
	id, _ := out["id"].(string)
	key, _ := out["scanKey"].(string)
	// The QR carries the id and the scan key (QRLogin.Content is the default here).
	if out["eventsUrl"] != "/v1/qr/sessions/"+id+"/events" || !scanKey.MatchString(key) ||
		out["content"] != "sseapi://qr-login?id="+id+"&key="+key {
		t.Fatalf("create answer %v", out)
	}
	return qrSession{id: id, key: key, base: a.Base + "/v1/qr/sessions/" + id, owner: b, created: out}
}

// phone calls a phone route; a scan sends the key of the QR, as a phone that read it does.
func (s qrSession) phone(t *testing.T, action, tok string) (int, map[string]any) {
	t.Helper()
	body := ""
	if action == "scan" {
		body = `{"key":"` + s.key + `"}`
	}
	return s.phoneWith(t, action, tok, body)
}

func (s qrSession) phoneWith(t *testing.T, action, tok, body string) (int, map[string]any) {
	t.Helper()
	h := http.Header{}
	if tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	return sendJSON(t, http.DefaultClient, http.MethodPost, s.base+"/"+action, body, h)
}

func (s qrSession) events(t *testing.T, b *browser, header http.Header) *stream {
	t.Helper()
	return openWith(t, b.client, s.base+"/events", header)
}

func phoneToken(t *testing.T, uid string) string { return token(t, uid, nil, nil) }

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestQRIdsAreServerMadeAndUnguessable(t *testing.T) {
	a := start(t, settings{})
	b := newBrowser(t)
	seen := map[string]bool{}
	for i := 0; i < 10; i++ {
		s := createSession(t, a, b)
		if !hexID.MatchString(s.id) || seen[s.id] {
			t.Fatalf("id %q: want 128 random bits (32 hex), distinct", s.id)
		}
		seen[s.id] = true
	}
	// A client cannot choose an id: there is no field for it, and made-up ids do not exist.
	made := strings.Repeat("ab", 16)
	status, out := doJSON(t, http.DefaultClient, http.MethodPost, a.Base+"/v1/qr/sessions?id="+made, nil)
	if status != http.StatusCreated || out["id"] == made {
		t.Fatalf("create with a chosen id: %d %v", status, out)
	}
	s := qrSession{id: made, base: a.Base + "/v1/qr/sessions/" + made}
	if status, out := s.phone(t, "scan", phoneToken(t, "mallory")); status != http.StatusNotFound {
		t.Fatalf("scan of a made-up id: %d %v", status, out)
	}
}

// Invariants 2 and 6: knowing the id is not enough; only the creating browser reads,
// exchanges or cancels, and the token is never on the stream.
func TestQRSessionIsBoundToItsBrowser(t *testing.T) {
	a := start(t, settings{})
	owner, other := newBrowser(t), newBrowser(t)
	s := createSession(t, a, owner)
	if status, _ := s.phone(t, "scan", phoneToken(t, "alice")); status != http.StatusOK {
		t.Fatalf("scan: %d", status)
	}
	if status, _ := s.phone(t, "confirm", phoneToken(t, "alice")); status != http.StatusOK {
		t.Fatalf("confirm: %d", status)
	}
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, ""}, {http.MethodGet, "/events"}, {http.MethodPost, "/exchange"}, {http.MethodDelete, ""},
		{http.MethodGet, "/image.png"}, // it shows the scan key
	} {
		status, out := other.do(c.method, s.base+c.path, nil)
		if status != http.StatusForbidden || out["code"] != "forbidden" {
			t.Errorf("%s %s by another browser: %d %v", c.method, c.path, status, out)
		}
		status, _ = doJSON(t, http.DefaultClient, c.method, s.base+c.path, http.Header{"Cookie": {"qr_binding=forged"}})
		if status != http.StatusForbidden {
			t.Errorf("%s %s with a forged cookie: %d", c.method, c.path, status)
		}
	}
	// The owner still can.
	if status, out := owner.do(http.MethodPost, s.base+"/exchange", nil); status != http.StatusOK {
		t.Fatalf("exchange by the owner: %d %v", status, out)
	}
}

func TestQRStreamShowsEveryStepThenClosesAndNeverCarriesTheToken(t *testing.T) {
	a := start(t, settings{})
	b := newBrowser(t)
	s := createSession(t, a, b)
	ev := mustStream(t, s.events(t, b, nil))
	expectState(t, ev.next(t), "pending")

	alice := phoneToken(t, "alice")
	status, scan := s.phone(t, "scan", alice)
	if status != http.StatusOK {
		t.Fatalf("scan: %d %v", status, scan)
	}
	// Invariant 7: the phone sees where the login comes from before it confirms.
	req := scan["requester"].(map[string]any)
	if req["ip"] != "127.0.0.1" || req["userAgent"] != "Go-http-client/1.1" || req["createdAt"] == "" || scan["confirmBefore"] == "" {
		t.Fatalf("scan answer %v", scan)
	}
	scanned := expectState(t, ev.next(t), "scanned")
	if scanned["hint"] != "a***e" {
		t.Fatalf("scanned data %v: want a masked hint", scanned)
	}
	if status, _ := s.phone(t, "confirm", alice); status != http.StatusOK {
		t.Fatal("confirm refused")
	}
	// The browser learns whom it would be signed in as, on the stream and in the snapshot,
	// before it exchanges.
	if confirmed := expectState(t, ev.next(t), "confirmed"); confirmed["hint"] != "a***e" || len(confirmed) != 2 {
		t.Fatalf("confirmed data %v: want the state and the masked hint", confirmed)
	}
	if status, snap := b.do(http.MethodGet, s.base, nil); status != http.StatusOK || snap["state"] != "confirmed" || snap["hint"] != "a***e" {
		t.Fatalf("snapshot after the confirm: %d %v", status, snap)
	}
	status, out := b.do(http.MethodPost, s.base+"/exchange", nil)
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %v", status, out)
	}
	tok := out["accessToken"].(string)
	claims := jwtClaims(t, tok)
	if claims["uid"] != "alice" || claims["jti"] == nil || claims["jti"] == "" {
		t.Fatalf("token claims %v", claims)
	}
	expectState(t, ev.next(t), "consumed")
	ev.waitEnded(t) // exactly one terminal event, then the stream closes
	select {
	case extra := <-ev.Events:
		t.Fatalf("event after the terminal one: %+v", extra)
	default:
	}
	// The token works, and no event of the session ever held it or any JWT.
	mustOpen(t, a.Base+"/v1/events?topic=user:alice", bearer(tok)).waitPosition(t)
	history, err := redistest.Client(t).XRange(context.Background(), "sse:{qr:"+s.id+"}:events", "-", "+").Result()
	if err != nil || len(history) != 4 {
		t.Fatalf("history %v %v", history, err)
	}
	for _, e := range history {
		if d := e.Values["d"].(string); strings.Contains(d, "eyJ") || strings.Contains(d, "alice") {
			t.Fatalf("event data %s carries a token or the uid", d)
		}
	}
	// Reconnecting after the end yields the terminal state and closes (invariant 8).
	again := mustStream(t, s.events(t, b, nil))
	expectState(t, again.next(t), "consumed")
	again.waitEnded(t)
	// A second exchange gets nothing (no double login).
	if status, out := b.do(http.MethodPost, s.base+"/exchange", nil); status != http.StatusGone {
		t.Fatalf("second exchange: %d %v", status, out)
	}
}

func TestQRPhoneRules(t *testing.T) {
	a := start(t, settings{})
	s := createSession(t, a, newBrowser(t))
	alice, bob := phoneToken(t, "alice"), phoneToken(t, "bob")
	steps := []struct {
		action, tok string
		status      int
	}{
		{"scan", "", http.StatusUnauthorized},
		{"scan", "garbage", http.StatusUnauthorized},
		{"confirm", alice, http.StatusConflict}, // confirm before scan
		{"scan", alice, http.StatusOK},
		{"scan", bob, http.StatusConflict},     // second scan, by someone else
		{"scan", alice, http.StatusConflict},   // or the same user
		{"confirm", bob, http.StatusForbidden}, // not the user who scanned
		{"cancel", bob, http.StatusForbidden},  // nor may he cancel
		{"confirm", alice, http.StatusOK},
		{"confirm", alice, http.StatusConflict}, // second confirm
		{"cancel", alice, http.StatusOK},        // the phone may still back out before the exchange
		{"cancel", alice, http.StatusGone},      // once: cancelled is final
	}
	for _, st := range steps {
		if status, out := s.phone(t, st.action, st.tok); status != st.status {
			t.Fatalf("%s with %q: %d %v, want %d", st.action, st.tok[:min(len(st.tok), 5)], status, out, st.status)
		}
	}
}

func TestQRConcurrentConfirmsHaveOneWinner(t *testing.T) {
	a := start(t, settings{})
	s := createSession(t, a, newBrowser(t))
	alice := phoneToken(t, "alice")
	if status, _ := s.phone(t, "scan", alice); status != http.StatusOK {
		t.Fatal("scan refused")
	}
	var wg sync.WaitGroup
	statuses := make(chan int, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _ := s.phone(t, "confirm", alice)
			statuses <- status
		}()
	}
	wg.Wait()
	close(statuses)
	won := 0
	for st := range statuses {
		switch st {
		case http.StatusOK:
			won++
		case http.StatusConflict:
		default:
			t.Fatalf("confirm answered %d", st)
		}
	}
	if won != 1 {
		t.Fatalf("%d confirms won, want exactly 1", won)
	}
}

// Invariants 5 and 11: expiry is pushed on time by the service, and an expired session
// refuses everything while its key is still in Redis.
func TestQRExpiryIsPushedAndRefusedBeforeTheKeyIsGone(t *testing.T) {
	a := start(t, settings{QRTTL: "1s"})
	b := newBrowser(t)
	s := createSession(t, a, b)
	ev := mustStream(t, s.events(t, b, nil))
	expectState(t, ev.next(t), "pending")
	expectState(t, ev.next(t), "expired") // pushed by the service's timer
	ev.waitEnded(t)
	if n, _ := redistest.Client(t).Exists(context.Background(), "sse:{qr:"+s.id+"}:session").Result(); n != 1 {
		t.Fatal("the session key is gone already: this test would prove nothing")
	}
	alice := phoneToken(t, "alice")
	for _, action := range []string{"scan", "confirm", "cancel"} {
		if status, out := s.phone(t, action, alice); status != http.StatusGone {
			t.Fatalf("%s after expiry: %d %v", action, status, out)
		}
	}
	if status, out := b.do(http.MethodPost, s.base+"/exchange", nil); status != http.StatusGone {
		t.Fatalf("exchange after expiry: %d %v", status, out)
	}
	if status, out := b.do(http.MethodGet, s.base, nil); status != http.StatusOK || out["state"] != "expired" {
		t.Fatalf("snapshot after expiry: %d %v", status, out)
	}
}

func TestQRConfirmWindowAfterScan(t *testing.T) {
	a := start(t, settings{QRConfirmWindow: "1s"})
	b := newBrowser(t)
	s := createSession(t, a, b)
	ev := mustStream(t, s.events(t, b, nil))
	expectState(t, ev.next(t), "pending")
	if status, _ := s.phone(t, "scan", phoneToken(t, "alice")); status != http.StatusOK {
		t.Fatal("scan refused")
	}
	expectState(t, ev.next(t), "scanned")
	expectState(t, ev.next(t), "expired") // the window, not the 2 minutes
	if status, _ := s.phone(t, "confirm", phoneToken(t, "alice")); status != http.StatusGone {
		t.Fatalf("confirm after the window: %d", status)
	}
}

func TestQRTransitionsReachAStreamOnAnotherInstance(t *testing.T) {
	a, b := start(t, settings{}), start(t, settings{})
	br := newBrowser(t)
	s := createSession(t, a, br)
	onB := qrSession{id: s.id, base: b.Base + "/v1/qr/sessions/" + s.id}
	// The browser's cookie is scoped by path, not by port: send it to B as well.
	cookies := br.client.Jar.Cookies(mustURL(t, s.base+"/events"))
	ev := mustStream(t, openWith(t, http.DefaultClient, onB.base+"/events", http.Header{"Cookie": {cookies[0].String()}}))
	expectState(t, ev.next(t), "pending")
	alice := phoneToken(t, "alice")
	s.phone(t, "scan", alice)
	expectState(t, ev.next(t), "scanned")
	s.phone(t, "cancel", alice)
	expectState(t, ev.next(t), "cancelled")
	ev.waitEnded(t)
}

func TestQRBrowserCancel(t *testing.T) {
	a := start(t, settings{})
	b := newBrowser(t)
	s := createSession(t, a, b)
	if status, out := b.do(http.MethodDelete, s.base, nil); status != http.StatusOK || out["state"] != "cancelled" {
		t.Fatalf("cancel: %d %v", status, out)
	}
	if status, _ := s.phone(t, "scan", phoneToken(t, "alice")); status != http.StatusGone {
		t.Fatalf("scan after cancel: %d", status)
	}
}

func TestQRRateLimits(t *testing.T) {
	a := start(t, settings{Extra: "TrustedProxies: [127.0.0.1]", QRCreatePerMinute: 2, QRMissesPerMinute: 2})
	b := newBrowser(t)
	b.header.Set("X-Forwarded-For", randomTestIP())
	for i := 0; i < 2; i++ {
		createSession(t, a, b)
	}
	if status, out := b.do(http.MethodPost, a.Base+"/v1/qr/sessions", nil); status != http.StatusTooManyRequests || out["code"] != "rate_limited" {
		t.Fatalf("third creation: %d %v", status, out)
	}
	// Guessing ids: 404 while the budget lasts, then 429.
	guess := func() int {
		status, _ := b.do(http.MethodGet, a.Base+"/v1/qr/sessions/"+strings.Repeat("0", 32), nil)
		return status
	}
	if got := []int{guess(), guess(), guess()}; got[0] != 404 || got[1] != 404 || got[2] != 429 {
		t.Fatalf("guesses answered %v, want 404 404 429", got)
	}
	// The requester's address comes from the trusted proxy and is what the phone sees.
	other := newBrowser(t)
	ip := randomTestIP()
	other.header.Set("X-Forwarded-For", ip)
	s := createSession(t, a, other)
	_, scan := s.phone(t, "scan", phoneToken(t, "alice"))
	if scan["requester"].(map[string]any)["ip"] != ip {
		t.Fatalf("requester %v, want %s", scan["requester"], ip)
	}
}

func mustStream(t *testing.T, s *stream) *stream {
	t.Helper()
	if s.Resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(s.Resp.Body)
		t.Fatalf("events: %d %s", s.Resp.StatusCode, body)
	}
	return s
}

// expectState checks an event of a QR stream and returns its data.
func expectState(t *testing.T, ev event, state string) map[string]any {
	t.Helper()
	var data map[string]any
	if err := json.Unmarshal([]byte(ev.Data), &data); err != nil {
		t.Fatalf("event %+v: %v", ev, err)
	}
	if ev.Type != state || data["state"] != state || ev.ID == "" {
		t.Fatalf("event %+v, want state %s", ev, state)
	}
	return data
}

func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// The scan must present the key the QR carries: the session id alone (it is in the
// browser's URLs, cookie paths and logs) scans nothing, and every wrong or missing key gets
// exactly the answer of an unknown id, whatever the session's state.
func TestQRScanNeedsTheKeyOfTheQR(t *testing.T) {
	a := start(t, settings{})
	b := newBrowser(t)
	s := createSession(t, a, b)
	other := createSession(t, a, newBrowser(t))
	ev := mustStream(t, s.events(t, b, nil))
	expectState(t, ev.next(t), "pending")
	mallory := phoneToken(t, "mallory")
	unknown := qrSession{id: strings.Repeat("ab", 16), base: a.Base + "/v1/qr/sessions/" + strings.Repeat("ab", 16)}
	_, unknownAnswer := unknown.phoneWith(t, "scan", mallory, `{"key":"`+s.key+`"}`)
	if unknownAnswer["code"] != "not_found" {
		t.Fatalf("scan of an unknown id: %v", unknownAnswer)
	}
	wrong := map[string]string{
		"no body":           "",
		"an empty object":   `{}`,
		"an empty key":      `{"key":""}`,
		"another QR's key":  `{"key":"` + other.key + `"}`,
		"a made-up key":     `{"key":"AAAAAAAAAAAAAAAAAAAAAA"}`,
		"the id as the key": `{"key":"` + s.id + `"}`,
		"the key cut short": `{"key":"` + s.key[:21] + `"}`,
	}
	refused := func(when string) {
		t.Helper()
		for name, body := range wrong {
			status, out := s.phoneWith(t, "scan", mallory, body)
			if status != http.StatusNotFound || !reflect.DeepEqual(out, unknownAnswer) {
				t.Fatalf("%s: scan with %s: %d %v, want the unknown id's 404 %v", when, name, status, out, unknownAnswer)
			}
		}
		// The key in the query string, where logs would keep it, does not count either.
		if status, _ := s.phoneWith(t, "scan?key="+s.key, mallory, ""); status != http.StatusNotFound {
			t.Fatalf("%s: scan with the key in the URL: %d", when, status)
		}
	}
	refused("pending")
	if status, snap := b.do(http.MethodGet, s.base, nil); status != http.StatusOK || snap["state"] != "pending" {
		t.Fatalf("after scans without the key: %d %v", status, snap)
	}
	if status, out := s.phone(t, "scan", phoneToken(t, "alice")); status != http.StatusOK {
		t.Fatalf("scan with the QR's key: %d %v", status, out)
	}
	expectState(t, ev.next(t), "scanned") // the first event since: nothing came of the refused scans
	refused("scanned")                    // not 409, which would tell the state
	if status, _ := s.phone(t, "scan", mallory); status != http.StatusConflict {
		t.Fatalf("second scan with the key: %d, want 409", status)
	}
}

// Each app user scans at most QRLogin.ScansPerMinute codes a minute, refused scans counted:
// one account can neither sweep up codes nor try keys without end.
func TestQRScansAreRateLimitedPerUser(t *testing.T) {
	a := start(t, settings{QRScansPerMinute: 2})
	uid := redistest.Name("scanner-") // limits are counted in the shared Redis
	tok := phoneToken(t, uid)
	first, second, third := createSession(t, a, newBrowser(t)), createSession(t, a, newBrowser(t)), createSession(t, a, newBrowser(t))
	if status, _ := first.phone(t, "scan", tok); status != http.StatusOK {
		t.Fatalf("first scan: %d", status)
	}
	if status, _ := second.phoneWith(t, "scan", tok, `{"key":"AAAAAAAAAAAAAAAAAAAAAA"}`); status != http.StatusNotFound {
		t.Fatalf("scan with a wrong key: %d", status)
	}
	status, out := third.phone(t, "scan", tok)
	if status != http.StatusTooManyRequests || out["code"] != "rate_limited" || out["message"] == nil {
		t.Fatalf("third scan in the minute: %d %v, want 429 rate_limited", status, out)
	}
	// Another user is not held back, and the refused scan left the session as it was.
	if status, out := third.phone(t, "scan", phoneToken(t, redistest.Name("other-"))); status != http.StatusOK {
		t.Fatalf("scan by another user: %d %v", status, out)
	}
}

// The QR image shows the scan key, so only the creating browser gets it; the create answer
// says whether the page may exchange without asking its user (off unless configured).
func TestQRImageAndCreateAnswer(t *testing.T) {
	a := start(t, settings{})
	b := newBrowser(t)
	s := createSession(t, a, b)
	if s.created["autoExchange"] != false {
		t.Fatalf("create answer %v: autoExchange must be false by default", s.created)
	}
	resp, err := b.client.Get(s.base + "/image.png")
	if err != nil {
		t.Fatal(err)
	}
	png, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" ||
		!strings.HasPrefix(string(png), "\x89PNG") || resp.Header.Get("Cache-Control") != "private, no-store" {
		t.Fatalf("image for its browser: %d %q %q %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), len(png))
	}
	for name, header := range map[string]http.Header{"no cookie": nil, "a forged cookie": {"Cookie": {"qr_binding=forged"}}} {
		if status, out := doJSON(t, http.DefaultClient, http.MethodGet, s.base+"/image.png", header); status != http.StatusForbidden || out["code"] != "forbidden" {
			t.Fatalf("image with %s: %d %v", name, status, out)
		}
	}
	if status, _ := doJSON(t, http.DefaultClient, http.MethodGet, a.Base+"/v1/qr/sessions/"+strings.Repeat("0", 32)+"/image.png"); status != http.StatusNotFound {
		t.Fatalf("image of an unknown id: %d", status)
	}

	auto := start(t, settings{QRAutoExchange: true})
	if s := createSession(t, auto, newBrowser(t)); s.created["autoExchange"] != true {
		t.Fatalf("create answer %v with QRLogin.AutoExchange: want autoExchange true", s.created)
	}
}
