// Package redistest gives tests a real Redis server: the one at REDIS_ADDR (default
// 127.0.0.1:6379). Where none answers, tests fall back to an embedded one and say so loudly,
// unless SSE_REQUIRE_REDIS=1 (set by .ci/run), where the missing server fails the test.
//
// For faults, tests start redis-server processes of their own on free loopback ports, each
// in a temporary directory, all killed when the test ends: StartServer (a standalone server
// that can be killed, stopped, paused and restarted on the same port and data),
// StartCluster (three masters, three replicas) and StartSentinel (a master, a replica,
// three sentinels), with helpers that fail them over and wait, within bounds, until the new
// topology is confirmed.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

var (
	once     sync.Once
	addr     string
	embedded bool
	setupErr string
)

// Addr returns the address of the Redis server tests use, starting the embedded fallback when
// allowed and needed.
func Addr(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		want := os.Getenv("REDIS_ADDR")
		if want == "" {
			want = "127.0.0.1:6379"
		}
		probe := redis.NewClient(&redis.Options{Addr: want, DialTimeout: time.Second})
		defer probe.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := probe.Ping(ctx).Err(); err == nil {
			addr = want
			return
		} else if os.Getenv("SSE_REQUIRE_REDIS") == "1" {
			setupErr = "no Redis answers at " + want + " and SSE_REQUIRE_REDIS=1 forbids the embedded fallback: " + err.Error()
			return
		}
		m, err := miniredis.Run()
		if err != nil {
			setupErr = "starting embedded Redis: " + err.Error()
			return
		}
		addr, embedded = m.Addr(), true
		os.Stderr.WriteString("\n*** redistest: no Redis at " + want + "; these tests run against an EMBEDDED Redis (miniredis). CI forbids this. ***\n\n")
	})
	if setupErr != "" {
		t.Fatal(setupErr)
	}
	return addr
}

// Embedded reports whether tests run on the embedded fallback.
func Embedded() bool { return embedded }

// Client returns a client to the test Redis, closed when the test ends.
func Client(t testing.TB) redis.UniversalClient {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: Addr(t)})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Name returns prefix followed by a random suffix, so that tests running at once against one
// shared server never touch each other's keys.
func Name(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
