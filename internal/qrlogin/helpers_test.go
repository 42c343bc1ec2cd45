package qrlogin

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/publish"
)

var ctx = context.Background()

var testRequester = Requester{IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}

func newTestStore(t *testing.T, cfg Config) (*Store, redis.UniversalClient) {
	t.Helper()
	rdb := redistest.Client(t)
	return NewStore(rdb, cfg), rdb
}

// forget removes a session's keys when the test ends, so the shared Redis does not keep them
// for Retention.
func forget(t *testing.T, rdb redis.UniversalClient, id string) {
	t.Cleanup(func() {
		topic := Topic(id)
		rdb.Del(context.Background(), sessionKey(id), publish.StreamKey(topic), publish.MetaKey(topic))
	})
}

func create(t *testing.T, st *Store, rdb redis.UniversalClient) (*Session, string) {
	t.Helper()
	sess, secret, err := st.Create(ctx, testRequester)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	forget(t, rdb, sess.ID)
	return sess, secret
}

func newUID() string { return redistest.Name("uid-") }

// scanned returns a session scanned by a fresh user, its browser secret and that user.
func scanned(t *testing.T, st *Store, rdb redis.UniversalClient) (*Session, string, string) {
	t.Helper()
	sess, secret := create(t, st, rdb)
	uid := newUID()
	sess, err := st.Scan(ctx, sess.ID, sess.ScanKey, uid, "u***r")
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return sess, secret, uid
}

func confirmed(t *testing.T, st *Store, rdb redis.UniversalClient) (*Session, string, string) {
	t.Helper()
	sess, secret, uid := scanned(t, st, rdb)
	sess, err := st.Confirm(ctx, sess.ID, uid)
	if err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	return sess, secret, uid
}

type event struct{ ID, Name, Data string }

// events reads the session's topic straight from its stream.
func events(t *testing.T, rdb redis.UniversalClient, id string) []event {
	t.Helper()
	msgs, err := rdb.XRange(ctx, publish.StreamKey(Topic(id)), "-", "+").Result()
	if err != nil {
		t.Fatalf("XRANGE: %v", err)
	}
	out := make([]event, len(msgs))
	for i, m := range msgs {
		out[i] = event{ID: m.ID, Name: m.Values["e"].(string), Data: m.Values["d"].(string)}
	}
	return out
}

func count(evs []event, name string) int {
	n := 0
	for _, e := range evs {
		if e.Name == name {
			n++
		}
	}
	return n
}

func redisNow(t *testing.T, rdb redis.UniversalClient) time.Time {
	t.Helper()
	now, err := rdb.Time(ctx).Result()
	if err != nil {
		t.Fatalf("TIME: %v", err)
	}
	return now
}

// waitPast polls the Redis clock (without touching the session, which would expire it) until
// deadline has passed, for at most a few seconds.
func waitPast(t *testing.T, rdb redis.UniversalClient, deadline time.Time) {
	t.Helper()
	giveUp := time.Now().Add(5 * time.Second)
	for redisNow(t, rdb).UnixMilli() < deadline.UnixMilli() {
		if time.Now().After(giveUp) {
			t.Fatalf("deadline %v not reached by the Redis clock", deadline)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("%s: err = %v, want %v", what, got, want)
	}
}

// rawState reads the state field without running any script.
func rawState(t *testing.T, rdb redis.UniversalClient, id string) State {
	t.Helper()
	v, err := rdb.HGet(ctx, sessionKey(id), "state").Result()
	if err != nil {
		t.Fatalf("HGET state: %v", err)
	}
	return State(v)
}
