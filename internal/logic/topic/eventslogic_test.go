package topic_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/internal/config"
	"github.com/sseapi/sse-api/internal/eventid"
)

func TestEventsRefusesBeforeTheStreamOpens(t *testing.T) {
	h := newHarness(t, nil)
	topic := h.topic(t, "news:")
	tok := h.token(t, "alice", "news:*")
	expired, _ := h.svc.Tokens.Sign(map[string]any{"uid": "alice", "subscribe": []string{"*"}}, time.Now().Add(-time.Minute))
	var seventeen []string
	for i := range 17 {
		seventeen = append(seventeen, "topic=news:"+string(rune('a'+i)))
	}
	cases := []struct {
		name   string
		path   string
		header http.Header
		status int
		code   string
	}{
		{"no topic", "/v1/events", nil, http.StatusBadRequest, "bad_request"},
		{"malformed topic", "/v1/events?topic=" + url.QueryEscape("a b"), nil, http.StatusBadRequest, "bad_request"},
		{"anonymous, private topic", "/v1/events?topic=" + topic, nil, http.StatusUnauthorized, "unauthorized"},
		{"anonymous, public and private", "/v1/events?topic=public:x&topic=" + topic, nil, http.StatusUnauthorized, "unauthorized"},
		{"bad token on a public topic", "/v1/events?topic=public:x", bearer("not.a.jwt"), http.StatusUnauthorized, "unauthorized"},
		{"expired token", "/v1/events?topic=" + topic, bearer(expired), http.StatusUnauthorized, "unauthorized"},
		{"bad access cookie", "/v1/events?topic=" + topic, http.Header{"Cookie": {"access_token=not.a.jwt"}}, http.StatusUnauthorized, "unauthorized"},
		{"unknown ticket", "/v1/events?ticket=no-such-ticket", nil, http.StatusUnauthorized, "unauthorized"},
		{"topic not granted", "/v1/events?topic=orders:1", bearer(tok), http.StatusForbidden, "forbidden"},
		{"another user's topic", "/v1/events?topic=user:bob", bearer(tok), http.StatusForbidden, "forbidden"},
		{"reserved topic", "/v1/events?topic=qr:0123456789abcdef", bearer(tok), http.StatusForbidden, "forbidden"},
		{"too many topics", "/v1/events?" + strings.Join(seventeen, "&"), bearer(tok), http.StatusBadRequest, "bad_request"},
		{"bad Last-Event-ID", "/v1/events?topic=" + topic, http.Header{"Authorization": {"Bearer " + tok}, "Last-Event-Id": {"yesterday"}}, http.StatusBadRequest, "bad_request"},
		{"bad lastEventId", "/v1/events?lastEventId=1-2-3&topic=" + topic, bearer(tok), http.StatusBadRequest, "bad_request"},
		{"malformed cursor", "/v1/events?topic=" + topic + "&lastEventId=" + url.QueryEscape(topic+"=1-0,x"), bearer(tok), http.StatusBadRequest, "bad_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { h.refused(t, c.path, c.header, c.status, c.code) })
	}
	if n := h.svc.Streams.Len(); n != 0 {
		t.Fatalf("%d streams open after refusals", n)
	}
}

func TestEventsLimitsAnswer429(t *testing.T) {
	h := newHarness(t, func(c *config.Config) {
		c.Limits.MaxStreamsPerUser = 1
		c.Limits.AnonymousPerMinute = 2
	})
	topic := h.topic(t, "news:")
	tok := h.token(t, "alice", "news:*")

	// Streams per user.
	first, _ := h.open(t, "/v1/events?topic="+topic, bearer(tok))
	h.refused(t, "/v1/events?topic="+topic, bearer(tok), http.StatusTooManyRequests, "rate_limited")
	first.Close()
	waitFor(t, "the first stream to end", func() bool { return h.svc.Streams.Len() == 0 })
	h.open(t, "/v1/events?topic="+topic, bearer(tok))

	// Requests without a token, per address: refused ones count too.
	h.refused(t, "/v1/events", nil, http.StatusBadRequest, "bad_request")
	h.refused(t, "/v1/events?topic="+topic, nil, http.StatusUnauthorized, "unauthorized")
	h.refused(t, "/v1/events?topic=public:x", nil, http.StatusTooManyRequests, "rate_limited")
	h.refused(t, "/v1/events?ticket=whatever", nil, http.StatusTooManyRequests, "rate_limited")
	// A token is not limited so.
	h.open(t, "/v1/events?topic=public:x", bearer(h.token(t, "bob")))
}

// An EventSource treats any status but 200 as final: a passing refusal (over a limit)
// answers it with a stream that says why and when to come back; a final one stays an error.
func TestEventsPassingRefusalsLetAnEventSourceRetry(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Limits.MaxStreamsPerUser = 1 })
	topic := h.topic(t, "news:")
	tok := h.token(t, "alice", "news:*")
	h.open(t, "/v1/events?topic="+topic, bearer(tok))

	eventSource := http.Header{"Authorization": {"Bearer " + tok}, "Accept": {"text/event-stream"}}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	resp := h.get(t, ctx, "/v1/events?topic="+topic, eventSource)
	s := &sseStream{Resp: resp, frames: make(chan frame, 16), ended: make(chan struct{}), cancel: cancel}
	t.Cleanup(s.Close)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" ||
		resp.Header.Get("X-Refusal-Status") != "429" {
		t.Fatalf("%d %s, X-Refusal-Status %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("X-Refusal-Status"))
	}
	go s.read()
	var ev frame
	retry := "" // the last retry: before the event is the one the client keeps
	for ev = s.next(t); ev.Data == ""; ev = s.next(t) {
		if ev.Retry != "" {
			retry = ev.Retry
		}
	}
	var why struct {
		Code, Message string
		Status        int
	}
	if ev.Event != "error" || json.Unmarshal([]byte(ev.Data), &why) != nil || why.Code != "rate_limited" ||
		why.Status != http.StatusTooManyRequests || why.Message == "" || ev.HasID {
		t.Fatalf("event %+v", ev)
	}
	// Come back after Stream.RefusalRetry (5s), jittered up to twice it.
	if ms, err := strconv.Atoi(retry); err != nil || ms < 5000 || ms >= 10000 {
		t.Fatalf("retry %q before the error event, want [5000, 10000)", retry)
	}
	s.waitEnded(t)

	h.refused(t, "/v1/events?topic=orders:1", eventSource, http.StatusForbidden, "forbidden")
	h.refused(t, "/v1/events?topic="+topic, http.Header{"Accept": {"text/event-stream"}}, http.StatusUnauthorized, "unauthorized")
}

func TestEventsStreamOpensAtItsPositionAndCarriesEvents(t *testing.T) {
	h := newHarness(t, nil)
	topic := h.topic(t, "news:")
	before := h.publish(t, topic, "old", `{"n":0}`)

	s, pos := h.open(t, "/v1/events?topic="+topic, bearer(h.token(t, "alice", "news:*")))
	if pos != before {
		t.Fatalf("position %q, want the topic's newest event %q", pos, before)
	}
	if cc := s.Resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Fatalf("Cache-Control %q", cc)
	}
	id := h.publish(t, topic, "greeting", `{"text":"hello","n":1}`)
	ev := s.nextEvent(t)
	if ev.ID != id || ev.Event != "greeting" || ev.Data != `{"text":"hello","n":1}` {
		t.Fatalf("event %+v, want id %s", ev, id)
	}
	id2 := h.publish(t, topic, "", `[1,2]`)
	if ev := s.nextEvent(t); ev.ID != id2 || ev.Event != "message" || ev.Data != `[1,2]` { // the default name
		t.Fatalf("event %+v, want id %s", ev, id2)
	}
}

func TestEventsOnAFreshTopicAndAnonymousOnAPublicOne(t *testing.T) {
	h := newHarness(t, nil)
	topic := h.topic(t, "public:")
	s, pos := h.open(t, "/v1/events?topic="+topic, nil)
	id := h.publish(t, topic, "hello", `"first"`)
	if ev := s.nextEvent(t); ev.ID != id || ev.Data != `"first"` {
		t.Fatalf("event %+v", ev)
	}
	// Resuming from the position a fresh topic gave replays what came after it.
	r, _ := h.open(t, "/v1/events?topic="+topic, http.Header{"Last-Event-Id": {pos}})
	if ev := r.nextEvent(t); ev.ID != id {
		t.Fatalf("resumed from %s: %+v, want %s", pos, ev, id)
	}
}

func TestEventsResumesWithLastEventID(t *testing.T) {
	h := newHarness(t, nil)
	topic := h.topic(t, "news:")
	tok := h.token(t, "alice", "news:*")
	var ids []string
	for _, d := range []string{"1", "2", "3"} {
		ids = append(ids, h.publish(t, topic, "n", d))
	}
	resumes := map[string]struct {
		path   string
		header http.Header
	}{
		"Last-Event-ID header": {"/v1/events?topic=" + topic, http.Header{"Authorization": {"Bearer " + tok}, "Last-Event-Id": {ids[0]}}},
		"lastEventId query":    {"/v1/events?topic=" + topic + "&lastEventId=" + ids[0], bearer(tok)},
		// The header wins: it is what a browser sends when it reconnects with the first URL.
		"header over query": {"/v1/events?topic=" + topic + "&lastEventId=" + ids[2], http.Header{"Authorization": {"Bearer " + tok}, "Last-Event-Id": {ids[0]}}},
	}
	for name, c := range resumes {
		t.Run(name, func(t *testing.T) {
			s, pos := h.open(t, c.path, c.header)
			if pos != ids[0] {
				t.Fatalf("position %q, want %q", pos, ids[0])
			}
			for i, want := range ids[1:] {
				if ev := s.nextEvent(t); ev.ID != want || ev.Data != []string{"2", "3"}[i] {
					t.Fatalf("replayed %+v, want %s", ev, want)
				}
			}
			s.Close()
		})
	}
	// Then live events follow the replay, none repeated.
	s, _ := h.open(t, "/v1/events?topic="+topic, http.Header{"Authorization": {"Bearer " + tok}, "Last-Event-Id": {ids[1]}})
	if ev := s.nextEvent(t); ev.ID != ids[2] {
		t.Fatalf("replayed %+v, want %s", ev, ids[2])
	}
	live := h.publish(t, topic, "n", "4")
	if ev := s.nextEvent(t); ev.ID != live {
		t.Fatalf("after the replay %+v, want %s", ev, live)
	}
}

func TestEventsOverSeveralTopics(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.topic(t, "news:a"), h.topic(t, "news:b")
	tok := h.token(t, "alice", "news:*")
	a1 := h.publish(t, a, "n", "1")

	// Repeats are dropped, order kept: the cursor names a, then b.
	s, pos := h.open(t, "/v1/events?topic="+a+"&topic="+b+"&topic="+a, bearer(tok))
	if !strings.HasPrefix(pos, a+"="+a1+",") || !strings.Contains(pos, ","+b+"=") {
		t.Fatalf("position %q, want %s=%s,%s=...", pos, a, a1, b)
	}
	b1 := h.publish(t, b, "n", "2")
	ev := s.nextEvent(t)
	if ev.Data != "2" || ev.ID != a+"="+a1+","+b+"="+b1 {
		t.Fatalf("event %+v", ev)
	}
	s.Close()

	// The multi-topic id resumes each topic where it was.
	a2 := h.publish(t, a, "n", "3")
	r, _ := h.open(t, "/v1/events?topic="+a+"&topic="+b, http.Header{"Authorization": {"Bearer " + tok}, "Last-Event-Id": {ev.ID}})
	if got := r.nextEvent(t); got.Data != "3" || got.ID != a+"="+a2+","+b+"="+b1 {
		t.Fatalf("resumed %+v", got)
	}
}

func TestEventsWithATicketAndItsResumeCookie(t *testing.T) {
	h := newHarness(t, nil)
	topic := h.topic(t, "news:")
	tk, _, err := h.svc.Auth.Tickets.Issue(context.Background(), auth.TicketGrant{
		UID: "alice", Topics: []string{topic}, CredentialExpires: time.Now().Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	// No topic named: the ticket's.
	s, _ := h.open(t, "/v1/events?ticket="+url.QueryEscape(tk), nil)
	var resume *http.Cookie
	for _, c := range s.Resp.Cookies() {
		if strings.HasPrefix(c.Name, "sse_resume_") {
			resume = c
		}
	}
	if resume == nil || !resume.HttpOnly || resume.Path != "/v1/events" || resume.SameSite != http.SameSiteStrictMode || resume.Secure {
		t.Fatalf("resume cookie %+v", resume)
	}
	id := h.publish(t, topic, "n", "1")
	if ev := s.nextEvent(t); ev.ID != id {
		t.Fatalf("event %+v", ev)
	}
	s.Close()

	// Spent: alone it opens nothing; with its cookie the browser resumes.
	h.refused(t, "/v1/events?ticket="+url.QueryEscape(tk), nil, http.StatusUnauthorized, "unauthorized")
	id2 := h.publish(t, topic, "n", "2")
	r, pos := h.open(t, "/v1/events?ticket="+url.QueryEscape(tk), http.Header{
		"Cookie": {resume.Name + "=" + resume.Value}, "Last-Event-Id": {id},
	})
	if pos != id {
		t.Fatalf("resumed at %q, want %q", pos, id)
	}
	if ev := r.nextEvent(t); ev.ID != id2 {
		t.Fatalf("resumed %+v, want %s", ev, id2)
	}
	// The cookie is the ticket's topics only.
	h.refused(t, "/v1/events?topic=public:x&ticket="+url.QueryEscape(tk), http.Header{"Cookie": {resume.Name + "=" + resume.Value}},
		http.StatusForbidden, "forbidden")
}

func TestEventsEndWhenTheCredentialExpires(t *testing.T) {
	h := newHarness(t, nil)
	topic := h.topic(t, "news:")
	tok, err := h.svc.Tokens.Sign(map[string]any{"uid": "alice", "subscribe": []string{"news:*"}}, time.Now().Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := h.open(t, "/v1/events?topic="+topic, bearer(tok))
	s.waitEnded(t)
	waitFor(t, "the stream to be released", func() bool { return h.svc.Streams.Len() == 0 })
}

// A bare Last-Event-ID on a stream of several topics is an instant, not an id each topic
// handed out: a topic whose newest event is older than it missed nothing, and gets no reset.
func TestEventsBareIDNewerThanATopicsNewestEventIsNoReset(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.topic(t, "news:a"), h.topic(t, "news:b")
	tok := h.token(t, "alice", "news:*")
	b1, _ := eventid.Parse(h.publish(t, b, "n", "1"))
	var bare string
	for { // an id of a in a later millisecond than b's newest
		bare = h.publish(t, a, "n", "2")
		if id, _ := eventid.Parse(bare); id.Ms > b1.Ms {
			break
		}
	}
	s, _ := h.open(t, "/v1/events?topic="+a+"&topic="+b, http.Header{"Authorization": {"Bearer " + tok}, "Last-Event-Id": {bare}})
	h.publish(t, a, "n", "3")
	if ev := s.nextEvent(t); ev.Event == "reset" || ev.Data != "3" {
		t.Fatalf("spurious reset for a topic that missed nothing: %+v", ev)
	}
}
