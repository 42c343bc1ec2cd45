package e2e

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/internal/redistest"
)

// /v1/me/events is built only from sse.api and a short logic file: these tests show it has
// everything the topic stream has, from the runtime the generated handler hands it to.

// meUser mints a token for a fresh user who may read news:* and publish anywhere.
func meUser(t *testing.T, ttl time.Duration) (uid, tok string) {
	t.Helper()
	uid = redistest.Name("me")
	tok, err := auth.NewTokens(secret).Sign(map[string]any{
		auth.ClaimUID: uid, auth.ClaimPublish: []string{"*"}, auth.ClaimSubscribe: []string{"news:*"},
	}, time.Now().Add(ttl))
	if err != nil {
		t.Fatal(err)
	}
	return uid, tok
}

func TestMeStreamCarriesTheUsersOwnTopicAndTheTopicsItAdds(t *testing.T) {
	a := start(t, settings{})
	uid, tok := meUser(t, time.Hour)
	news := redistest.Name("news:")
	s := mustOpen(t, a.Base+"/v1/me/events?topic="+news, bearer(tok))
	// The position names the user's topic first.
	if pos := s.waitPosition(t); !strings.HasPrefix(pos, "user:"+uid+"=") || !strings.Contains(pos, ","+news+"=") {
		t.Fatalf("position %q, want user:%s first, then %s", pos, uid, news)
	}
	publishEvent(t, a.Base, tok, "user:"+uid, "for you")
	publishEvent(t, a.Base, tok, news, "for all")
	if ev := s.next(t); ev.Data != `"for you"` {
		t.Fatalf("first event %+v", ev)
	}
	if ev := s.next(t); ev.Data != `"for all"` {
		t.Fatalf("second event %+v", ev)
	}

	// Nobody else's: anonymous callers and topics the token does not grant are refused.
	expectError(t, get(t, a.Base+"/v1/me/events", nil), 401, "unauthorized")
	expectError(t, get(t, a.Base+"/v1/me/events?topic=secret:x", bearer(tok)), 403, "forbidden")
	_, other := meUser(t, time.Hour)
	expectError(t, get(t, a.Base+"/v1/me/events?topic=user:"+uid, bearer(other)), 403, "forbidden")
	expectError(t, get(t, a.Base+"/v1/me/events", http.Header{"Last-Event-Id": {"garbage"}, "Authorization": {"Bearer " + tok}}), 400, "bad_request")
}

func TestMeStreamResumesOnAnotherInstanceWithNothingLost(t *testing.T) {
	a, b := start(t, settings{}), start(t, settings{})
	uid, tok := meUser(t, time.Hour)
	s := mustOpen(t, a.Base+"/v1/me/events", bearer(tok))
	s.waitPosition(t)
	publishEvent(t, a.Base, tok, "user:"+uid, 1)
	s.next(t)
	last := s.LastID()
	a.Kill()
	s.waitEnded(t)
	for i := 2; i <= 4; i++ { // while nobody listens
		publishEvent(t, b.Base, tok, "user:"+uid, i)
	}
	r := mustOpen(t, b.Base+"/v1/me/events", http.Header{"Authorization": {"Bearer " + tok}, "Last-Event-Id": {last}})
	for i := 2; i <= 4; i++ {
		if ev := r.next(t); ev.Data != strconv.Itoa(i) {
			t.Fatalf("resumed event %+v, want %d", ev, i)
		}
	}
}

func TestMeStreamObeysTheLimitsAndIsDetached(t *testing.T) {
	a := start(t, settings{MaxStreamsPerUser: 2, Heartbeat: "100ms"})
	_, tok := meUser(t, time.Hour)
	s := mustOpen(t, a.Base+"/v1/me/events", bearer(tok))
	// Detached from net/http: an unframed body that ends when the connection closes.
	if s.Resp.TransferEncoding != nil || !s.Resp.Close {
		t.Fatalf("transfer encoding %v, close %v: the stream was not detached", s.Resp.TransferEncoding, s.Resp.Close)
	}
	// The per-user limit counts the user's streams on every route.
	mustOpen(t, a.Base+"/v1/events?topic="+redistest.Name("news:"), bearer(tok)).waitPosition(t)
	expectError(t, get(t, a.Base+"/v1/me/events", bearer(tok)), 429, "rate_limited")

	// Heartbeats keep the idle stream alive through proxies (another user: this one is at
	// its limit).
	_, other := meUser(t, time.Hour)
	h := get(t, a.Base+"/v1/me/events", bearer(other))
	lines := rawLines(h.Body)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended before a heartbeat")
			}
			if line == ":" {
				return
			}
		case <-deadline:
			t.Fatal("no heartbeat within 10s at a 100ms interval")
		}
	}
}

func TestMeStreamEndsAtTheCredentialsExpiryAndAtShutdown(t *testing.T) {
	a := start(t, settings{})
	expired := a.Logs.Watch("reason=credential expired")
	_, short := meUser(t, 2*time.Second)
	s := mustOpen(t, a.Base+"/v1/me/events", bearer(short))
	s.waitPosition(t)
	_, long := meUser(t, time.Hour)
	l := mustOpen(t, a.Base+"/v1/me/events", bearer(long))
	l.waitPosition(t)
	s.waitEnded(t) // within 10s of a 2s token
	select {
	case <-expired:
	case <-time.After(10 * time.Second):
		t.Fatalf("no closing log line for the expired credential:\n%s", a.Logs)
	}
	select {
	case <-l.Ended:
		t.Fatal("a stream with a valid credential ended too")
	default:
	}
	a.signal(syscall.SIGTERM)
	l.waitEnded(t)
}

// A ticket opens the user's stream once; its resume cookie, scoped to this route, lets the
// browser's own reconnect resume it.
func TestMeStreamWithATicketAndItsResumeCookie(t *testing.T) {
	a := start(t, settings{})
	uid, tok := meUser(t, time.Hour)
	tk := ticket(t, a.Base, tok, "user:"+uid)
	streamURL := a.Base + "/v1/me/events?ticket=" + url.QueryEscape(tk)
	s := mustOpen(t, streamURL, nil)
	var resume *http.Cookie
	for _, c := range s.Resp.Cookies() {
		if strings.HasPrefix(c.Name, "sse_resume_") {
			resume = c
		}
	}
	if resume == nil || !resume.HttpOnly || resume.Path != "/v1/me/events" {
		t.Fatalf("resume cookie = %+v", resume)
	}
	s.waitPosition(t)
	publishEvent(t, a.Base, tok, "user:"+uid, "one")
	s.next(t)
	last := s.LastID()
	s.Close()
	expectError(t, get(t, streamURL, nil), 401, "unauthorized") // spent
	publishEvent(t, a.Base, tok, "user:"+uid, "two")
	r := mustOpen(t, streamURL, http.Header{"Cookie": {resume.Name + "=" + resume.Value}, "Last-Event-Id": {last}})
	if ev := r.next(t); ev.Data != `"two"` {
		t.Fatalf("resumed event %+v", ev)
	}
}
