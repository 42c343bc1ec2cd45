package keywatch

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/redisconn"
	"github.com/sseapi/sse-api/internal/redistest"
)

// Notifications are per node in a Cluster: the watcher follows every master, and the
// masters that a failover makes.
func TestClusterEveryMasterAndFailovers(t *testing.T) {
	cl := redistest.StartCluster(t)
	conf := rules(stateRule("c:*"))
	conf.ConfigureRedis = true // the nodes start without notifications
	conf.TopologyRefresh = 200 * time.Millisecond
	s := watching(t, redisconn.Conf{Addrs: cl.Addrs()}, conf)
	rdb := cl.Client(t)

	// One key on each master.
	masters := cl.Masters(t)
	keys := map[*redistest.Server]string{}
	for len(keys) < len(masters) {
		k := redistest.Name("c:")
		if m := cl.MasterOf(t, k); keys[m] == "" {
			keys[m] = k
		}
	}
	var order []string
	for _, k := range keys {
		order = append(order, k)
	}
	topics := make([]string, len(order))
	for i, k := range order {
		topics[i] = "key:" + k
	}
	c, _ := s.subscribe("", topics...)
	c.waitN(t, len(order)) // each one absent
	write := func(key, value string) {
		t.Helper()
		if err := rdb.Set(ctx, key, value, 0).Err(); err != nil {
			t.Fatal(err)
		}
		c.waitLast(t, StateEvent, fmt.Sprintf("%q", value))
	}
	for i, k := range order {
		write(k, fmt.Sprint("v", i))
	}

	// A coordinated failover: the replica, now master, is followed.
	promoted := cl.Failover(t, cl.MasterOf(t, order[0]))
	writeOn(t, promoted, order[0], "after-failover")
	c.waitLast(t, StateEvent, `"after-failover"`)

	// A master killed: its replica takes over; what is written on it arrives, whether the
	// watcher followed it before the write (notification) or after (read again).
	took := cl.KillMaster(t, cl.MasterOf(t, order[1]))
	writeOn(t, took, order[1], "after-kill")
	c.waitLast(t, StateEvent, `"after-kill"`)
	write(order[2], "still-there")

	// Its links are to the masters, and to nothing else.
	redistest.WaitFor(t, redistest.ClusterTimeout, "links to the masters only", func() error {
		want := map[string]bool{}
		for _, m := range cl.Masters(t) {
			want[m.Addr()] = true
		}
		s.w.mu.Lock()
		defer s.w.mu.Unlock()
		if len(s.w.links) != len(want) {
			return fmt.Errorf("%d links for %d masters", len(s.w.links), len(want))
		}
		for addr := range s.w.links {
			if !want[addr] {
				return fmt.Errorf("a link to %s, not a master", addr)
			}
		}
		return nil
	})
	// And the watcher is ready: every master's link has its patterns confirmed.
	waitReady(t, s.w, true)
}

// Behind Sentinel the link follows the master: after a failover, changes on the new master
// arrive (and the new master, which had no notifications, is configured as allowed).
func TestSentinelFailover(t *testing.T) {
	sn := redistest.StartSentinel(t)
	conf := rules(stateRule("s:*"))
	conf.ConfigureRedis = true
	s := watching(t, redisconn.Conf{Addrs: sn.Addrs(), MasterName: redistest.SentinelMaster}, conf)
	rdb := sn.Client(t)
	key := redistest.Name("s:")
	c, _ := s.subscribe("", "key:"+key)
	c.waitN(t, 1)
	rdb.Set(ctx, key, "before", 0)
	c.waitLast(t, StateEvent, `"before"`)

	promoted := sn.Failover(t)
	writeOn(t, promoted, key, "after")
	c.waitLast(t, StateEvent, `"after"`)
	got := promoted.Client(t).ConfigGet(ctx, NotifySetting).Val()[NotifySetting]
	if missing := missingClasses(got, "Kgxe$h"); missing != "" {
		t.Fatalf("the new master's setting is %q, missing %q", got, missing)
	}
}

// writeOn writes straight to a node, so that the write does not wait for the test's
// Cluster client to learn the new topology.
func writeOn(t *testing.T, node *redistest.Server, key, value string) {
	t.Helper()
	redistest.WaitFor(t, redistest.ClusterTimeout, "a write on the new master", func() error {
		return node.Client(t).Set(ctx, key, value, 0).Err()
	})
}

// The embedded development Redis has no keyspace notifications: its command stream and its
// clock make them, so watching works with `go run .` as with a real Redis.
func TestEmbeddedRedisTellsOfChanges(t *testing.T) {
	conf := rules(stateRule("e:*"), streamRule("es:*"))
	conf.EmbeddedTick = 20 * time.Millisecond
	s := watching(t, redisconn.Conf{}, conf)
	rdb := s.w.rdb
	key, log := redistest.Name("e:"), redistest.Name("es:")
	c, _ := s.subscribe("", "key:"+key, "key:"+log)
	c.waitN(t, 1)
	c.waitLast(t, DeletedEvent, reason(ReasonAbsent))

	rdb.Set(ctx, key, `{"status":"pending"}`, 0)
	c.waitLast(t, StateEvent, `{"status":"pending"}`)

	// Told after EXEC, not when queued.
	_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, key, "in-multi", 0)
		p.HSet(ctx, "e:other", "a", "1")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c.waitLast(t, StateEvent, `"in-multi"`)

	// Written by a Lua script.
	if err := rdb.Eval(ctx, `redis.call('SET', KEYS[1], ARGV[1])`, []string{key}, "by-lua").Err(); err != nil && err != redis.Nil {
		t.Fatal(err)
	}
	c.waitLast(t, StateEvent, `"by-lua"`)

	rdb.Del(ctx, key)
	c.waitLast(t, DeletedEvent, reason(ReasonDeleted))

	// TTLs run, and expiry is told.
	rdb.Set(ctx, key, "short-lived", 150*time.Millisecond)
	c.waitLast(t, StateEvent, `"short-lived"`)
	c.waitLast(t, DeletedEvent, reason(ReasonExpired))

	// Streams too.
	id := xadd(t, rdb, log, 0, "event", "step", "data", "1")
	got := c.waitLast(t, "step", "1")
	if got[len(got)-1].id == "" || !containsID(got, id) {
		t.Fatalf("stream entry %s: %v", id, got)
	}
	for _, f := range got {
		if f.event == "reset" {
			t.Fatalf("a new stream came with a reset: %v", got)
		}
	}
}

func containsID(frames []frame, id string) bool {
	for _, f := range frames {
		if f.id == id || len(f.id) > len(id) && f.id[len(f.id)-len(id):] == id {
			return true
		}
	}
	return false
}
