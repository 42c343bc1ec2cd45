package broker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/redisconn"
	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/publish"
)

// connect opens a client the way the service does (redisconn), closed when t ends.
func connect(t *testing.T, c redisconn.Conf) redis.UniversalClient {
	t.Helper()
	conn, err := redisconn.Connect(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn.Client
}

// topicsPerMaster returns n topic names for each master of cl, by the master serving them.
func topicsPerMaster(t *testing.T, cl *redistest.Cluster, n int) map[*redistest.Server][]string {
	t.Helper()
	out := map[*redistest.Server][]string{}
	for len(out) < 3 || !full(out, n) {
		topic := redistest.Name("cl")
		m := cl.MasterOf(t, publish.StreamKey(topic))
		if len(out[m]) < n {
			out[m] = append(out[m], topic)
		}
	}
	return out
}

func full(m map[*redistest.Server][]string, n int) bool {
	for _, ts := range m {
		if len(ts) < n {
			return false
		}
	}
	return true
}

// shardSubscribers counts the connections of a node subscribed to shard channels, and
// those subscribed to classic ones.
func shardSubscribers(t *testing.T, n *redistest.Server) (sharded, classic int) {
	t.Helper()
	list, err := n.Do("client", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(list.(string), "\n") {
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "ssub="); ok && v != "0" {
				sharded++
			}
			if v, ok := strings.CutPrefix(f, "sub="); ok && v != "0" {
				classic++
			}
		}
	}
	return sharded, classic
}

func waitLinkUp(t *testing.T, h *Hub, want bool, within time.Duration) {
	t.Helper()
	redistest.WaitFor(t, within, fmt.Sprintf("LinkUp() == %v", want), func() error {
		if h.LinkUp() != want {
			return fmt.Errorf("LinkUp() = %v", !want)
		}
		return nil
	})
}

// In a Cluster, a topic's announcement goes to the shard serving it (SPUBLISH), and the hub
// holds one connection per master it needs, subscribed with SSUBSCRIBE.
func TestClusterHubUsesShardedPubSub(t *testing.T) {
	cl := redistest.StartCluster(t)
	rdb := connect(t, redisconn.Conf{Addrs: cl.Addrs()})
	h := startHub(t, rdb, Options{})
	p := publish.New(rdb, publish.Options{})
	byMaster := topicsPerMaster(t, cl, 2)
	recorders := map[string]*recorder{}
	for _, topics := range byMaster {
		for _, topic := range topics {
			_, recorders[topic], _, _ = subscribe(t, h, []string{topic}, "")
		}
	}
	waitLinkUp(t, h, true, 5*time.Second)
	for topic := range recorders {
		publishN(t, p, topic, 0, 10)
	}
	for _, w := range recorders {
		assertSequence(t, waitFrames(t, w, 10), 0, 10)
	}
	for m := range byMaster {
		if s, c := shardSubscribers(t, m); s != 1 || c != 0 {
			t.Errorf("%s: %d shard and %d classic subscribers, want 1 and 0", m.Name, s, c)
		}
		stats, err := m.Do("info", "commandstats")
		if err != nil {
			t.Fatal(err)
		}
		if s := stats.(string); !strings.Contains(s, "cmdstat_spublish:calls=20,") || strings.Contains(s, "cmdstat_publish:") {
			t.Errorf("%s: announcements are not 20 SPUBLISH only:\n%s", m.Name, s)
		}
	}
}

// clusterRun publishes to topics on every master from a goroutine per topic, while the test
// fails masters over, and checks at the end that each subscriber received exactly what its
// topic's stream holds, in order.
type clusterRun struct {
	t      *testing.T
	p      *publish.Publisher
	rdb    redis.UniversalClient
	topics []string
	ws     map[string]*recorder
	stop   chan struct{}
	wg     sync.WaitGroup

	mu    sync.Mutex
	acked map[string][]string // topic -> data of each acknowledged event
	fails int
}

func startClusterRun(t *testing.T, rdb redis.UniversalClient, h *Hub, topics []string) *clusterRun {
	r := &clusterRun{
		t: t, p: publish.New(rdb, publish.Options{}), rdb: rdb, topics: topics,
		ws: map[string]*recorder{}, stop: make(chan struct{}), acked: map[string][]string{},
	}
	for _, topic := range topics {
		_, r.ws[topic], _, _ = subscribe(t, h, []string{topic}, "")
	}
	for _, topic := range topics {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-r.stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err := r.p.Publish(ctx, topic, "", []byte(strconv.Itoa(i)))
				cancel()
				r.mu.Lock()
				if err != nil {
					r.fails++
				} else {
					r.acked[topic] = append(r.acked[topic], strconv.Itoa(i))
				}
				r.mu.Unlock()
			}
		}()
	}
	return r
}

// ackedNow is how many events were acknowledged so far.
func (r *clusterRun) ackedNow() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, a := range r.acked {
		n += len(a)
	}
	return n
}

// waitAcked waits until n more events were acknowledged.
func (r *clusterRun) waitAcked(n int) {
	r.t.Helper()
	want := r.ackedNow() + n
	redistest.WaitFor(r.t, 20*time.Second, fmt.Sprintf("%d events acknowledged", want), func() error {
		if got := r.ackedNow(); got < want {
			return fmt.Errorf("%d acknowledged", got)
		}
		return nil
	})
}

// lostNow counts the events acknowledged so far that are in no stream.
func (r *clusterRun) lostNow() int {
	r.mu.Lock()
	acked := map[string][]string{}
	for topic, a := range r.acked {
		acked[topic] = append([]string(nil), a...)
	}
	r.mu.Unlock()
	lost := 0
	for topic, a := range acked {
		entries, err := r.rdb.XRange(context.Background(), publish.StreamKey(topic), "-", "+").Result()
		if err != nil {
			r.t.Fatal(err)
		}
		stored := map[string]bool{}
		for _, e := range entries {
			stored[e.Values["d"].(string)] = true
		}
		for _, d := range a {
			if !stored[d] {
				lost++
			}
		}
	}
	return lost
}

// finish stops publishing and checks every subscriber; it returns how many acknowledged
// events Redis lost (in no stream).
func (r *clusterRun) finish() (acked, lost int) {
	t := r.t
	t.Helper()
	close(r.stop)
	r.wg.Wait()
	for _, topic := range r.topics {
		entries, err := r.rdb.XRange(context.Background(), publish.StreamKey(topic), "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		stored := map[string]bool{}
		for _, e := range entries {
			stored[e.Values["d"].(string)] = true
		}
		frames := waitFrames(t, r.ws[topic], len(entries))
		if len(frames) != len(entries) {
			t.Errorf("%s: %d events delivered, %d stored", topic, len(frames), len(entries))
		}
		for i, f := range frames {
			if i < len(entries) && (f.id != entries[i].ID || f.data != entries[i].Values["d"]) {
				t.Errorf("%s: event %d is %s %s, the stream has %s %v", topic, i, f.id, f.data, entries[i].ID, entries[i].Values["d"])
				break
			}
		}
		for _, d := range r.acked[topic] {
			acked++
			if !stored[d] {
				lost++
			}
		}
	}
	return acked, lost
}

// A coordinated failover (CLUSTER FAILOVER) and a crash of a master, while events are
// published to topics on every master: each subscriber receives exactly what its topic's
// stream holds, in order; the failover loses no acknowledged event.
func TestClusterHubFollowsFailoverAndCrash(t *testing.T) {
	cl := redistest.StartCluster(t)
	rdb := connect(t, redisconn.Conf{Addrs: cl.Addrs()})
	h := startHub(t, rdb, Options{PingInterval: 200 * time.Millisecond})
	byMaster := topicsPerMaster(t, cl, 2)
	var topics []string
	for _, ts := range byMaster {
		topics = append(topics, ts...)
	}
	run := startClusterRun(t, rdb, h, topics)
	run.waitAcked(60)

	masters := cl.Masters(t)
	promoted := cl.Failover(t, masters[0])
	waitLinkUp(t, h, true, 10*time.Second)
	run.waitAcked(60)
	// The hub moves its shard subscription once it learns the new slot map, which under
	// load may come after the first deliveries through the demoted node's forwarding.
	redistest.WaitFor(t, 10*time.Second, "shard subscription on the promoted master only", func() error {
		if s, _ := shardSubscribers(t, promoted); s != 1 {
			return fmt.Errorf("promoted %s has %d shard subscribers, want 1", promoted.Name, s)
		}
		if s, _ := shardSubscribers(t, masters[0]); s != 0 {
			return fmt.Errorf("demoted %s has %d shard subscribers, want 0", masters[0].Name, s)
		}
		return nil
	})
	if lost := run.lostNow(); lost != 0 {
		t.Fatalf("%d acknowledged events lost by the failover", lost)
	}

	cl.KillMaster(t, masters[1])
	waitLinkUp(t, h, true, 10*time.Second)
	run.waitAcked(60)
	acked, lost := run.finish()
	t.Logf("%d events acknowledged, %d of them lost by Redis (the crash), %d publishes failed", acked, lost, run.fails)
}

// LinkUp is false while Redis is down or hangs, and true again once every subscription is
// confirmed on the new connection; what was published meanwhile is delivered.
func TestLinkUpFollowsTheServer(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{AOF: true, Fsync: "always"})
	rdb := connect(t, redisconn.Conf{Addr: srv.Addr()})
	h := startHub(t, rdb, Options{PingInterval: 100 * time.Millisecond})
	waitLinkUp(t, h, true, 5*time.Second) // before any topic, too
	topic := redistest.Name("linkup")
	_, w, _, _ := subscribe(t, h, []string{topic}, "")
	p := publish.New(rdb, publish.Options{})
	publishN(t, p, topic, 0, 3)
	waitFrames(t, w, 3)

	srv.Kill(t)
	waitLinkUp(t, h, false, 2*time.Second)
	srv.Restart(t)
	waitLinkUp(t, h, true, 5*time.Second)
	publishN(t, p, topic, 3, 6)
	assertSequence(t, waitFrames(t, w, 6), 0, 6)

	// A server that hangs keeps the connection open: the pings tell.
	srv.Pause(t)
	waitLinkUp(t, h, false, 2*time.Second)
	srv.Resume(t)
	waitLinkUp(t, h, true, 5*time.Second)
	publishN(t, p, topic, 6, 8)
	assertSequence(t, waitFrames(t, w, 8), 0, 8)
}

// A Sentinel failover while events are published: every acknowledged event is kept (the
// failover waits for the replica) and each subscriber receives exactly its topic's stream.
func TestSentinelHubFollowsFailover(t *testing.T) {
	s := redistest.StartSentinel(t)
	rdb := connect(t, redisconn.Conf{Addrs: s.Addrs(), MasterName: redistest.SentinelMaster})
	h := startHub(t, rdb, Options{PingInterval: 200 * time.Millisecond})
	topics := []string{redistest.Name("sn"), redistest.Name("sn"), redistest.Name("sn")}
	run := startClusterRun(t, rdb, h, topics)
	run.waitAcked(60)
	s.Failover(t)
	run.waitAcked(60)
	waitLinkUp(t, h, true, 10*time.Second)
	acked, lost := run.finish()
	t.Logf("%d events acknowledged, %d lost, %d publishes failed", acked, lost, run.fails)
	if lost != 0 {
		t.Errorf("%d acknowledged events lost", lost)
	}
}
