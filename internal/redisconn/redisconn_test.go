package redisconn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/zeromicro/go-zero/core/conf"
)

func TestEmbeddedWhenNoAddress(t *testing.T) {
	c, err := Connect(Conf{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Embedded || c.Client.Ping(context.Background()).Err() != nil {
		t.Fatalf("embedded conn %+v", c)
	}
}

func TestStandalone(t *testing.T) {
	addr := redistest.Addr(t)
	c, err := Connect(Conf{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Embedded || c.Cluster {
		t.Fatalf("conn %+v", c)
	}
	if _, err := Connect(Conf{Addr: "127.0.0.1:1"}); err == nil || !Unavailable(err) {
		t.Fatalf("a dead address: %v", err)
	}
}

func TestDBPasswordAndPoolSize(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{Password: "s3cret"})
	if _, err := Connect(Conf{Addr: srv.Addr()}); err == nil || Unavailable(err) {
		t.Fatalf("no password: %v (a configuration error, not unavailability)", err)
	}
	c, err := Connect(Conf{Addr: srv.Addr(), Password: "s3cret", DB: 3, PoolSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Client.Set(ctx, "k", "in db 3", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := srv.Do("get", "k"); !errors.Is(err, redis.Nil) {
		t.Fatalf("db 0 has %v %v", v, err)
	}
	if v, err := c.Client.Do(ctx, "client", "info").Text(); err != nil || !strings.Contains(v, " db=3 ") {
		t.Fatalf("CLIENT INFO: %q %v", v, err)
	}
	if n := c.Client.(*redis.Client).Options().PoolSize; n != 7 {
		t.Fatalf("pool size %d", n)
	}
}

func TestConfFromYAML(t *testing.T) {
	var c Conf
	if err := conf.LoadFromYamlBytes([]byte("Addr: 127.0.0.1:6379\n"), &c); err != nil {
		t.Fatal(err)
	}
	if c.Timeout != time.Second || c.TLS.Enabled || c.PoolSize != 0 {
		t.Fatalf("defaults: %+v", c)
	}
	c = Conf{}
	yaml := "Addrs: [a:1, b:2]\nMasterName: m\nSentinelPassword: p\nTimeout: 250ms\nPoolSize: 50\n" +
		"TLS:\n  Enabled: true\n  ServerName: redis.internal\n"
	if err := conf.LoadFromYamlBytes([]byte(yaml), &c); err != nil {
		t.Fatal(err)
	}
	if c.Timeout != 250*time.Millisecond || !c.TLS.Enabled || c.TLS.ServerName != "redis.internal" ||
		c.SentinelPassword != "p" || c.PoolSize != 50 || c.Cluster() {
		t.Fatalf("parsed: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	files := redistest.NewTLSFiles(t)
	for _, tc := range []struct {
		c    Conf
		want string // part of the error; "" for valid
	}{
		{Conf{}, ""},
		{Conf{Addr: "a:1", Addrs: []string{"b:1"}}, "not both"},
		{Conf{Addr: "a:1", MasterName: "m"}, "Sentinels"},
		{Conf{Addrs: []string{"a:1", "b:1"}, DB: 1}, "DB must be 0"},
		{Conf{Addrs: []string{"a:1", "b:1"}, MasterName: "m", DB: 1}, ""},
		{Conf{Addr: "a:1", Timeout: -1}, "negative"},
		{Conf{TLS: TLSConf{Enabled: true}}, "embedded"},
		{Conf{Addr: "a:1", TLS: TLSConf{CAFile: files.CAFile}}, "Enabled is false"},
		{Conf{Addr: "a:1", TLS: TLSConf{Enabled: true, CAFile: "/nonexistent"}}, "CAFile"},
		{Conf{Addr: "a:1", TLS: TLSConf{Enabled: true, CAFile: files.KeyFile}}, "no PEM certificate"},
		{Conf{Addr: "a:1", TLS: TLSConf{Enabled: true, CertFile: files.ClientCertFile}}, "go together"},
		{Conf{Addr: "a:1", TLS: TLSConf{Enabled: true, CertFile: files.ClientCertFile, KeyFile: files.KeyFile}}, "KeyFile"},
		{Conf{Addr: "a:1", TLS: TLSConf{Enabled: true, CAFile: files.CAFile,
			CertFile: files.ClientCertFile, KeyFile: files.ClientKeyFile}}, ""},
	} {
		err := tc.c.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.c, err, tc.want)
		}
	}
}

func TestTLS(t *testing.T) {
	files := redistest.NewTLSFiles(t)
	srv := redistest.StartServer(t, redistest.Options{TLS: files, Args: []string{"--tls-auth-clients", "yes"}})
	good := TLSConf{Enabled: true, CAFile: files.CAFile, CertFile: files.ClientCertFile, KeyFile: files.ClientKeyFile}
	c, err := Connect(Conf{Addr: srv.Addr(), TLS: good})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Client.Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	named := good
	named.ServerName = "localhost"
	if c, err := Connect(Conf{Addr: srv.Addr(), TLS: named}); err != nil {
		t.Fatalf("ServerName localhost (in the certificate): %v", err)
	} else {
		c.Close()
	}

	other := redistest.NewTLSFiles(t)
	for name, bad := range map[string]TLSConf{
		"plain text":         {},
		"no client cert":     {Enabled: true, CAFile: files.CAFile},
		"another CA":         {Enabled: true, CAFile: other.CAFile, CertFile: files.ClientCertFile, KeyFile: files.ClientKeyFile},
		"another ServerName": {Enabled: true, CAFile: files.CAFile, ServerName: "redis.example", CertFile: files.ClientCertFile, KeyFile: files.ClientKeyFile},
	} {
		if c, err := Connect(Conf{Addr: srv.Addr(), TLS: bad, Timeout: 300 * time.Millisecond}); err == nil {
			c.Close()
			t.Errorf("%s: connected", name)
		}
	}
}

// TestSentinelFollowsFailover writes through the Sentinels without pause while they fail
// over, and checks that writes reach the new master within a bounded time and that every
// write acknowledged after that is on it.
func TestSentinelFollowsFailover(t *testing.T) {
	s := redistest.StartSentinel(t)
	c, err := Connect(Conf{Addrs: s.Addrs(), MasterName: redistest.SentinelMaster, DB: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if role, err := c.Client.Do(ctx, "ROLE").Slice(); c.Cluster || err != nil || role[0] != "master" {
		t.Fatalf("conn %+v: ROLE %v %v", c, role, err)
	}
	key := redistest.Name("sentinel:")

	stop := make(chan struct{})
	done := make(chan []error)
	acked := 0
	go func() { // a writer that never pauses: INCR, so that writes can be counted
		var errs []error
		for {
			select {
			case <-stop:
				done <- errs
				return
			default:
			}
			if err := c.Client.Incr(ctx, key).Err(); err != nil {
				errs = append(errs, err)
				time.Sleep(5 * time.Millisecond)
			} else {
				acked++
			}
		}
	}()
	began := time.Now()
	next := s.Failover(t)
	confirmed := time.Since(began)

	// Once the sentinels agree, the client writes to the new master within 5 s.
	nc := redis.NewClient(&redis.Options{Addr: next.Addr(), DB: 2})
	defer nc.Close()
	probe := redistest.Name("probe:")
	redistest.WaitFor(t, 5*time.Second, "a write through the client lands on the new master", func() error {
		if err := c.Client.Set(ctx, probe, "x", 0).Err(); err != nil {
			return err
		}
		return nc.Get(ctx, probe).Err()
	})
	followed := time.Since(began)
	close(stop)
	errs := <-done
	for _, err := range errs {
		if !Unavailable(err) {
			t.Errorf("a write failed with %v, which Unavailable does not recognise", err)
		}
	}
	// Sentinel replication is asynchronous: writes the old master took after the replica's
	// promotion and before the client switched are lost. Count them.
	kept, _ := nc.Get(ctx, key).Int()
	t.Logf("writes: %d acknowledged, %d on the new master (%d lost, %d failed with errors)",
		acked, kept, acked-kept, len(errs))
	if kept > acked {
		t.Errorf("more writes on the new master (%d) than acknowledged (%d): a write was applied twice", kept, acked)
	}
	before, _ := nc.Get(ctx, key).Int()
	if err := c.Client.Incr(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
	if after, _ := nc.Get(ctx, key).Int(); after != before+1 {
		t.Fatalf("a write after the failover is not on the new master: %d then %d", before, after)
	}
	t.Logf("failover confirmed after %s, client on the new master after %s", confirmed, followed)
}

// TestClusterFollowsKilledMaster checks that the client serves a key again soon after its
// master is killed and the replica took over, without waiting for go-redis's periodic
// (one minute) reload of the slot map.
func TestClusterFollowsKilledMaster(t *testing.T) {
	cl := redistest.StartCluster(t)
	c, err := Connect(Conf{Addrs: cl.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Cluster {
		t.Fatal("not a cluster connection")
	}
	ctx := context.Background()
	// One key per master, all written.
	keys := map[*redistest.Server]string{}
	for i := 0; len(keys) < 3; i++ {
		k := fmt.Sprintf("cluster:key:%d", i)
		keys[cl.MasterOf(t, k)] = k
	}
	for _, k := range keys {
		if err := c.Client.Set(ctx, k, "1", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}

	victim := cl.Masters(t)[0]
	key := keys[victim]
	began := time.Now()
	cl.KillMaster(t, victim)
	promoted := time.Since(began)
	redistest.WaitFor(t, 3*time.Second, "writes to the killed master's slots", func() error {
		err := c.Client.Set(ctx, key, "2", 0).Err()
		if err != nil && !Unavailable(err) {
			t.Fatalf("during the failover: %v, which Unavailable does not recognise", err)
		}
		return err
	})
	t.Logf("replica promoted after %s, client writing to it after %s", promoted, time.Since(began))
	for _, k := range keys {
		if err := c.Client.Incr(ctx, k).Err(); err != nil {
			t.Fatalf("INCR %s: %v", k, err)
		}
	}
}
