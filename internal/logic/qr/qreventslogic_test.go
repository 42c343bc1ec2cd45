package qr_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sseapi/sse-api/internal/config"
	"github.com/sseapi/sse-api/internal/logic/qr"
	"github.com/sseapi/sse-api/internal/qrlogin"
	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/publish"
)

var ctx = context.Background()

// session creates a QR-login session as the create route does, and returns it with the
// Cookie header of the browser that created it. Its keys are removed when the test ends.
func (h *harness) session(t *testing.T) (*qrlogin.Session, http.Header) {
	t.Helper()
	sess, secret, err := h.svc.QR.Create(ctx, qrlogin.Requester{IP: h.addr, UserAgent: "test-browser"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		topic := qrlogin.Topic(sess.ID)
		h.svc.Redis.Client.Del(context.Background(), publish.TopicKey(topic, "session"), publish.StreamKey(topic), publish.MetaKey(topic))
	})
	return sess, http.Header{"Cookie": {"qr_binding=" + secret}}
}

func eventsPath(id string) string { return "/v1/qr/sessions/" + id + "/events" }

// wantState checks that ev announces state, and returns its data.
func wantState(t *testing.T, ev frame, state qrlogin.State) map[string]any {
	t.Helper()
	var data map[string]any
	if err := json.Unmarshal([]byte(ev.Data), &data); err != nil {
		t.Fatalf("event %+v: %v", ev, err)
	}
	if ev.Event != string(state) || data["state"] != string(state) {
		t.Fatalf("event %+v, want %s", ev, state)
	}
	return data
}

func TestQrEventsRefusesBeforeTheStreamOpens(t *testing.T) {
	h := newHarness(t, nil)
	sess, browser := h.session(t)
	_, otherBrowser := h.session(t)
	cases := []struct {
		name   string
		id     string
		header http.Header
		status int
		code   string
	}{
		{"no cookie", sess.ID, nil, http.StatusForbidden, "forbidden"},
		{"another browser's cookie", sess.ID, otherBrowser, http.StatusForbidden, "forbidden"},
		{"a wrong secret", sess.ID, http.Header{"Cookie": {"qr_binding=not-the-secret"}}, http.StatusForbidden, "forbidden"},
		{"unknown id", "0123456789abcdef0123456789abcdef", browser, http.StatusNotFound, "not_found"},
		{"malformed id", "not-an-id", browser, http.StatusNotFound, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { h.refused(t, eventsPath(c.id), c.header, c.status, c.code) })
	}
	if n := h.svc.Streams.Len(); n != 0 {
		t.Fatalf("%d streams open after refusals", n)
	}
}

func TestQrEventsGuessingIsRateLimited(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.QRLogin.MissesPerMinute = 2 })
	unknown := func() string { return redistest.Name("0123456789abcdef0123") } // 32 hex digits
	h.refused(t, eventsPath(unknown()), nil, http.StatusNotFound, "not_found")
	h.refused(t, eventsPath(unknown()), nil, http.StatusNotFound, "not_found")
	h.refused(t, eventsPath(unknown()), nil, http.StatusTooManyRequests, "rate_limited")
	// A session that exists is still served.
	sess, browser := h.session(t)
	s, _ := h.open(t, eventsPath(sess.ID), browser)
	wantState(t, s.nextEvent(t), qrlogin.Pending)
}

func TestQrEventsFollowTheSessionToItsEnd(t *testing.T) {
	h := newHarness(t, nil)
	sess, browser := h.session(t)
	s, _ := h.open(t, eventsPath(sess.ID), browser)

	ev := s.nextEvent(t)
	if ev.ID != sess.Pos {
		t.Fatalf("first event id %q, want the session's position %q", ev.ID, sess.Pos)
	}
	if data := wantState(t, ev, qrlogin.Pending); data["expires_at"] != float64(sess.ExpiresAt.UnixMilli()) {
		t.Fatalf("pending %v, want expires_at %d", data, sess.ExpiresAt.UnixMilli())
	}

	if _, err := h.svc.QR.Scan(ctx, sess.ID, sess.ScanKey, "alice", "a***e"); err != nil {
		t.Fatal(err)
	}
	if data := wantState(t, s.nextEvent(t), qrlogin.Scanned); data["hint"] != "a***e" || data["expires_at"] == nil {
		t.Fatalf("scanned %v", data)
	}
	if _, err := h.svc.QR.Confirm(ctx, sess.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	// The browser is shown whom it would sign in as, and nothing more.
	if data := wantState(t, s.nextEvent(t), qrlogin.Confirmed); len(data) != 2 || data["hint"] != "a***e" {
		t.Fatalf("confirmed %v: want the state and the hint", data)
	}
	secret := browser.Get("Cookie")[len("qr_binding="):]
	if _, _, err := h.svc.QR.Consume(ctx, sess.ID, secret); err != nil {
		t.Fatal(err)
	}
	wantState(t, s.nextEvent(t), qrlogin.Consumed)
	s.waitEnded(t)
	waitFor(t, "the stream to be released", func() bool { return h.svc.Streams.Len() == 0 })

	// Late: the finished session's stream tells the end, and ends.
	late, _ := h.open(t, eventsPath(sess.ID), browser)
	wantState(t, late.nextEvent(t), qrlogin.Consumed)
	late.waitEnded(t)
}

func TestQrEventsBeginWithTheCurrentState(t *testing.T) {
	h := newHarness(t, nil)
	sess, browser := h.session(t)
	if _, err := h.svc.QR.Scan(ctx, sess.ID, sess.ScanKey, "bob", "b***b"); err != nil {
		t.Fatal(err)
	}
	// Whatever the client says it saw: the stream starts at the state, not after it.
	for _, header := range []http.Header{browser, {"Cookie": browser["Cookie"], "Last-Event-Id": {sess.Pos}}} {
		s, _ := h.open(t, eventsPath(sess.ID), header)
		if data := wantState(t, s.nextEvent(t), qrlogin.Scanned); data["hint"] != "b***b" {
			t.Fatalf("scanned %v", data)
		}
		s.Close()
	}

	s, _ := h.open(t, eventsPath(sess.ID), browser)
	wantState(t, s.nextEvent(t), qrlogin.Scanned)
	if _, err := h.svc.QR.CancelByPhone(ctx, sess.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	wantState(t, s.nextEvent(t), qrlogin.Cancelled)
	s.waitEnded(t)
}

func TestQrEventsPushExpiryAtTheDeadline(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.QRLogin.TTL = 1500 * time.Millisecond })
	sess, browser := h.session(t)
	s, _ := h.open(t, eventsPath(sess.ID), browser)
	wantState(t, s.nextEvent(t), qrlogin.Pending)
	// Nobody calls the store: the stream's own timer expires the session.
	wantState(t, s.nextEvent(t), qrlogin.Expired)
	if time.Now().Before(sess.ExpiresAt) {
		t.Fatalf("expired before the deadline %v", sess.ExpiresAt)
	}
	s.waitEnded(t)
	now, err := h.svc.QR.Get(ctx, sess.ID)
	if err != nil || now.State != qrlogin.Expired {
		t.Fatalf("session after the stream: %+v %v", now, err)
	}
}

// An instance whose clock is ahead of Redis's fires its deadline timer before Redis agrees
// that the session expired. It must look again until Redis does, not give up: the sweep is
// set out of reach here, so only the re-check can push the expiry. It looks again when
// Redis's clock says the deadline is due, not over and over (counted on a private Redis).
func TestQrEventsPushExpiryWithTheInstanceClockAhead(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{})
	h := newHarness(t, func(c *config.Config) {
		c.Redis.Addr = srv.Addr()
		c.QRLogin.TTL = 1500 * time.Millisecond
		c.QRLogin.ExpirySweep = time.Hour
	})
	qr.SkewClock(t, time.Hour)
	sess, browser := h.session(t)
	s, _ := h.open(t, eventsPath(sess.ID), browser)
	wantState(t, s.nextEvent(t), qrlogin.Pending)
	before := scriptCalls(t, srv)
	wantState(t, s.nextEvent(t), qrlogin.Expired) // within the stream's wait, 10 s
	if time.Now().Before(sess.ExpiresAt) {
		t.Fatalf("expired before the deadline %v by Redis's clock", sess.ExpiresAt)
	}
	// One look when this instance's timer fired (at once), one when Redis's clock said the
	// deadline was due, and one spare for a millisecond's rounding.
	if n := scriptCalls(t, srv) - before; n > 3 {
		t.Fatalf("%d script calls to expire one session", n)
	}
	s.waitEnded(t)
}

// scriptCalls counts the script calls srv has run (every QR store call is one).
func scriptCalls(t *testing.T, srv *redistest.Server) int64 {
	t.Helper()
	info, err := srv.Client(t).Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, line := range strings.Split(info, "\n") {
		name, stats, _ := strings.Cut(strings.TrimSpace(line), ":")
		if name == "cmdstat_evalsha" || name == "cmdstat_eval" {
			calls, _, _ := strings.Cut(strings.TrimPrefix(stats, "calls="), ",")
			v, _ := strconv.ParseInt(calls, 10, 64)
			n += v
		}
	}
	return n
}

// An instance whose clock is behind Redis's would fire its deadline timer late by as much
// (an hour here): the sweep pushes the expiry within its interval instead.
func TestQrEventsPushExpiryWithTheInstanceClockBehind(t *testing.T) {
	const sweep = 300 * time.Millisecond
	h := newHarness(t, func(c *config.Config) {
		c.QRLogin.TTL = 1500 * time.Millisecond
		c.QRLogin.ExpirySweep = sweep
	})
	qr.SkewClock(t, -time.Hour)
	sess, browser := h.session(t)
	s, _ := h.open(t, eventsPath(sess.ID), browser)
	wantState(t, s.nextEvent(t), qrlogin.Pending)
	wantState(t, s.nextEvent(t), qrlogin.Expired)
	// Redis's clock is this machine's: the expiry came after the deadline, within a sweep
	// (and some slack for a loaded machine).
	if now := time.Now(); now.Before(sess.ExpiresAt) || now.After(sess.ExpiresAt.Add(sweep+2*time.Second)) {
		t.Fatalf("expired at %v, want between the deadline %v and a sweep later", now, sess.ExpiresAt)
	}
	s.waitEnded(t)
}

// While this instance's clock agrees with Redis's, a waiting session costs Redis nothing:
// the sweep runs only on an instance whose clock is behind. Counted on a private Redis.
func TestQrEventsSweepOnlyWhileTheInstanceClockIsBehind(t *testing.T) {
	const sweep = 50 * time.Millisecond
	srv := redistest.StartServer(t, redistest.Options{})
	h := newHarness(t, func(c *config.Config) {
		c.Redis.Addr = srv.Addr()
		c.QRLogin.ExpirySweep = sweep
	})
	scripts := func() int64 { return scriptCalls(t, srv) }

	sess, browser := h.session(t)
	s, _ := h.open(t, eventsPath(sess.ID), browser)
	wantState(t, s.nextEvent(t), qrlogin.Pending)
	before := scripts()
	// Absence can only be watched for a while: twenty sweeps' worth.
	time.Sleep(20 * sweep)
	if n := scripts() - before; n != 0 {
		t.Fatalf("%d script calls while a session waited with the clocks in agreement", n)
	}

	qr.SkewClock(t, -time.Hour)
	behind, behindBrowser := h.session(t)
	s2, _ := h.open(t, eventsPath(behind.ID), behindBrowser)
	wantState(t, s2.nextEvent(t), qrlogin.Pending)
	before = scripts()
	waitFor(t, "sweeps on an instance whose clock is behind", func() bool { return scripts()-before >= 3 })
}
