package me_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/internal/config"
	"github.com/sseapi/sse-api/internal/eventid"
)

// user returns a fresh uid whose user:<uid> topic is removed when the test ends.
func (h *harness) user(t *testing.T) (uid, topic string) {
	t.Helper()
	topic = h.topic(t, "user:u")
	return strings.TrimPrefix(topic, "user:"), topic
}

func TestMeEventsRefusesBeforeTheStreamOpens(t *testing.T) {
	h := newHarness(t, nil)
	uid, _ := h.user(t)
	tok := h.token(t, uid, "news:*")
	expired, _ := h.svc.Tokens.Sign(map[string]any{"uid": uid}, time.Now().Add(-time.Minute))
	cases := []struct {
		name   string
		path   string
		header http.Header
		status int
		code   string
	}{
		{"anonymous", "/v1/me/events", nil, http.StatusUnauthorized, "unauthorized"},
		{"anonymous, public topic", "/v1/me/events?topic=public:x", nil, http.StatusUnauthorized, "unauthorized"},
		{"bad token", "/v1/me/events", bearer("not.a.jwt"), http.StatusUnauthorized, "unauthorized"},
		{"expired token", "/v1/me/events", bearer(expired), http.StatusUnauthorized, "unauthorized"},
		{"not Bearer", "/v1/me/events", http.Header{"Authorization": {"Basic YTpi"}}, http.StatusUnauthorized, "unauthorized"},
		{"topic not granted", "/v1/me/events?topic=orders:1", bearer(tok), http.StatusForbidden, "forbidden"},
		{"another user's topic", "/v1/me/events?topic=user:someone-else", bearer(tok), http.StatusForbidden, "forbidden"},
		{"reserved topic", "/v1/me/events?topic=qr:0123456789abcdef", bearer(tok), http.StatusForbidden, "forbidden"},
		{"malformed topic", "/v1/me/events?topic=a%20b", bearer(tok), http.StatusBadRequest, "bad_request"},
		{"bad Last-Event-ID", "/v1/me/events", http.Header{"Authorization": {"Bearer " + tok}, "Last-Event-Id": {"nope"}}, http.StatusBadRequest, "bad_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { h.refused(t, c.path, c.header, c.status, c.code) })
	}
}

func TestMeEventsCarriesTheUsersOwnTopic(t *testing.T) {
	h := newHarness(t, nil)
	uid, mine := h.user(t)
	s, pos := h.open(t, "/v1/me/events", bearer(h.token(t, uid)))
	if strings.Contains(pos, "=") {
		t.Fatalf("position %q: one topic has a bare id", pos)
	}
	id := h.publish(t, mine, "notice", `{"for":"me"}`)
	if ev := s.nextEvent(t); ev.ID != id || ev.Event != "notice" || ev.Data != `{"for":"me"}` {
		t.Fatalf("event %+v, want %s", ev, id)
	}

	// The access_token cookie does as well as the header.
	c, _ := h.open(t, "/v1/me/events", http.Header{"Cookie": {auth.AccessCookie + "=" + h.token(t, uid)}})
	id2 := h.publish(t, mine, "notice", `2`)
	if ev := c.nextEvent(t); ev.ID != id2 {
		t.Fatalf("event %+v, want %s", ev, id2)
	}
	// Naming one's own topic again changes nothing.
	d, pos := h.open(t, "/v1/me/events?topic="+mine, bearer(h.token(t, uid)))
	if pos != id2 {
		t.Fatalf("position %q, want the bare id %s", pos, id2)
	}
	d.Close()
}

func TestMeEventsPutsTheUsersTopicFirstThenTheAddedOnes(t *testing.T) {
	h := newHarness(t, nil)
	uid, mine := h.user(t)
	news := h.topic(t, "news:")
	public := h.topic(t, "public:")
	tok := h.token(t, uid, "news:*")

	s, pos := h.open(t, "/v1/me/events?topic="+news+"&topic="+public, bearer(tok))
	parts := strings.Split(pos, ",")
	if len(parts) != 3 || !strings.HasPrefix(parts[0], mine+"=") || !strings.HasPrefix(parts[1], news+"=") ||
		!strings.HasPrefix(parts[2], public+"=") {
		t.Fatalf("position %q, want %s, %s, %s in that order", pos, mine, news, public)
	}
	for _, topic := range []string{news, mine, public} {
		id := h.publish(t, topic, "t", `"`+topic+`"`)
		ev := s.nextEvent(t)
		if ev.Data != `"`+topic+`"` || !strings.Contains(ev.ID, topic+"="+id) {
			t.Fatalf("event %+v, want %s from %s", ev, id, topic)
		}
	}
}

func TestMeEventsResumesWithLastEventID(t *testing.T) {
	h := newHarness(t, nil)
	uid, mine := h.user(t)
	news := h.topic(t, "news:")
	tok := h.token(t, uid, "news:*")
	h.publish(t, news, "n", `"a"`)
	first := h.publish(t, mine, "n", "1")
	second := h.publish(t, mine, "n", "2")

	s, pos := h.open(t, "/v1/me/events", http.Header{"Authorization": {"Bearer " + tok}, "Last-Event-Id": {first}})
	if pos != first {
		t.Fatalf("position %q, want %s", pos, first)
	}
	if ev := s.nextEvent(t); ev.ID != second || ev.Data != "2" {
		t.Fatalf("replayed %+v, want %s", ev, second)
	}
	third := h.publish(t, mine, "n", "3")
	if ev := s.nextEvent(t); ev.ID != third {
		t.Fatalf("live %+v, want %s", ev, third)
	}
	s.Close()

	// With an added topic, a bare id applies to every topic: it means every event appended
	// after that instant (ids are append times, per topic).
	n1 := h.publish(t, news, "n", `"b"`)
	want := map[string]bool{"2": true, "3": true}
	if after(t, first, n1) {
		want[`"b"`] = true
	}
	r, pos := h.open(t, "/v1/me/events?topic="+news+"&lastEventId="+first, bearer(tok))
	if pos != mine+"="+first+","+news+"="+first {
		t.Fatalf("position %q", pos)
	}
	got := map[string]bool{}
	for range want {
		ev := r.nextEvent(t)
		got[ev.Data] = true
	}
	if len(got) != len(want) || !got["2"] || !got["3"] || got[`"b"`] != want[`"b"`] {
		t.Fatalf("replayed %v, want %v", got, want)
	}
	fourth := h.publish(t, mine, "n", "4")
	if ev := r.nextEvent(t); ev.Data != "4" || ev.ID != mine+"="+fourth+","+news+"="+n1 {
		t.Fatalf("live %+v, want %s", ev, fourth)
	}
	r.Close()

	// A multi-topic id resumes each topic where it was.
	q, _ := h.open(t, "/v1/me/events?topic="+news, http.Header{"Authorization": {"Bearer " + tok}, "Last-Event-Id": {mine + "=" + third + "," + news + "=" + n1}})
	if ev := q.nextEvent(t); ev.Data != "4" || ev.ID != mine+"="+fourth+","+news+"="+n1 {
		t.Fatalf("resumed %+v, want %s", ev, fourth)
	}
	n2 := h.publish(t, news, "n", `"c"`)
	if ev := q.nextEvent(t); ev.Data != `"c"` || ev.ID != mine+"="+fourth+","+news+"="+n2 {
		t.Fatalf("live %+v, want %s", ev, n2)
	}
}

// after reports whether event id b comes after a.
func after(t *testing.T, a, b string) bool {
	t.Helper()
	x, okA := eventid.Parse(a)
	y, okB := eventid.Parse(b)
	if !okA || !okB {
		t.Fatalf("ids %q %q", a, b)
	}
	return x.Less(y)
}

func TestMeEventsIsLimitedPerUser(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Limits.MaxStreamsPerUser = 1 })
	uid, _ := h.user(t)
	s, _ := h.open(t, "/v1/me/events", bearer(h.token(t, uid)))
	h.refused(t, "/v1/me/events", bearer(h.token(t, uid)), http.StatusTooManyRequests, "rate_limited")
	other, _ := h.user(t)
	h.open(t, "/v1/me/events", bearer(h.token(t, other)))
	s.Close()
	waitFor(t, "the first stream to end", func() bool { return h.svc.Streams.Len() == 1 })
	h.open(t, "/v1/me/events", bearer(h.token(t, uid)))
}
