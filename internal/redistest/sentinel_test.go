package redistest

import (
	"context"
	"testing"
	"time"
)

func TestSentinelFailover(t *testing.T) {
	start := time.Now()
	s := StartSentinel(t)
	t.Logf("sentinel up in %s", time.Since(start))
	ctx := context.Background()
	rdb := s.Client(t)
	first := s.Master(t)
	if first != s.Data[0] {
		t.Fatalf("master is %s", first.Name)
	}
	if err := rdb.Set(ctx, "redistest:sentinel:k", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}

	start = time.Now()
	next := s.Failover(t)
	t.Logf("SENTINEL FAILOVER in %s", time.Since(start))
	if next != s.Data[1] || s.Master(t) != next {
		t.Fatalf("after Failover the master is %s", s.Master(t).Name)
	}
	if err := isRole(first, "slave"); err != nil {
		t.Fatalf("old master: %v", err)
	}
	if v, err := next.Do("get", "redistest:sentinel:k"); err != nil || v != "1" {
		t.Fatalf("new master has %v %v", v, err)
	}
	// A client asking the sentinels writes to the new master.
	WaitFor(t, 5*time.Second, "write through the sentinels", func() error {
		return rdb.Set(ctx, "redistest:sentinel:k", "2", 0).Err()
	})
	if v, err := next.Do("get", "redistest:sentinel:k"); err != nil || v != "2" {
		t.Fatalf("new master has %v %v", v, err)
	}
}
