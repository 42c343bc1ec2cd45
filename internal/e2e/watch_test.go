package e2e

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/redistest"
)

// watchRules: QR codes anyone may follow by id; orders for those whose token says so; job
// logs (streams) likewise.
const watchRules = `Watch:
  Keys:
    - Pattern: "qrcode:*"
      Kind: state
      Public: true
    - Pattern: "order:*"
      Kind: state
    - Pattern: "jobs:*"
      Kind: stream
`

// A key that a legacy service writes with plain Redis commands reaches subscribers of its
// topic, by the rules of the Watch block.
func TestWatchedKeysOverHTTP(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{Args: []string{"--notify-keyspace-events", "KEA"}})
	rdb := srv.Client(t)
	a := start(t, settings{RedisAddr: srv.Addr(), Extra: watchRules})
	ctx := context.Background()
	ev := func(q string) string { return a.Base + "/v1/events?" + q }

	// Public rule: anonymous. The value first, then each change.
	code := redistest.Name("qrcode:")
	rdb.Set(ctx, code, `{"status":"pending"}`, time.Minute)
	s := mustOpen(t, ev("topic=key:"+code), nil)
	if e := s.next(t); e.Type != "state" || e.Data != `{"status":"pending"}` || !strings.HasPrefix(e.ID, "0-") {
		t.Fatalf("first event %+v", e)
	}
	rdb.Set(ctx, code, `{"status":"scanned"}`, time.Minute)
	if e := s.next(t); e.Data != `{"status":"scanned"}` {
		t.Fatalf("change %+v", e)
	}
	held := s.LastID()
	s.Close()

	// Resuming with the value held: nothing until the next change.
	r := mustOpen(t, ev("topic=key:"+code+"&lastEventId="+held), nil)
	rdb.Del(ctx, code)
	if e := r.next(t); e.Type != "deleted" || e.Data != `{"reason":"deleted"}` {
		t.Fatalf("after resume: %+v", e)
	}

	// Claims: the usual subscribe patterns apply to key:<name>.
	order := redistest.Name("order:")
	rdb.HSet(ctx, order, "state", "paid")
	alice := token(t, "alice", nil, []string{"key:order:*"})
	bob := token(t, "bob", nil, []string{"team:*"})
	o := mustOpen(t, ev("topic=key:"+order), bearer(alice))
	if e := o.next(t); e.Data != `{"state":"paid"}` {
		t.Fatalf("order %+v", e)
	}
	expectError(t, get(t, ev("topic=key:"+order), nil), 401, "unauthorized")
	expectError(t, get(t, ev("topic=key:"+order), bearer(bob)), 403, "forbidden")

	// A key no rule matches is refused, whoever asks, before anything is read.
	everything := token(t, "root", nil, []string{"*"})
	// The token's revocation check reads its user's not-before, then believes it for
	// Revoke.Cache (1s): a first refusal takes that read out of the count.
	expectError(t, get(t, ev("topic=key:"+redistest.Name("secret:")), bearer(everything)), 403, "forbidden")
	getsBefore := commandCalls(t, rdb, "get")
	expectError(t, get(t, ev("topic=key:"+redistest.Name("secret:")), bearer(everything)), 403, "forbidden")
	expectError(t, get(t, ev("topic=key:"+redistest.Name("secret:")), nil), 403, "forbidden")
	if n := commandCalls(t, rdb, "get"); n != getsBefore {
		t.Fatalf("a refused key was read (%d GETs)", n-getsBefore)
	}
	// Tickets follow the same rules.
	if status, _ := call(t, http.MethodPost, a.Base+"/v1/tickets", everything, map[string]any{"topics": []string{"key:secret:x"}}); status != 403 {
		t.Fatalf("ticket for an unmatched key: %d", status)
	}
	if status, _ := call(t, http.MethodPost, a.Base+"/v1/tickets", bob, map[string]any{"topics": []string{"key:" + code}}); status != 201 {
		t.Fatalf("ticket for a public key: %d", status)
	}

	// Nobody publishes to a key's topic, whatever the token says.
	if status, _ := call(t, http.MethodPost, a.Base+"/v1/topics/key:"+code+"/events", token(t, "root", []string{"*"}, nil), map[string]any{"data": 1}); status != 403 {
		t.Fatalf("publish to a key's topic: %d", status)
	}

	// A stream key beside a topic of sse-api's own, on one connection with one cursor.
	job := redistest.Name("jobs:")
	topic := redistest.Name("team:")
	both := token(t, "carol", []string{"team:*"}, []string{"team:*", "key:jobs:*"})
	m := mustOpen(t, ev("topic=key:"+job+"&topic="+topic), bearer(both))
	m.waitPosition(t)
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: job, Values: []any{"event", "progress", "data", `{"percent":50}`}})
	publishEvent(t, a.Base, both, topic, "hello")
	got := map[string]string{}
	for range 2 {
		e := m.next(t)
		got[e.Type] = e.Data
	}
	if got["progress"] != `{"percent":50}` || got["message"] != `"hello"` {
		t.Fatalf("events %v", got)
	}
	if id := m.LastID(); !strings.Contains(id, "key:"+job+"=") || !strings.Contains(id, topic+"=") {
		t.Fatalf("cursor %q", id)
	}
}

// Without keyspace notifications the service refuses to start and names the setting; with
// Watch.ConfigureRedis it turns them on itself.
func TestWatchNeedsKeyspaceNotifications(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{})
	a := launch(t, settings{RedisAddr: srv.Addr(), Extra: watchRules})
	select {
	case <-a.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("started without keyspace notifications")
	}
	logs := a.Logs.String()
	if a.ExitCode() == 0 || !strings.Contains(logs, "CONFIG SET notify-keyspace-events Kgxe$ht") {
		t.Fatalf("exit code %d, logs:\n%s", a.ExitCode(), logs)
	}

	start(t, settings{RedisAddr: srv.Addr(), Extra: watchRules + "  ConfigureRedis: true\n"})
	got := srv.Client(t).ConfigGet(context.Background(), "notify-keyspace-events").Val()["notify-keyspace-events"]
	if !strings.Contains(got, "K") || !strings.Contains(got, "$") || !strings.Contains(got, "t") {
		t.Fatalf("notify-keyspace-events after ConfigureRedis: %q", got)
	}
}

// commandCalls is how many times Redis ran cmd (INFO commandstats).
func commandCalls(t *testing.T, rdb redis.Cmdable, cmd string) int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_"+cmd+":calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}

// The shipped development setup: the embedded Redis makes its own notifications, and the
// demo writer (on only with the demo mint) writes keys as a legacy service would.
func TestDemoKeyWriterWithTheEmbeddedRedis(t *testing.T) {
	rules := watchRules + `    - Pattern: "demo:*"
      Kind: state
`
	a := start(t, settings{Embedded: true, Extra: demoOn + rules})
	var minted struct{ Token string }
	if status := callJSON(t, http.MethodPost, a.Base+"/v1/demo/token", "", map[string]string{"user": "alice"}, &minted); status != http.StatusOK {
		t.Fatalf("mint: %d", status)
	}
	key := redistest.Name("demo:")
	s := mustOpen(t, a.Base+"/v1/events?topic=key:"+key, bearer(minted.Token))
	if e := s.next(t); e.Type != "deleted" || e.Data != `{"reason":"absent"}` {
		t.Fatalf("first event %+v", e)
	}
	var out struct{ Command string }
	write := func(body map[string]any) {
		t.Helper()
		if status := callJSON(t, http.MethodPost, a.Base+"/v1/demo/keys", "", body, &out); status != http.StatusOK {
			t.Fatalf("demo write %v: %d", body, status)
		}
	}
	write(map[string]any{"key": key, "value": map[string]any{"step": 1}, "ttlSeconds": 1})
	if want := "SET " + key + ` "{\"step\":1}" EX 1`; out.Command != want {
		t.Fatalf("command %q, want %q", out.Command, want)
	}
	if e := s.next(t); e.Type != "state" || e.Data != `{"step":1}` {
		t.Fatalf("written: %+v", e)
	}
	if e := s.next(t); e.Type != "deleted" || e.Data != `{"reason":"expired"}` {
		t.Fatalf("after its TTL: %+v", e)
	}
	write(map[string]any{"key": key, "value": "x"})
	s.next(t)
	write(map[string]any{"key": key, "delete": true})
	if e := s.next(t); e.Data != `{"reason":"deleted"}` {
		t.Fatalf("deleted: %+v", e)
	}
	for _, body := range []map[string]any{
		{"key": "sse:secret", "value": 1}, // not a demo key
		{"key": "demo:" + strings.Repeat("x", 130), "value": 1},
		{"key": key}, // no value
		{"key": key, "value": 1, "ttlSeconds": -1},
	} {
		if status, _ := callRaw(t, http.MethodPost, a.Base+"/v1/demo/keys", "", body); status != http.StatusBadRequest {
			t.Errorf("demo write %v: %d, want 400", body, status)
		}
	}
}
