package redistest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the master name StartSentinel's sentinels monitor.
const SentinelMaster = "redistest"

// SentinelTimeout bounds every wait of the Sentinel helpers (start, failover).
const SentinelTimeout = 20 * time.Second

// Sentinel is one master, one replica and three sentinels (quorum 2) watching them.
type Sentinel struct {
	Data      []*Server // the master and the replica, in start order
	Sentinels []*Server
}

// StartSentinel starts a master, its replica and three sentinels, each sentinel with its
// own config file (they rewrite it), and waits until every sentinel knows the master and
// the replica in sync. Everything is stopped when t ends.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	s := &Sentinel{}
	master := newServer(t, "master", "", nil)
	master.args = func(port int) []string { return append(baseArgs(master.Dir), "--port", strconv.Itoa(port)) }
	master.startFresh(t, nil)
	replica := newServer(t, "replica", "", nil)
	replica.args = func(port int) []string {
		return append(baseArgs(replica.Dir), "--port", strconv.Itoa(port),
			"--replicaof", "127.0.0.1", strconv.Itoa(master.Port))
	}
	replica.startFresh(t, nil)
	s.Data = []*Server{master, replica}

	for i := range 3 {
		sn := newServer(t, "sentinel-"+strconv.Itoa(i), "", nil)
		conf := filepath.Join(sn.Dir, "sentinel.conf")
		sn.args = func(port int) []string {
			return []string{conf, "--sentinel", "--port", strconv.Itoa(port)}
		}
		body := fmt.Sprintf("bind 127.0.0.1\ndir %s\n"+
			"sentinel monitor %[2]s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %[2]s 2000\n"+
			"sentinel failover-timeout %[2]s 5000\n", sn.Dir, SentinelMaster, master.Port)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			t.Fatalf("redistest: %v", err)
		}
		sn.startFresh(t, nil)
		s.Sentinels = append(s.Sentinels, sn)
	}
	WaitFor(t, SentinelTimeout, "sentinels ready", func() error { return s.ready(master, replica) })
	return s
}

// Addrs are the sentinels' addresses.
func (s *Sentinel) Addrs() []string {
	addrs := make([]string, len(s.Sentinels))
	for i, n := range s.Sentinels {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Client returns a client that asks the sentinels for the master (go-redis's failover
// client), closed when t ends.
func (s *Sentinel) Client(t testing.TB) *redis.Client {
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: SentinelMaster, SentinelAddrs: s.Addrs()})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// Master returns the data node the first sentinel names as master.
func (s *Sentinel) Master(t testing.TB) *Server {
	t.Helper()
	addr, err := s.masterAddr(s.Sentinels[0])
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	for _, d := range s.Data {
		if d.Addr() == addr {
			return d
		}
	}
	t.Fatalf("redistest: the sentinels name %s, which is none of ours", addr)
	return nil
}

// Failover switches the master gracefully, so that no write it acknowledged is lost: it
// waits until the replica has every write the master took so far, pauses writes on the
// master (CLIENT PAUSE WRITE: writers wait, as with Redis's own FAILOVER command) and waits
// for the replica to have the last of them, asks a sentinel to fail over (SENTINEL
// FAILOVER), waits until every sentinel names the replica as master and it says so itself,
// and returns it. The old master is then made the new master's replica at once (the
// sentinels would do it themselves, but only about ten seconds later) and let go: writes
// that waited on it are refused (READONLY), never acknowledged and then dropped by the
// resynchronisation. Failover returns when the old master is in sync. The sentinels learn
// of it within about ten seconds (their INFO period): a second Failover waits for that.
//
// Without the pause, the old master would take and acknowledge writes until it is told to
// replicate, and lose them then: a sentinel promotes the replica without telling the old
// master to stop.
func (s *Sentinel) Failover(t testing.TB) *Server {
	t.Helper()
	old := s.Master(t)
	next := s.Data[0]
	if next == old {
		next = s.Data[1]
	}
	if err := replicated(old); err != nil {
		t.Fatalf("redistest: before the failover: %v", err)
	}
	if _, err := old.Do("client", "pause", SentinelTimeout.Milliseconds(), "write"); err != nil {
		t.Fatalf("redistest: CLIENT PAUSE on %s: %v", old.Name, err)
	}
	WaitFor(t, SentinelTimeout, next.Name+" has every write of "+old.Name, func() error { return caughtUp(old) })
	WaitFor(t, SentinelTimeout, "SENTINEL FAILOVER accepted", func() error {
		// NOGOODSLAVE while a sentinel has no fresh word of the replica: ask again.
		_, err := s.Sentinels[0].Do("sentinel", "failover", SentinelMaster)
		return err
	})
	WaitFor(t, SentinelTimeout, "failover to "+next.Name+" confirmed", func() error {
		for _, sn := range s.Sentinels {
			addr, err := s.masterAddr(sn)
			if err != nil {
				return err
			}
			if addr != next.Addr() {
				return fmt.Errorf("%s still names %s", sn.Name, addr)
			}
		}
		return isRole(next, "master")
	})
	if old.Running() {
		if _, err := old.Do("replicaof", "127.0.0.1", strconv.Itoa(next.Port)); err != nil {
			t.Fatalf("redistest: REPLICAOF on %s: %v", old.Name, err)
		}
		if _, err := old.Do("client", "unpause"); err != nil {
			t.Fatalf("redistest: CLIENT UNPAUSE on %s: %v", old.Name, err)
		}
		WaitFor(t, SentinelTimeout, old.Name+" replicating "+next.Name, func() error { return isRole(old, "slave") })
	}
	return next
}

// caughtUp checks that master's replica acknowledged master's whole replication stream
// (INFO replication: the replica's offset equals master_repl_offset). Replicas acknowledge
// once a second; WAIT would ask them at once, but only for its own connection's writes.
func caughtUp(master *Server) error {
	out, err := master.Do("info", "replication")
	if err != nil {
		return fmt.Errorf("%s: %w", master.Name, err)
	}
	var own, acked string
	for _, line := range strings.Split(out.(string), "\r\n") {
		if v, ok := strings.CutPrefix(line, "master_repl_offset:"); ok {
			own = v
		}
		if v, ok := strings.CutPrefix(line, "slave0:"); ok {
			for _, kv := range strings.Split(v, ",") {
				if o, ok := strings.CutPrefix(kv, "offset="); ok {
					acked = o
				}
			}
		}
	}
	if own == "" || own != acked {
		return fmt.Errorf("%s: replica at offset %q of %q", master.Name, acked, own)
	}
	return nil
}

// replicated returns once master's replica has acknowledged everything master wrote: a
// fence written on one connection, then WAIT on it (which covers every earlier write,
// the replication stream being ordered).
func replicated(master *Server) error {
	c := master.newClient(5 * time.Second)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	pipe := c.Pipeline()
	pipe.Publish(ctx, "__redistest:fence", "x") // replicated, though it stores nothing
	acks := pipe.Do(ctx, "wait", 1, 5000)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("WAIT on %s: %w", master.Name, err)
	}
	if n, _ := acks.Int(); n < 1 {
		return fmt.Errorf("the replica of %s did not acknowledge its writes within 5 s", master.Name)
	}
	return nil
}

// ready checks that every sentinel names master and lists replica as a healthy replica,
// and that the replica is in sync.
func (s *Sentinel) ready(master, replica *Server) error {
	if err := isRole(replica, "slave"); err != nil {
		return err
	}
	for _, sn := range s.Sentinels {
		addr, err := s.masterAddr(sn)
		if err != nil {
			return err
		}
		if addr != master.Addr() {
			return fmt.Errorf("%s names %s as master", sn.Name, addr)
		}
		out, err := sn.Do("sentinel", "replicas", SentinelMaster)
		if err != nil {
			return fmt.Errorf("%s: %w", sn.Name, err)
		}
		healthy := false
		for _, r := range out.([]any) {
			f := fields(r)
			if f["name"] == replica.Addr() && f["flags"] == "slave" && f["master-link-status"] == "ok" &&
				f["master-port"] == strconv.Itoa(master.Port) {
				healthy = true
			}
		}
		if !healthy {
			return fmt.Errorf("%s does not list %s as a healthy replica of %s", sn.Name, replica.Name, master.Name)
		}
	}
	return nil
}

func (s *Sentinel) masterAddr(sn *Server) (string, error) {
	out, err := sn.Do("sentinel", "get-master-addr-by-name", SentinelMaster)
	if err != nil {
		return "", fmt.Errorf("%s: %w", sn.Name, err)
	}
	hp, ok := out.([]any)
	if !ok || len(hp) != 2 {
		return "", fmt.Errorf("%s: master address %v", sn.Name, out)
	}
	return fmt.Sprintf("%v:%v", hp[0], hp[1]), nil
}

// isRole checks ROLE of s, and for a replica that its link to the master is up.
func isRole(s *Server, role string) error {
	out, err := s.Do("role")
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	r := out.([]any)
	if r[0] != role {
		return fmt.Errorf("%s is a %v", s.Name, r[0])
	}
	if role == "slave" && r[3] != "connected" {
		return fmt.Errorf("%s: replication %v", s.Name, r[3])
	}
	return nil
}

// fields reads a flat [k1 v1 k2 v2 ...] reply (RESP2) or a map (RESP3).
func fields(reply any) map[string]string {
	out := map[string]string{}
	switch r := reply.(type) {
	case []any:
		for i := 0; i+1 < len(r); i += 2 {
			out[fmt.Sprint(r[i])] = fmt.Sprint(r[i+1])
		}
	case map[any]any:
		for k, v := range r {
			out[fmt.Sprint(k)] = fmt.Sprint(v)
		}
	}
	return out
}
