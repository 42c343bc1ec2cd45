package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/internal/redistest"
)

// expectError checks an answer is a JSON error with status and code, sent before any stream.
func expectError(t *testing.T, resp *http.Response, status int, code string) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d (%s)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q for an error", ct)
	}
	if !strings.Contains(string(body), `"code":"`+code+`"`) || !strings.Contains(string(body), `"message":"`) {
		t.Fatalf("body %s, want code %q and a message", body, code)
	}
}

func get(t *testing.T, url string, header http.Header) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestSubscribeAuthMatrix(t *testing.T) {
	a := start(t, settings{MaxTopicsPerStream: 3})
	alice := token(t, "alice", nil, []string{"team:*"})
	expired, _ := auth.NewTokens(secret).Sign(map[string]any{"uid": "alice"}, time.Now().Add(-time.Minute))
	forged, _ := auth.NewTokens("another-secret-123").Sign(map[string]any{"uid": "alice", "subscribe": []string{"*"}}, time.Now().Add(time.Hour))
	ev := func(q string) string { return a.Base + "/v1/events?" + q }
	cookie := func(tok string) http.Header { return http.Header{"Cookie": {auth.AccessCookie + "=" + tok}} }

	ok := []struct {
		name   string
		url    string
		header http.Header
	}{
		{"bearer, granted pattern", ev("topic=team:blue"), bearer(alice)},
		{"bearer, own user topic", ev("topic=user:alice"), bearer(alice)},
		{"anonymous, public topic", ev("topic=public:news"), nil},
		{"cookie, granted pattern", ev("topic=team:red"), cookie(alice)},
		{"bearer, three topics", ev("topic=team:a&topic=team:b&topic=public:c"), bearer(alice)},
	}
	for _, c := range ok {
		t.Run("ok/"+c.name, func(t *testing.T) {
			mustOpen(t, c.url, c.header).waitPosition(t)
		})
	}
	refused := []struct {
		name   string
		url    string
		header http.Header
		status int
		code   string
	}{
		{"anonymous, private topic", ev("topic=team:blue"), nil, 401, "unauthorized"},
		{"bad bearer", ev("topic=public:x"), bearer("not-a-jwt"), 401, "unauthorized"},
		{"expired bearer", ev("topic=team:blue"), bearer(expired), 401, "unauthorized"},
		{"forged bearer", ev("topic=team:blue"), bearer(forged), 401, "unauthorized"},
		{"not bearer scheme", ev("topic=team:blue"), http.Header{"Authorization": {"Basic YTpi"}}, 401, "unauthorized"},
		{"bad cookie", ev("topic=team:blue"), cookie("nope"), 401, "unauthorized"},
		{"topic not granted", ev("topic=sales:1"), bearer(alice), 403, "forbidden"},
		{"someone else's user topic", ev("topic=user:bob"), bearer(alice), 403, "forbidden"},
		{"reserved topic", ev("topic=qr:0123"), bearer(alice), 403, "forbidden"},
		{"malformed topic", ev("topic=team%20blue"), bearer(alice), 400, "bad_request"},
		{"topic too long", ev("topic=team:" + strings.Repeat("x", 130)), bearer(alice), 400, "bad_request"},
		{"no topic", ev(""), bearer(alice), 400, "bad_request"},
		{"too many topics", ev("topic=team:a&topic=team:b&topic=team:c&topic=team:d"), bearer(alice), 400, "bad_request"},
		{"malformed last event id", ev("topic=team:a&lastEventId=yesterday"), bearer(alice), 400, "bad_request"},
		{"unknown ticket", ev("topic=team:a&ticket=abc"), nil, 401, "unauthorized"},
	}
	for _, c := range refused {
		t.Run("refused/"+c.name, func(t *testing.T) {
			expectError(t, get(t, c.url, c.header), c.status, c.code)
		})
	}
}

func TestPublishAuthMatrix(t *testing.T) {
	a := start(t, settings{MaxPayload: 1024})
	pub := token(t, "pat", []string{"news:*", "exact"}, nil)
	reader := token(t, "rita", nil, []string{"news:*"})
	topicURL := func(topic string) string { return a.Base + "/v1/topics/" + topic + "/events" }
	cases := []struct {
		name   string
		topic  string
		tok    string
		body   []byte
		status int
		code   string
	}{
		{"granted pattern", "news:1", pub, []byte(`{"data":1}`), 201, ""},
		{"granted exact topic", "exact", pub, []byte(`{"event":"ping","data":"x"}`), 201, ""},
		{"no token", "news:1", "", []byte(`{"data":1}`), 401, "unauthorized"},
		{"bad token", "news:1", "bad", []byte(`{"data":1}`), 401, "unauthorized"},
		{"no publish claim", "news:1", reader, []byte(`{"data":1}`), 403, "forbidden"},
		{"topic outside the claim", "exactly", pub, []byte(`{"data":1}`), 403, "forbidden"},
		{"reserved topic", "qr:abc", token(t, "root", []string{"*"}, nil), []byte(`{"data":1}`), 403, "forbidden"},
		{"watched key topic", "key:qrcode:abc", token(t, "root", []string{"*"}, nil), []byte(`{"data":1}`), 403, "forbidden"},
		{"malformed topic", "news%20one", pub, []byte(`{"data":1}`), 400, "bad_request"},
		{"malformed event name", "news:1", pub, []byte(`{"event":"a b","data":1}`), 400, "bad_request"},
		{"no data", "news:1", pub, []byte(`{"event":"x"}`), 400, "bad_request"},
		{"not JSON", "news:1", pub, []byte(`data=1`), 400, "bad_request"},
		{"unknown field", "news:1", pub, []byte(`{"data":1,"date":2}`), 400, "bad_request"},
		{"too large", "news:1", pub, []byte(`{"data":"` + strings.Repeat("x", 2000) + `"}`), 413, "payload_too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, topicURL(c.topic), strings.NewReader(string(c.body)))
			req.Header.Set("Content-Type", "application/json")
			if c.tok != "" {
				req.Header.Set("Authorization", "Bearer "+c.tok)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if c.status == 201 {
				if resp.StatusCode != 201 {
					body, _ := io.ReadAll(resp.Body)
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				return
			}
			expectError(t, resp, c.status, c.code)
		})
	}
}

func ticket(t *testing.T, base, tok string, topics ...string) string {
	t.Helper()
	status, out := call(t, http.MethodPost, base+"/v1/tickets", tok, map[string]any{"topics": topics})
	if status != http.StatusCreated {
		t.Fatalf("ticket: %d %v", status, out)
	}
	if _, err := time.Parse(time.RFC3339, out["expiresAt"].(string)); err != nil {
		t.Fatalf("expiresAt: %v", err)
	}
	return out["ticket"].(string)
}

// A ticket opens one stream, once; the browser's own reconnect, with the same URL, the
// resume cookie the first response set and its Last-Event-ID, resumes that stream.
func TestTicketOpensOneStreamAndItsCookieResumesIt(t *testing.T) {
	a := start(t, settings{})
	topic := redistest.Name("room:")
	tok := token(t, "kim", []string{"room:*"}, []string{"room:*"})
	tk := ticket(t, a.Base, tok, topic)
	streamURL := a.Base + "/v1/events?ticket=" + url.QueryEscape(tk) // topics come from the ticket

	s := mustOpen(t, streamURL, nil)
	var resume *http.Cookie
	for _, c := range s.Resp.Cookies() {
		if strings.HasPrefix(c.Name, "sse_resume_") {
			resume = c
		}
	}
	if resume == nil || !resume.HttpOnly || resume.SameSite != http.SameSiteStrictMode || resume.Path != "/v1/events" {
		t.Fatalf("resume cookie = %+v", resume)
	}
	s.waitPosition(t)
	publishEvent(t, a.Base, tok, topic, "one")
	if ev := s.next(t); ev.Data != `"one"` {
		t.Fatalf("event %+v", ev)
	}
	last := s.LastID()
	s.Close()

	// Someone else replaying the URL, without the cookie: refused.
	expectError(t, get(t, streamURL, nil), 401, "unauthorized")
	// A cookie of another ticket does not open this one.
	other := *resume
	other.Name = "sse_resume_0000000000000000"
	expectError(t, get(t, streamURL, http.Header{"Cookie": {other.String()}}), 401, "unauthorized")

	publishEvent(t, a.Base, tok, topic, "two")
	r := mustOpen(t, streamURL, http.Header{
		"Cookie":        {resume.Name + "=" + resume.Value},
		"Last-Event-Id": {last},
	})
	if ev := r.next(t); ev.Data != `"two"` {
		t.Fatalf("resumed event %+v", ev)
	}
	// A resumed stream may only carry the ticket's topics.
	expectError(t, get(t, streamURL+"&topic=room:other", http.Header{"Cookie": {resume.Name + "=" + resume.Value}}), 403, "forbidden")
}

func TestTicketRules(t *testing.T) {
	a := start(t, settings{TicketTTL: "1s"})
	tok := token(t, "lee", nil, []string{"lab:*"})
	// Only topics the token may read; only with a token.
	if status, out := call(t, http.MethodPost, a.Base+"/v1/tickets", tok, map[string]any{"topics": []string{"lab:1", "ops:1"}}); status != 403 || out["code"] != "forbidden" {
		t.Fatalf("ticket for a forbidden topic: %d %v", status, out)
	}
	if status, out := call(t, http.MethodPost, a.Base+"/v1/tickets", "", map[string]any{"topics": []string{"lab:1"}}); status != 401 || out["code"] != "unauthorized" {
		t.Fatalf("ticket without a token: %d %v", status, out)
	}
	// A ticket covers its own topics only.
	tk := ticket(t, a.Base, tok, "lab:1")
	expectError(t, get(t, a.Base+"/v1/events?topic=lab:2&ticket="+url.QueryEscape(tk), nil), 403, "forbidden")
	// It expires: wait until Redis has dropped it, then it is refused.
	tk = ticket(t, a.Base, tok, "lab:1")
	rdb := redistest.Client(t)
	key := "sse:ticket:" + auth.TicketHash(tk)
	for deadline := time.Now().Add(5 * time.Second); ; {
		if n, _ := rdb.Exists(context.Background(), key).Result(); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ticket did not expire")
		}
		time.Sleep(50 * time.Millisecond) // waiting on Redis's clock
	}
	expectError(t, get(t, a.Base+"/v1/events?ticket="+url.QueryEscape(tk), nil), 401, "unauthorized")
}

func TestLimitsAnswer429(t *testing.T) {
	a := start(t, settings{MaxStreamsPerUser: 2, AnonymousPerMinute: 3, Extra: "TrustedProxies: [127.0.0.1]"})
	tok := token(t, "max", nil, []string{"lim:*"})
	for i := 0; i < 2; i++ {
		mustOpen(t, a.Base+"/v1/events?topic=lim:1", bearer(tok)).waitPosition(t)
	}
	expectError(t, get(t, a.Base+"/v1/events?topic=lim:1", bearer(tok)), 429, "rate_limited")

	// Anonymous requests are counted per client address, as told by a trusted proxy.
	client := http.Header{"X-Forwarded-For": {"198.51.100.7, " + randomTestIP()}}
	for i := 0; i < 3; i++ {
		s := open(t, a.Base+"/v1/events?topic=public:lim", client)
		if s.Resp.StatusCode != 200 {
			t.Fatalf("anonymous request %d: %d", i, s.Resp.StatusCode)
		}
		s.Close()
	}
	expectError(t, get(t, a.Base+"/v1/events?topic=public:lim", client), 429, "rate_limited")
	// Guessing tickets counts too.
	expectError(t, get(t, a.Base+"/v1/events?ticket=guess", client), 429, "rate_limited")
	// Another address has its own budget.
	other := http.Header{"X-Forwarded-For": {randomTestIP()}}
	mustOpen(t, a.Base+"/v1/events?topic=public:lim", other).waitPosition(t)
}

// randomTestIP is an address of the documentation range, different in every run, so that
// rate limits kept in the shared Redis never carry over between runs.
func randomTestIP() string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return fmt.Sprintf("203.0.%d.%d", b[0], b[1])
}

func TestCredentialsNeverReachTheLogs(t *testing.T) {
	a := start(t, settings{})
	tok := token(t, "ned", []string{"log:*"}, []string{"log:*"})
	tk := ticket(t, a.Base, tok, "log:1")
	s := mustOpen(t, a.Base+"/v1/events?ticket="+url.QueryEscape(tk)+"&topic=log:1", nil)
	s.waitPosition(t)
	s.Close()
	get(t, a.Base+"/v1/events?ticket="+url.QueryEscape(tk), nil) // refused, logged too
	publishEvent(t, a.Base, tok, "log:1", 1)
	// Refused tokens: go-zero's JWT middleware logs such requests whole.
	expired, _ := auth.NewTokens(secret).Sign(map[string]any{"uid": "ned"}, time.Now().Add(-time.Minute))
	if status, _ := call(t, http.MethodPost, a.Base+"/v1/topics/log:1/events", expired, []byte(`{"data":1}`)); status != 401 {
		t.Fatalf("expired token: %d", status)
	}
	mustOpen(t, a.Base+"/v1/events?topic=log:1", http.Header{"Cookie": {auth.AccessCookie + "=" + tok}}).waitPosition(t)
	// Wait for the access log line of the refused request.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(a.Logs.String(), "status=401"); {
		if time.Now().After(deadline) {
			t.Fatalf("no access log:\n%s", a.Logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	logs := a.Logs.String()
	for name, secret := range map[string]string{
		"ticket": tk, "token": tok, "token signature": tok[strings.LastIndex(tok, ".")+1:],
		"expired token signature": expired[strings.LastIndex(expired, ".")+1:],
	} {
		if strings.Contains(logs, secret) || strings.Contains(logs, url.QueryEscape(secret)) {
			t.Errorf("the %s is in the logs", name)
		}
	}
	if !strings.Contains(logs, "ticket=REDACTED") {
		t.Errorf("access log does not show the redacted ticket:\n%s", logs)
	}
}
