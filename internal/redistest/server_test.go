package redistest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestServerKillRestartKeepsAOF(t *testing.T) {
	s := StartServer(t, Options{AOF: true, Fsync: "always"})
	ctx := context.Background()
	c := s.Client(t)
	if err := c.Set(ctx, "k", "before", 0).Err(); err != nil {
		t.Fatal(err)
	}
	port, dir := s.Port, s.Dir

	s.Kill(t)
	if s.Running() {
		t.Fatal("running after Kill")
	}
	if err := c.Get(ctx, "k").Err(); err == nil {
		t.Fatal("a killed server answered")
	}
	s.Restart(t)
	if s.Port != port || s.Dir != dir {
		t.Fatalf("restarted on %d %s, want %d %s", s.Port, s.Dir, port, dir)
	}
	// fsync always: the acknowledged write survived SIGKILL.
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "before" {
		t.Fatalf("after kill and restart: %q %v", v, err)
	}

	if err := c.Set(ctx, "k", "stopped", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Stop(t)
	s.Restart(t)
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "stopped" {
		t.Fatalf("after stop and restart: %q %v", v, err)
	}
	if !strings.Contains(s.LogTail(200), "Ready to accept connections") {
		t.Fatalf("log does not show the start:\n%s", s.LogTail(20))
	}
}

func TestServerWithoutPersistenceForgets(t *testing.T) {
	s := StartServer(t, Options{})
	ctx := context.Background()
	c := s.Client(t)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Kill(t)
	s.Restart(t)
	if err := c.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("a server without persistence kept a key: %v", err)
	}
}

func TestServerPauseResume(t *testing.T) {
	s := StartServer(t, Options{Password: "s3cret"})
	c := s.Client(t)
	s.Pause(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("a paused server answered")
	}
	s.Resume(t)
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("after Resume: %v", err)
	}
}

func TestServerTLS(t *testing.T) {
	files := NewTLSFiles(t)
	s := StartServer(t, Options{TLS: files})
	if err := s.Client(t).Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	plain := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialerRetries: 1, ReadTimeout: 300 * time.Millisecond})
	defer plain.Close()
	if err := plain.Ping(context.Background()).Err(); err == nil {
		t.Fatal("the TLS port answered plain text")
	}
}
