package redistest

import (
	"context"
	"testing"
	"time"
)

func TestClusterFailovers(t *testing.T) {
	start := time.Now()
	c := StartCluster(t)
	t.Logf("cluster up in %s", time.Since(start))
	ctx := context.Background()
	rdb := c.Client(t)
	if n := len(c.Masters(t)); n != 3 {
		t.Fatalf("%d masters", n)
	}

	const key = "redistest:cluster:k"
	if err := rdb.Set(ctx, key, "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	owner := c.MasterOf(t, key)
	if v, err := owner.Do("get", key); err != nil || v != "1" {
		t.Fatalf("MasterOf(%q) = %s, which says %v %v", key, owner.Name, v, err)
	}

	// Coordinated failover: nothing is lost, the old master becomes the replica.
	start = time.Now()
	promoted := c.Failover(t, owner)
	t.Logf("CLUSTER FAILOVER in %s", time.Since(start))
	if promoted == owner || c.MasterOf(t, key) != promoted || c.ReplicaOf(t, promoted) != owner {
		t.Fatalf("after Failover: master %s, replica %s", c.MasterOf(t, key).Name, c.ReplicaOf(t, promoted).Name)
	}
	if v, err := rdb.Get(ctx, key).Result(); err != nil || v != "1" {
		t.Fatalf("after Failover: %q %v", v, err)
	}

	// Crash of the master: its replica takes over after the node timeout.
	start = time.Now()
	survivor := c.KillMaster(t, promoted)
	t.Logf("kill-based failover in %s", time.Since(start))
	if survivor != owner || c.MasterOf(t, key) != owner {
		t.Fatalf("after KillMaster: %s serves the key, want %s", c.MasterOf(t, key).Name, owner.Name)
	}
	// (A client that knew the dead node learns of the new master only when it reloads
	// the cluster's state; a new one asks a live node.)
	if err := c.Client(t).Set(ctx, key, "2", 0).Err(); err != nil {
		t.Fatalf("write after KillMaster: %v", err)
	}

	// The killed node comes back as a replica of the new master.
	promoted.Restart(t)
	c.WaitHealthy(t)
	if c.ReplicaOf(t, owner) != promoted {
		t.Fatalf("restarted %s is not %s's replica", promoted.Name, owner.Name)
	}
}
