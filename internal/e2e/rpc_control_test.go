package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/internal/revoke"
	"github.com/sseapi/sse-api/rpc/sseapiclient"
)

// One refused event refuses the batch: nothing of it is in Redis. An accepted batch's ids
// come in request order and its events reach subscribers in that order.
func TestRpcPublishBatchIsAllOrNothing(t *testing.T) {
	a := startRPC(t, settings{MaxPayload: 1024, MaxBatch: 3})
	api, _ := rpcClient(t, a.RPC, rpcKey)
	t1, t2 := redistest.Name("batch:"), redistest.Name("batch:")
	ok := func(topic, data string) *sseapiclient.Event {
		return &sseapiclient.Event{Topic: topic, Data: []byte(data)}
	}
	big := `"` + strings.Repeat("x", 1100) + `"`
	for _, c := range []struct {
		what   string
		events []*sseapiclient.Event
		want   codes.Code
	}{
		{"no events", nil, codes.InvalidArgument},
		{"a QR session's topic last", []*sseapiclient.Event{ok(t1, `1`), ok("qr:x", `2`)}, codes.PermissionDenied},
		{"a watched key's topic", []*sseapiclient.Event{ok(t1, `1`), ok("key:x", `2`)}, codes.PermissionDenied},
		{"a malformed topic", []*sseapiclient.Event{ok(t1, `1`), ok("a b", `2`)}, codes.InvalidArgument},
		{"data that is not JSON", []*sseapiclient.Event{ok(t1, `1`), ok(t2, `{`)}, codes.InvalidArgument},
		{"no data", []*sseapiclient.Event{ok(t1, `1`), {Topic: t2}}, codes.InvalidArgument},
		{"data over Stream.MaxPayload", []*sseapiclient.Event{ok(t1, `1`), ok(t2, big)}, codes.ResourceExhausted},
		{"more than Stream.MaxBatch", slices.Repeat([]*sseapiclient.Event{ok(t1, `1`)}, 4), codes.ResourceExhausted},
		{"a request over the batch bound", slices.Repeat([]*sseapiclient.Event{ok(t1, big[:1000]+`"`)}, 17), codes.ResourceExhausted},
	} {
		_, err := api.PublishBatch(rpcContext(t), &sseapiclient.PublishBatchReq{Events: c.events})
		wantCode(t, c.what, err, c.want)
	}
	if n := stored(t, t1, t2); n != 0 {
		t.Fatalf("refused batches wrote %d keys", n)
	}

	tok := token(t, "alice", nil, []string{"batch:*"})
	s1, s2 := mustOpen(t, a.Base+"/v1/events?topic="+t1, bearer(tok)), mustOpen(t, a.Base+"/v1/events?topic="+t2, bearer(tok))
	s1.waitPosition(t)
	s2.waitPosition(t)
	resp, err := api.PublishBatch(rpcContext(t), &sseapiclient.PublishBatchReq{Events: []*sseapiclient.Event{
		{Topic: t1, Event: "a", Data: []byte(`{"n": 1}`)}, ok(t2, `2`), ok(t1, `3`),
	}})
	if err != nil || len(resp.Ids) != 3 {
		t.Fatalf("batch: %v %v", resp, err)
	}
	// The first events the streams see are the accepted batch's, in its order per topic.
	for i, c := range []struct {
		s    *stream
		want event
	}{
		{s1, event{resp.Ids[0], "a", `{"n":1}`}}, {s2, event{resp.Ids[1], "message", "2"}}, {s1, event{resp.Ids[2], "message", "3"}},
	} {
		if ev := c.s.next(t); ev != c.want {
			t.Fatalf("event %d = %+v, want %+v", i, ev, c.want)
		}
	}
}

func TestRpcHistoryPages(t *testing.T) {
	// A Redis of its own: the instance records its history bounds there.
	// Pages of at most 1 KiB of events: the small ones fit, the large ones below do not.
	a := startRPC(t, settings{RedisAddr: redistest.StartServer(t, redistest.Options{}).Addr(), HistorySize: 5, MaxHistoryPage: 1024})
	api, _ := rpcClient(t, a.RPC, rpcKey)
	topic := redistest.Name("hist:")
	var ids []string
	for i := range 7 {
		r, err := api.Publish(rpcContext(t), &sseapiclient.PublishReq{Topic: topic, Event: "n", Data: []byte(strconv.Itoa(i))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.Id)
	}
	// The 5 kept, 2 a page, oldest first; the last page says there is no more.
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		page, err := api.History(rpcContext(t), &sseapiclient.HistoryReq{Topic: topic, After: after, Limit: 2})
		if err != nil || pages > 3 || page.Truncated {
			t.Fatalf("page %d: %v %v", pages, page, err)
		}
		for _, e := range page.Events {
			if e.Event != "n" || string(e.Data) != strconv.Itoa(slices.Index(ids, e.Id)) {
				t.Fatalf("event %+v is not as published", e)
			}
			got = append(got, e.Id)
		}
		after = page.Next
		if !page.More {
			break
		}
	}
	if !slices.Equal(got, ids[2:]) {
		t.Fatalf("paged %v, want the kept %v", got, ids[2:])
	}
	// Larger events: each page stops within Stream.MaxHistoryPage, says more follow and the
	// next goes on right after it; the event over the bound by itself comes alone.
	big := redistest.Name("hist:big")
	var bigIDs []string
	for _, n := range []int{400, 400, 1500, 400} {
		r, err := api.Publish(rpcContext(t), &sseapiclient.PublishReq{Topic: big, Event: "b", Data: []byte(`"` + strings.Repeat("x", n) + `"`)})
		if err != nil {
			t.Fatal(err)
		}
		bigIDs = append(bigIDs, r.Id)
	}
	var sizes []int
	got, after = nil, ""
	for pages := 0; ; pages++ {
		page, err := api.History(rpcContext(t), &sseapiclient.HistoryReq{Topic: big, After: after, Limit: 1000})
		if err != nil || len(page.Events) == 0 || pages > 3 {
			t.Fatalf("page %d of large events: %v %v", pages, page, err)
		}
		bytes := 0
		for _, e := range page.Events {
			bytes += len(e.Id) + len(e.Event) + len(e.Data)
			got = append(got, e.Id)
		}
		if (len(page.Events) > 1 && bytes > 1024) || page.Next != got[len(got)-1] {
			t.Fatalf("page %d of large events (%d bytes): %v", pages, bytes, page)
		}
		sizes = append(sizes, len(page.Events))
		after = page.Next
		if !page.More {
			break
		}
	}
	if !slices.Equal(got, bigIDs) || !slices.Equal(sizes, []int{2, 1, 1}) {
		t.Fatalf("paged %v in pages of %v, want %v in pages of [2 1 1]", got, sizes, bigIDs)
	}
	// After an event no longer kept: the page starts at the oldest kept, and says so.
	page, err := api.History(rpcContext(t), &sseapiclient.HistoryReq{Topic: topic, After: ids[0]})
	if err != nil || !page.Truncated || len(page.Events) != 5 || page.Events[0].Id != ids[2] {
		t.Fatalf("after a dropped event: %v %v, want truncated and the 5 kept", page, err)
	}
	for _, c := range []struct {
		what string
		req  *sseapiclient.HistoryReq
		want codes.Code
	}{
		{"a malformed topic", &sseapiclient.HistoryReq{Topic: "a b"}, codes.InvalidArgument},
		{"a malformed after", &sseapiclient.HistoryReq{Topic: topic, After: "x"}, codes.InvalidArgument},
		{"a limit over 1000", &sseapiclient.HistoryReq{Topic: topic, Limit: 1001}, codes.InvalidArgument},
		{"a QR session's topic", &sseapiclient.HistoryReq{Topic: "qr:x"}, codes.PermissionDenied},
	} {
		_, err := api.History(rpcContext(t), c.req)
		wantCode(t, c.what, err, c.want)
	}
}

// Presence counts a topic's streams across instances, with their users: a caller holding
// the key sees them.
func TestRpcPresenceCountsAcrossInstances(t *testing.T) {
	withPresence := settings{Extra: "Presence:\n  Enabled: true"}
	a := startRPC(t, withPresence)
	b := start(t, withPresence)
	api, _ := rpcClient(t, a.RPC, rpcKey)
	topic := redistest.Name("room:")
	member := func(uid string) string { return token(t, uid, nil, []string{"room:*"}) }
	mustOpen(t, a.Base+"/v1/events?topic="+topic, bearer(member("ann"))).waitPosition(t)
	mustOpen(t, b.Base+"/v1/events?topic="+topic, bearer(member("bob"))).waitPosition(t)
	mustOpen(t, b.Base+"/v1/events?topic="+topic, bearer(member("bob"))).waitPosition(t)

	var last *sseapiclient.PresenceResp
	eventually(t, "3 streams of ann and bob", 5*time.Second, func() bool {
		resp, err := api.Presence(rpcContext(t), &sseapiclient.PresenceReq{Topic: topic})
		if err != nil {
			t.Fatal(err)
		}
		last = resp
		return resp.Streams == 3 && slices.Equal(resp.Uids, []string{"ann", "bob"})
	})
	if resp, err := api.Presence(rpcContext(t), &sseapiclient.PresenceReq{Topic: redistest.Name("room:")}); err != nil || resp.Streams != 0 || len(resp.Uids) != 0 {
		t.Errorf("an empty topic: %v %v (last: %v)", resp, err, last)
	}
	for what, topic := range map[string]string{"a malformed topic": "a b", "no topic": ""} {
		_, err := api.Presence(rpcContext(t), &sseapiclient.PresenceReq{Topic: topic})
		wantCode(t, what, err, codes.InvalidArgument)
	}
	_, err := api.Presence(rpcContext(t), &sseapiclient.PresenceReq{Topic: "qr:x"})
	wantCode(t, "a QR session's topic", err, codes.PermissionDenied)

	off := startRPC(t, settings{Extra: "Presence:\n  Enabled: false"})
	offAPI, _ := rpcClient(t, off.RPC, rpcKey)
	_, err = offAPI.Presence(rpcContext(t), &sseapiclient.PresenceReq{Topic: topic})
	wantCode(t, "presence off", err, codes.NotFound)
}

// Disconnect ends a user's streams on every instance within a second; with revoke, the
// user's tokens issued until then are refused.
func TestRpcDisconnectEndsStreamsEverywhere(t *testing.T) {
	revocable := settings{Extra: "Revoke:\n  TTL: 10m"}
	a, b := startRPC(t, revocable), start(t, revocable)
	api, _ := rpcClient(t, a.RPC, rpcKey)
	uid := strings.TrimPrefix(redistest.Name("user:u"), "user:")
	t.Cleanup(func() { redistest.Client(t).Del(context.Background(), revoke.Key(uid)) })
	old := signed(t, uid, map[string]any{auth.ClaimSubscribe: []string{"news:*"}})
	ended := func(s *stream, code string, since time.Time) {
		t.Helper()
		ev := nextOf(t, s, "error")
		var d struct{ Code string }
		if err := json.Unmarshal([]byte(ev.Data), &d); err != nil || d.Code != code {
			t.Fatalf("end event %+v, want code %s", ev, code)
		}
		s.waitEnded(t)
		if took := time.Since(since); took > time.Second {
			t.Fatalf("the stream ended %v after the call, want within 1s", took)
		}
	}

	for what, uid := range map[string]string{"no uid": "", "a uid too long": strings.Repeat("u", 257)} {
		_, err := api.Disconnect(rpcContext(t), &sseapiclient.DisconnectReq{Uid: uid})
		wantCode(t, what, err, codes.InvalidArgument)
	}

	onA := mustOpen(t, a.Base+"/v1/me/events", bearer(old))
	onB := mustOpen(t, b.Base+"/v1/events?topic=news:1", bearer(old))
	onA.waitPosition(t)
	onB.waitPosition(t)
	called := time.Now()
	resp, err := api.Disconnect(rpcContext(t), &sseapiclient.DisconnectReq{Uid: uid})
	if err != nil || resp.Streams != 1 {
		t.Fatalf("disconnect: %v %v, want the 1 stream of the instance called", resp, err)
	}
	ended(onA, "disconnected", called)
	ended(onB, "disconnected", called)
	again := mustOpen(t, b.Base+"/v1/me/events", bearer(old)) // a disconnect alone refuses nothing
	again.waitPosition(t)

	called = time.Now()
	if _, err := api.Disconnect(rpcContext(t), &sseapiclient.DisconnectReq{Uid: uid, Revoke: true}); err != nil {
		t.Fatal(err)
	}
	ended(again, "revoked", called)
	for _, base := range []string{a.Base, b.Base} {
		if s := open(t, base+"/v1/me/events", bearer(old)); s.Resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: a revoked token's stream: %d", base, s.Resp.StatusCode)
		}
	}
}
