package ratelimit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sseapi/sse-api/internal/redisconn"
	"github.com/sseapi/sse-api/internal/redistest"
)

// spend takes n times for key and checks the answers: allowed while under quota.
func spend(t *testing.T, l *Limiter, key string, from, n, quota int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		ok, err := l.Allow(context.Background(), key)
		if err != nil {
			t.Fatalf("take %d of %s: %v", i+1, key, err)
		}
		if ok != (i < quota) {
			t.Fatalf("take %d of %s (quota %d): allowed=%v", i+1, key, quota, ok)
		}
	}
}

func TestCluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	conn, err := redisconn.Connect(redisconn.Conf{Addrs: cl.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	if err := Preload(ctx, conn.Client); err != nil {
		t.Fatal(err)
	}
	for _, n := range cl.Masters(t) {
		if ok, err := n.Client(t).ScriptExists(ctx, takeScript.Hash()).Result(); err != nil || !ok[0] {
			t.Fatalf("%s: script not loaded: %v %v", n.Name, ok, err)
		}
	}

	const quota = 3
	l := New(conn.Client, "rl:", quota, time.Minute)
	keys := map[*redistest.Server]string{} // a key on each master
	for i := 0; len(keys) < 3; i++ {
		k := fmt.Sprint("client-", i)
		keys[cl.MasterOf(t, "rl:"+k)] = k
	}
	for _, k := range keys {
		spend(t, l, k, 0, 2, quota)
	}

	// A coordinated failover keeps the counts (they were replicated).
	owner := cl.Masters(t)[0]
	key := keys[owner]
	promoted := cl.Failover(t, owner)
	redistest.WaitFor(t, 3*time.Second, "limiter on the promoted replica", func() error {
		_, err := l.Take(ctx, key+"-probe") // (not the same slot, necessarily)
		return err
	})
	spend(t, l, key, 2, 2, quota)
	// The promoted replica ran the script (sent again if it lacked it) and has it now.
	if ok, err := promoted.Client(t).ScriptExists(ctx, takeScript.Hash()).Result(); err != nil || !ok[0] {
		t.Fatalf("promoted %s: script not cached: %v %v", promoted.Name, ok, err)
	}
	for _, k := range keys {
		if k != key {
			spend(t, l, k, 2, 2, quota)
		}
	}
}

func TestSentinelFailover(t *testing.T) {
	s := redistest.StartSentinel(t)
	conn, err := redisconn.Connect(redisconn.Conf{Addrs: s.Addrs(), MasterName: redistest.SentinelMaster, DB: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	if err := Preload(ctx, conn.Client); err != nil {
		t.Fatal(err)
	}
	const quota = 3
	l := New(conn.Client, "rl:", quota, time.Minute)
	spend(t, l, "a", 0, 2, quota)

	next := s.Failover(t)
	onNext := redis.NewClient(&redis.Options{Addr: next.Addr(), DB: 1})
	defer onNext.Close()
	// Within a bounded time the limiter counts on the new master (sending the script again
	// if the new master lacks it)...
	redistest.WaitFor(t, 5*time.Second, "limiter counting on the new master", func() error {
		if _, err := l.Take(ctx, "probe"); err != nil {
			return err
		}
		return onNext.Get(ctx, "rl:probe").Err()
	})
	// ...and the counts made before the failover hold there.
	spend(t, l, "a", 2, 3, quota)
	if n, err := onNext.Get(ctx, "rl:a").Int(); err != nil || n != 5 {
		t.Fatalf("counter on the new master, db 1: %d %v", n, err)
	}
}
