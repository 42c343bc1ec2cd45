package faults

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/internal/testinstance"
	"github.com/sseapi/sse-api/publish"
)

// Events are published to each topic every publishEvery, through two instances in turn,
// and read by a multi-topic stream on each instance.
const publishEvery = 20 * time.Millisecond

// run is one fault run: two instances, a stream on each over topics, publishers.
type run struct {
	insts   []*instance
	topics  []string
	pubs    *publishers
	readers []*reader
}

func startRun(t *testing.T, c testinstance.Config, topics []string) *run {
	t.Helper()
	r := &run{insts: startInstances(t, 2, c), topics: topics}
	tok := token(t, "faults", []string{"f:*"}, []string{"f:*"})
	for _, inst := range r.insts {
		r.readers = append(r.readers, startReader(t, inst, tok, topics))
	}
	r.pubs = startPublishers(t, r.insts, tok, topics, publishEvery)
	r.pubs.waitAcked(t, 100)
	return r
}

func topicNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = redistest.Name("f:")
	}
	return out
}

// clusterTopics returns a topic served by each master of cl, the first one's master first.
func clusterTopics(t *testing.T, cl *redistest.Cluster) ([]string, []*redistest.Server) {
	t.Helper()
	byMaster := map[*redistest.Server]string{}
	var topics []string
	var masters []*redistest.Server
	for len(byMaster) < 3 {
		topic := redistest.Name("f:")
		m := cl.MasterOf(t, publish.StreamKey(topic))
		if _, ok := byMaster[m]; !ok {
			byMaster[m] = topic
			topics = append(topics, topic)
			masters = append(masters, m)
		}
	}
	return topics, masters
}

// check fails the test when a stream lost, repeated or reordered an event, and, unless
// redisMayLose, when Redis lost an acknowledged one.
func check(t *testing.T, c tally, redisMayLose bool) {
	t.Helper()
	if c.duplicated != 0 || c.disordered != 0 {
		t.Errorf("%d events duplicated, %d out of order", c.duplicated, c.disordered)
	}
	if c.keptLost != 0 {
		t.Errorf("%d events missing on a stream though Redis has them", c.keptLost)
	}
	if !redisMayLose && (c.lost != 0 || c.redisLost != 0) {
		t.Errorf("%d events lost on the streams, %d acknowledged events lost by Redis", c.lost, c.redisLost)
	}
}

// A Cluster master is failed over (CLUSTER FAILOVER, coordinated) while events are published
// to topics on every master.
func TestFaultClusterFailover(t *testing.T) {
	cl := redistest.StartCluster(t)
	topics, masters := clusterTopics(t, cl)
	r := startRun(t, testinstance.Config{RedisAddrs: strings.Join(cl.Addrs(), ", ")}, topics)
	fault := time.Now()
	cl.Failover(t, masters[0])
	took := time.Since(fault)
	r.pubs.waitAcked(t, 150)
	c := finish(t, r.pubs, r.readers, cl.Client(t), topics[:1])
	c.notes = fmt.Sprintf(" failover_took=%s", took.Round(time.Millisecond))
	t.Log(c.line("cluster-failover"))
	check(t, c, false)
}

// A Cluster master is killed (SIGKILL); its replica takes over after the node timeout.
// Writes the master acknowledged but had not replicated are lost by Redis: the streams may
// miss those, and nothing else.
func TestFaultClusterMasterKilled(t *testing.T) {
	cl := redistest.StartCluster(t)
	topics, masters := clusterTopics(t, cl)
	r := startRun(t, testinstance.Config{RedisAddrs: strings.Join(cl.Addrs(), ", ")}, topics)
	fault := time.Now()
	cl.KillMaster(t, masters[0])
	took := time.Since(fault)
	r.pubs.waitAcked(t, 150)
	c := finish(t, r.pubs, r.readers, cl.Client(t), topics[:1])
	c.notes = fmt.Sprintf(" failover_took=%s", took.Round(time.Millisecond))
	t.Log(c.line("cluster-master-kill"))
	check(t, c, true)
}

// SENTINEL FAILOVER while events are published; afterwards the limits count on the new
// master and QR sessions are created.
func TestFaultSentinelFailover(t *testing.T) {
	s := redistest.StartSentinel(t)
	topics := topicNames(3)
	r := startRun(t, testinstance.Config{
		QRCreatePerMinute: 4,
		Extra: "TrustedProxies: [127.0.0.1]\nRedis:\n  Addrs: [" + strings.Join(s.Addrs(), ", ") + "]\n" +
			"  MasterName: " + redistest.SentinelMaster,
	}, topics)
	fault := time.Now()
	s.Failover(t)
	took := time.Since(fault)
	r.pubs.waitAcked(t, 150)

	ip := fmt.Sprintf("198.51.100.%d", time.Now().UnixNano()%250+1)
	var statuses []int
	for i := range 5 {
		req, _ := http.NewRequest(http.MethodPost, r.insts[i%2].Base+"/v1/qr/sessions", nil)
		req.Header.Set("X-Forwarded-For", ip)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
	}
	if fmt.Sprint(statuses) != "[201 201 201 201 429]" {
		t.Errorf("QR creations after the failover answered %v, want four 201 then 429", statuses)
	}

	c := finish(t, r.pubs, r.readers, s.Client(t), topics)
	c.notes = fmt.Sprintf(" failover_took=%s", took.Round(time.Millisecond))
	t.Log(c.line("sentinel-failover"))
	check(t, c, false)
}

// The Redis server is killed and restarted on its data (AOF, fsync always): readiness goes
// down during the outage and up after it; streams stay open, and what was acknowledged
// before, and published after, arrives.
func TestFaultRedisRestart(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{AOF: true, Fsync: "always"})
	topics := topicNames(3)
	r := startRun(t, testinstance.Config{RedisAddr: srv.Addr()}, topics)
	waitReady(t, r.insts, true, 5*time.Second)
	fault := time.Now()
	srv.Kill(t)
	downAfter := waitReady(t, r.insts, false, 10*time.Second)
	const outage = time.Second
	time.Sleep(outage - min(outage, time.Since(fault))) // keep Redis down a while
	srv.Restart(t)
	back := time.Now()
	upAfter := waitReady(t, r.insts, true, 20*time.Second)
	r.pubs.waitAcked(t, 150)
	c := finish(t, r.pubs, r.readers, srv.Client(t), topics)
	c.notes = fmt.Sprintf(" outage=%s not_ready_after=%s ready_after_restart=%s",
		back.Sub(fault).Round(time.Millisecond), downAfter.Round(time.Millisecond), upAfter.Round(time.Millisecond))
	t.Log(c.line("redis-restart-aof"))
	check(t, c, false)
}

// Redis drops the pub/sub connections (CLIENT KILL TYPE pubsub), as a proxy or a server
// closing idle or overflowing clients would: the instances reconnect and read the gap.
func TestFaultPubSubKilled(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{})
	topics := topicNames(3)
	r := startRun(t, testinstance.Config{RedisAddr: srv.Addr()}, topics)
	killed, err := srv.Do("client", "kill", "type", "pubsub")
	// Each instance has its hub's link and its control channel (internal/revoke).
	if err != nil || killed.(int64) != 4 {
		t.Fatalf("CLIENT KILL TYPE pubsub: %v %v, want the two instances' links and control channels", killed, err)
	}
	r.pubs.waitAcked(t, 150)
	c := finish(t, r.pubs, r.readers, srv.Client(t), topics)
	t.Log(c.line("pubsub-link-killed"))
	check(t, c, false)
}
