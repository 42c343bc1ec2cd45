package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterNodeTimeout is the cluster-node-timeout of StartCluster's nodes: a killed master is
// replaced by its replica about two of these later.
const ClusterNodeTimeout = 1000 * time.Millisecond

// ClusterTimeout bounds every wait of the Cluster helpers (forming, failing over).
const ClusterTimeout = 20 * time.Second

// Cluster is a Redis Cluster of three masters with one replica each, on loopback ports.
type Cluster struct {
	Nodes []*Server
	ids   map[string]*Server // node id -> node
}

// StartCluster starts six nodes, joins them with redis-cli --cluster create (three masters,
// one replica each) and waits until every node reports cluster_state:ok and every replica
// is in sync. Everything is stopped when t ends.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{ids: map[string]*Server{}}
	for i := range 6 {
		s := newServer(t, "node-"+strconv.Itoa(i), "", nil)
		var bus int
		s.args = func(port int) []string {
			return append(baseArgs(s.Dir), "--port", strconv.Itoa(port),
				"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
				"--cluster-port", strconv.Itoa(bus),
				"--cluster-node-timeout", strconv.Itoa(int(ClusterNodeTimeout/time.Millisecond)))
		}
		s.startFresh(t, &bus)
		c.Nodes = append(c.Nodes, s)
	}
	args := []string{"--cluster", "create"}
	for _, n := range c.Nodes {
		args = append(args, n.Addr())
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), ClusterTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range c.Nodes {
		id, err := n.Do("cluster", "myid")
		if err != nil {
			t.Fatalf("redistest: %s: CLUSTER MYID: %v", n.Name, err)
		}
		c.ids[id.(string)] = n
	}
	c.WaitHealthy(t)
	return c
}

// Addrs are the addresses of all nodes, as a client's seed list.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Client returns a Cluster client seeded with every node, closed when t ends.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	id, master string
	flags      []string
	slots      [][2]int
}

func (n clusterNode) is(flag string) bool {
	for _, f := range n.flags {
		if f == flag {
			return true
		}
	}
	return false
}

// view is what node s says of the cluster (CLUSTER NODES).
func (c *Cluster) view(s *Server) (map[string]clusterNode, error) {
	out, err := s.Do("cluster", "nodes")
	if err != nil {
		return nil, err
	}
	nodes := map[string]clusterNode{}
	for _, line := range strings.Split(strings.TrimSpace(out.(string)), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("CLUSTER NODES line %q", line)
		}
		n := clusterNode{id: f[0], flags: strings.Split(f[2], ","), master: f[3]}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") { // a slot being migrated
				continue
			}
			lo, hi, found := strings.Cut(r, "-")
			if !found {
				hi = lo
			}
			a, _ := strconv.Atoi(lo)
			b, _ := strconv.Atoi(hi)
			n.slots = append(n.slots, [2]int{a, b})
		}
		nodes[n.id] = n
	}
	return nodes, nil
}

// healthy checks what every running node says: cluster_state:ok with all 16384 slots
// served by three masters, every running node seen by every other with the role (and
// master) it has itself and not failing, and every replica's link up.
func (c *Cluster) healthy() error {
	views := map[*Server]map[string]clusterNode{}
	self := map[string]clusterNode{} // each running node as it sees itself
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		info, err := n.Do("cluster", "info")
		if err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
		if s := info.(string); !strings.Contains(s, "cluster_state:ok") || !strings.Contains(s, "cluster_slots_ok:16384") {
			return fmt.Errorf("%s: not ok: %s", n.Name, firstLines(s, 3))
		}
		if views[n], err = c.view(n); err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
		for id, v := range views[n] {
			if v.is("myself") {
				self[id] = v
			}
		}
		role, err := n.Do("role")
		if err != nil {
			return fmt.Errorf("%s: ROLE: %w", n.Name, err)
		}
		if r := role.([]any); r[0] == "slave" && r[3] != "connected" {
			return fmt.Errorf("%s: replica link %v", n.Name, r[3])
		}
	}
	var masters []string
	for n, view := range views {
		var seen []string
		for id, v := range view {
			if v.is("master") && len(v.slots) > 0 {
				seen = append(seen, id)
			}
			me, running := self[id]
			if !running {
				continue
			}
			if v.is("fail") || v.is("fail?") {
				return fmt.Errorf("%s sees running %s as failing", n.Name, c.ids[id].Name)
			}
			if v.is("master") != me.is("master") || v.master != me.master {
				return fmt.Errorf("%s does not see %s's new role yet", n.Name, c.ids[id].Name)
			}
		}
		if len(seen) != 3 {
			return fmt.Errorf("%s sees %d masters with slots", n.Name, len(seen))
		}
		if masters == nil {
			masters = seen
		} else if !sameSet(masters, seen) {
			return fmt.Errorf("nodes disagree on the masters: %v, %v", masters, seen)
		}
	}
	return nil
}

// WaitHealthy waits, at most ClusterTimeout, until every running node says the cluster is
// ok, they agree on its three masters, no running node is seen failing, and every replica
// is connected to its master.
func (c *Cluster) WaitHealthy(t testing.TB) {
	t.Helper()
	WaitFor(t, ClusterTimeout, "cluster healthy", c.healthy)
}

// Masters returns the nodes that serve slots, as the first running node sees it.
func (c *Cluster) Masters(t testing.TB) []*Server {
	t.Helper()
	var out []*Server
	for id, n := range c.mustView(t) {
		if n.is("master") && len(n.slots) > 0 {
			out = append(out, c.ids[id])
		}
	}
	return out
}

// MasterOf returns the node that serves key's slot now.
func (c *Cluster) MasterOf(t testing.TB, key string) *Server {
	t.Helper()
	slot, err := c.anyRunning(t).Do("cluster", "keyslot", key)
	if err != nil {
		t.Fatalf("redistest: CLUSTER KEYSLOT: %v", err)
	}
	for id, n := range c.mustView(t) {
		if !n.is("master") {
			continue
		}
		for _, r := range n.slots {
			if s := int(slot.(int64)); r[0] <= s && s <= r[1] {
				return c.ids[id]
			}
		}
	}
	t.Fatalf("redistest: nobody serves slot %v of %q", slot, key)
	return nil
}

// ReplicaOf returns master's replica.
func (c *Cluster) ReplicaOf(t testing.TB, master *Server) *Server {
	t.Helper()
	for id, n := range c.mustView(t) {
		if n.is("slave") && c.ids[n.master] == master {
			return c.ids[id]
		}
	}
	t.Fatalf("redistest: %s has no replica", master.Name)
	return nil
}

// Failover promotes master's replica with CLUSTER FAILOVER (a coordinated, lossless
// switch), waits until the cluster is healthy with it as master, and returns it.
func (c *Cluster) Failover(t testing.TB, master *Server) *Server {
	t.Helper()
	replica := c.ReplicaOf(t, master)
	// A manual failover that loses its election (votes late on a busy machine) is
	// abandoned after 5 s; ask again then.
	WaitFor(t, ClusterTimeout, "CLUSTER FAILOVER on "+replica.Name, func() error {
		if _, err := replica.Do("cluster", "failover"); err != nil {
			return err
		}
		return poll(6*time.Second, func() error { return isRole(replica, "master") })
	})
	c.waitPromoted(t, replica, master)
	return replica
}

// KillMaster SIGKILLs master, waits until its replica has taken over (after about twice
// ClusterNodeTimeout) and the cluster is ok again, and returns the new master. Writes the
// old master acknowledged but had not yet replicated are lost, as in production. Restart
// the old node to have it rejoin as a replica.
func (c *Cluster) KillMaster(t testing.TB, master *Server) *Server {
	t.Helper()
	replica := c.ReplicaOf(t, master)
	master.Kill(t)
	c.waitPromoted(t, replica, master)
	return replica
}

func (c *Cluster) waitPromoted(t testing.TB, replica, old *Server) {
	t.Helper()
	WaitFor(t, ClusterTimeout, replica.Name+" replacing "+old.Name, func() error {
		for _, n := range c.Nodes {
			if !n.Running() {
				continue
			}
			view, err := c.view(n)
			if err != nil {
				return err
			}
			for id, v := range view {
				if c.ids[id] == replica && !v.is("master") {
					return fmt.Errorf("%s does not see %s as master yet", n.Name, replica.Name)
				}
				if c.ids[id] == old && old.Running() && c.ids[v.master] != replica {
					return fmt.Errorf("%s does not see %s as %s's replica yet", n.Name, old.Name, replica.Name)
				}
			}
		}
		return c.healthy()
	})
}

func (c *Cluster) anyRunning(t testing.TB) *Server {
	t.Helper()
	for _, n := range c.Nodes {
		if n.Running() {
			return n
		}
	}
	t.Fatal("redistest: no cluster node is running")
	return nil
}

func (c *Cluster) mustView(t testing.TB) map[string]clusterNode {
	t.Helper()
	n := c.anyRunning(t)
	v, err := c.view(n)
	if err != nil {
		t.Fatalf("redistest: CLUSTER NODES on %s: %v", n.Name, err)
	}
	return v
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	in := map[string]bool{}
	for _, x := range a {
		in[x] = true
	}
	for _, x := range b {
		if !in[x] {
			return false
		}
	}
	return true
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " ")
}
