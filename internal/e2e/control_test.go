package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/internal/revoke"
)

// signed signs a token with claims besides uid, valid for an hour.
func signed(t *testing.T, uid string, claims map[string]any) string {
	t.Helper()
	c := map[string]any{auth.ClaimUID: uid}
	for k, v := range claims {
		c[k] = v
	}
	tok, err := auth.NewTokens(secret).Sign(c, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// eventually polls cond every 20ms until it holds, for at most within.
func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type presenceAnswer struct {
	Streams int       `json:"streams"`
	UIDs    *[]string `json:"uids"`
}

func presenceOf(t *testing.T, inst *instance, topic, tok string) (int, presenceAnswer) {
	t.Helper()
	var out presenceAnswer
	status := callJSON(t, http.MethodGet, inst.Base+"/v1/topics/"+topic+"/presence", tok, nil, &out)
	return status, out
}

// nextOf waits for the next event on s named name, skipping others.
func nextOf(t *testing.T, s *stream, name string) event {
	t.Helper()
	for {
		if ev := s.next(t); ev.Type == name {
			return ev
		}
	}
}

// Presence counts the streams of a topic across instances; a killed instance's streams
// drop out within their lease, and join/leave events tell each user's first and last
// stream across instances.
func TestPresenceAcrossInstances(t *testing.T) {
	const lease = 2 * time.Second
	withPresence := settings{Extra: "Presence:\n  Lease: 2s\n  Events: true"}
	a, b := start(t, withPresence), start(t, withPresence)
	topic := redistest.Name("room:")
	reader := signed(t, "reader", map[string]any{auth.ClaimSubscribe: []string{"room:*", "presence:room:*"}})
	watcher := signed(t, "watcher", map[string]any{auth.ClaimSubscribe: []string{"room:*"}, auth.ClaimPresence: []string{"room:*"}})
	member := func(uid string) string {
		return signed(t, uid, map[string]any{auth.ClaimSubscribe: []string{"room:*"}})
	}

	joins := mustOpen(t, a.Base+"/v1/events?topic=presence:"+topic, bearer(reader))
	joins.waitPosition(t)
	alice := mustOpen(t, a.Base+"/v1/events?topic="+topic, bearer(member("alice")))
	alice.waitPosition(t)
	bob1 := mustOpen(t, b.Base+"/v1/events?topic="+topic, bearer(member("bob")))
	bob1.waitPosition(t)
	bob2 := mustOpen(t, a.Base+"/v1/events?topic="+topic, bearer(member("bob")))
	bob2.waitPosition(t)

	eventually(t, "3 streams of alice and bob, seen from either instance", 5*time.Second, func() bool {
		_, pa := presenceOf(t, a, topic, watcher)
		_, pb := presenceOf(t, b, topic, watcher)
		return pa.Streams == 3 && pb.Streams == 3 && pa.UIDs != nil && slices.Equal(*pa.UIDs, []string{"alice", "bob"})
	})
	// Without the presence claim: the count, not who.
	if status, p := presenceOf(t, b, topic, reader); status != http.StatusOK || p.Streams != 3 || p.UIDs != nil {
		t.Fatalf("without the presence claim: %d %+v", status, p)
	}
	// bob's first stream joined, his second (on the other instance) did not.
	type change struct{ Event, UID string }
	var seen []change
	for len(seen) < 2 {
		ev := joins.next(t)
		var d struct{ UID, Topic string }
		if err := json.Unmarshal([]byte(ev.Data), &d); err != nil || d.Topic != topic {
			t.Fatalf("presence event %+v", ev)
		}
		seen = append(seen, change{ev.Type, d.UID})
	}
	// Either order: each instance tells its own.
	slices.SortFunc(seen, func(x, y change) int { return strings.Compare(x.UID, y.UID) })
	if !slices.Equal(seen, []change{{"join", "alice"}, {"join", "bob"}}) {
		t.Fatalf("events %v", seen)
	}

	// bob's stream on a still counts: his last stream is on b, killed without a goodbye.
	bob2.Close()
	eventually(t, "bob's stream on a to end", 5*time.Second, func() bool {
		_, p := presenceOf(t, a, topic, watcher)
		return p.Streams == 2
	})
	b.Kill()
	killed := time.Now()
	eventually(t, "b's stream to drop out", 2*lease, func() bool {
		_, p := presenceOf(t, a, topic, watcher)
		return p.Streams == 1 && slices.Equal(*p.UIDs, []string{"alice"})
	})
	if took := time.Since(killed); took > lease+time.Second {
		t.Fatalf("b's stream dropped out %v after the kill, lease %v", took, lease)
	}
	if ev := joins.next(t); ev.Type != "leave" || !strings.Contains(ev.Data, `"uid":"bob"`) {
		t.Fatalf("after b died: %+v, want bob's leave", ev)
	}

	t.Run("refusals", func(t *testing.T) {
		path := a.Base + "/v1/topics/" + topic + "/presence"
		for _, c := range []struct {
			name, url, tok string
			status         int
		}{
			{"no token", path, "", http.StatusUnauthorized},
			{"bad token", path, "not-a-token", http.StatusUnauthorized},
			{"no subscribe grant", path, signed(t, "x", map[string]any{auth.ClaimPresence: []string{"*"}}), http.StatusForbidden},
			{"reserved topic", a.Base + "/v1/topics/qr:abc/presence", watcher, http.StatusForbidden},
			{"malformed topic", a.Base + "/v1/topics/" + url.PathEscape("a b") + "/presence", watcher, http.StatusBadRequest},
		} {
			if status, body := call(t, http.MethodGet, c.url, c.tok, nil); status != c.status || body["code"] == nil {
				t.Errorf("%s: %d %v, want %d", c.name, status, body, c.status)
			}
		}
		// Nobody publishes presence events but the service.
		pub := signed(t, "p", map[string]any{auth.ClaimPublish: []string{"*"}})
		if status, _ := call(t, http.MethodPost, a.Base+"/v1/topics/presence:"+topic+"/events", pub, map[string]any{"data": 1}); status != http.StatusForbidden {
			t.Errorf("publish to a presence topic: %d", status)
		}
	})
}

// A disconnect on one instance ends the user's streams on every instance within a second;
// with revoke, the user's credentials issued until then are refused everywhere after.
func TestDisconnectAndRevokeAcrossInstances(t *testing.T) {
	// The revocation is kept no longer than the test needs it; it is removed at its end.
	revocable := settings{Extra: "Revoke:\n  TTL: 10m"}
	a, b := start(t, revocable), start(t, revocable)
	uid := strings.TrimPrefix(redistest.Name("user:u"), "user:")
	rdb := redistest.Client(t)
	t.Cleanup(func() { rdb.Del(context.Background(), revoke.Key(uid)) })
	admin := signed(t, "ops", map[string]any{auth.ClaimAdmin: true})
	old := signed(t, uid, map[string]any{auth.ClaimSubscribe: []string{"news:*"}})
	disconnect := func(body any) (int, map[string]any) {
		t.Helper()
		return call(t, http.MethodPost, a.Base+"/v1/users/"+uid+"/disconnect", admin, body)
	}
	// ended waits for the stream's last event: an error event with code.
	ended := func(s *stream, code string, since time.Time) {
		t.Helper()
		ev := nextOf(t, s, "error")
		took := time.Since(since)
		var d struct{ Code, Message string }
		if err := json.Unmarshal([]byte(ev.Data), &d); err != nil || d.Code != code || d.Message == "" {
			t.Fatalf("end event %+v, want code %s", ev, code)
		}
		s.waitEnded(t)
		if took > time.Second {
			t.Fatalf("the stream ended %v after the call, want within 1s", took)
		}
	}

	t.Run("refusals", func(t *testing.T) {
		path := a.Base + "/v1/users/" + uid + "/disconnect"
		notAdmin := signed(t, "ops", map[string]any{auth.ClaimAdmin: "true"})
		for _, c := range []struct {
			name, url, tok string
			body           any
			status         int
		}{
			{"no token", path, "", nil, http.StatusUnauthorized},
			{"bad token", path, "not-a-token", nil, http.StatusUnauthorized},
			{"not admin", path, notAdmin, nil, http.StatusForbidden},
			{"malformed body", path, admin, []byte(`{"revoke":"yes"}`), http.StatusBadRequest},
			{"uid too long", a.Base + "/v1/users/" + strings.Repeat("u", 257) + "/disconnect", admin, nil, http.StatusBadRequest},
		} {
			if status, body := call(t, http.MethodPost, c.url, c.tok, c.body); status != c.status || body["code"] == nil {
				t.Errorf("%s: %d %v, want %d", c.name, status, body, c.status)
			}
		}
	})

	// A ticket issued before the revocation, used after it, is refused too.
	var ticket struct{ Ticket string }
	if status := callJSON(t, http.MethodPost, a.Base+"/v1/tickets", old, map[string]any{"topics": []string{"news:1"}}, &ticket); status != http.StatusCreated {
		t.Fatalf("ticket: %d", status)
	}

	onA := mustOpen(t, a.Base+"/v1/me/events", bearer(old))
	onB := mustOpen(t, b.Base+"/v1/me/events", bearer(old))
	onB2 := mustOpen(t, b.Base+"/v1/events?topic=news:1", bearer(old))
	for _, s := range []*stream{onA, onB, onB2} {
		s.waitPosition(t)
	}
	called := time.Now()
	if status, out := disconnect(nil); status != http.StatusAccepted || out["streams"] != float64(1) {
		t.Fatalf("disconnect: %d %v, want 202 and the 1 stream of a", status, out)
	}
	ended(onA, "disconnected", called)
	ended(onB, "disconnected", called)
	ended(onB2, "disconnected", called)
	// A disconnect alone refuses nothing.
	again := mustOpen(t, b.Base+"/v1/me/events", bearer(old))
	again.waitPosition(t)

	called = time.Now()
	if status, out := disconnect(map[string]any{"revoke": true}); status != http.StatusAccepted || out["streams"] != float64(0) {
		t.Fatalf("revoke: %d %v, want 202 and no stream of a", status, out)
	}
	ended(again, "revoked", called)
	for _, inst := range []*instance{a, b} {
		if s := open(t, inst.Base+"/v1/me/events", bearer(old)); s.Resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: a revoked token's stream: %d", inst.Base, s.Resp.StatusCode)
		}
		if status, _ := call(t, http.MethodPost, inst.Base+"/v1/tickets", old, map[string]any{"topics": []string{"news:1"}}); status != http.StatusUnauthorized {
			t.Errorf("%s: a revoked token's ticket: %d", inst.Base, status)
		}
	}
	if s := open(t, b.Base+"/v1/events?ticket="+url.QueryEscape(ticket.Ticket), nil); s.Resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a ticket of the revoked token: %d", s.Resp.StatusCode)
	}

	// A token issued after the revocation (a later second: iat has whole seconds) works.
	var fresh string
	eventually(t, "a token issued after the revocation to be accepted", 3*time.Second, func() bool {
		fresh = signed(t, uid, map[string]any{auth.ClaimSubscribe: []string{"news:*"}})
		status, _ := call(t, http.MethodPost, b.Base+"/v1/tickets", fresh, map[string]any{"topics": []string{"news:1"}})
		return status == http.StatusCreated
	})
	for _, inst := range []*instance{a, b} {
		mustOpen(t, inst.Base+"/v1/me/events", bearer(fresh)).waitPosition(t)
	}
}

// On a Redis Cluster the presence of a topic lives in the topic's slot and a disconnect
// reaches the other instance over classic pub/sub, which the Cluster copies to every node.
func TestPresenceAndDisconnectOnACluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	onCluster := settings{RedisAddrs: strings.Join(cl.Addrs(), ", ")}
	a, b := start(t, onCluster), start(t, onCluster)
	topic := redistest.Name("room:")
	watcher := signed(t, "watcher", map[string]any{auth.ClaimSubscribe: []string{"room:*"}, auth.ClaimPresence: []string{"room:*"}})
	admin := signed(t, "ops", map[string]any{auth.ClaimAdmin: true})
	dave := signed(t, "dave", map[string]any{auth.ClaimSubscribe: []string{"room:*"}})

	onA := mustOpen(t, a.Base+"/v1/events?topic="+topic, bearer(dave))
	onB := mustOpen(t, b.Base+"/v1/events?topic="+topic, bearer(dave))
	onA.waitPosition(t)
	onB.waitPosition(t)
	eventually(t, "dave's 2 streams", 5*time.Second, func() bool {
		_, p := presenceOf(t, b, topic, watcher)
		return p.Streams == 2 && p.UIDs != nil && slices.Equal(*p.UIDs, []string{"dave"})
	})

	called := time.Now()
	if status, out := call(t, http.MethodPost, a.Base+"/v1/users/dave/disconnect", admin, map[string]any{"revoke": true}); status != http.StatusAccepted || out["streams"] != float64(1) {
		t.Fatalf("disconnect: %d %v", status, out)
	}
	for _, s := range []*stream{onA, onB} {
		if ev := nextOf(t, s, "error"); !strings.Contains(ev.Data, `"code":"revoked"`) {
			t.Fatalf("end event %+v", ev)
		}
		s.waitEnded(t)
	}
	if took := time.Since(called); took > time.Second {
		t.Fatalf("the streams ended %v after the call, want within 1s", took)
	}
	if s := open(t, b.Base+"/v1/events?topic="+topic, bearer(dave)); s.Resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("revoked token on b: %d", s.Resp.StatusCode)
	}
	eventually(t, "the count to drop", 5*time.Second, func() bool {
		_, p := presenceOf(t, a, topic, watcher)
		return p.Streams == 0
	})
}
