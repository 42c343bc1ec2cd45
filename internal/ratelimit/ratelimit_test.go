package ratelimit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/zeromicro/go-zero/core/limit"
	zredis "github.com/zeromicro/go-zero/core/stores/redis"
)

func TestTakeCountsAndRefuses(t *testing.T) {
	rdb := redistest.Client(t)
	ctx := context.Background()
	l := New(rdb, redistest.Name("rl:"), 3, time.Minute)
	for i, want := range []Result{{true, 2, 0}, {true, 1, 0}, {true, 0, 0}, {false, 0, 0}, {false, 0, 0}} {
		got, err := l.Take(ctx, "1.2.3.4")
		if err != nil {
			t.Fatal(err)
		}
		if got.Allowed != want.Allowed || got.Remaining != want.Remaining ||
			got.Reset <= 0 || got.Reset > time.Minute {
			t.Fatalf("take %d: %+v, want %+v with 0 < Reset <= 1m", i+1, got, want)
		}
	}
	if ok, err := l.Allow(ctx, "5.6.7.8"); !ok || err != nil {
		t.Fatalf("another key: %v %v", ok, err)
	}
	if ok, err := New(rdb, redistest.Name("rl:"), 0, time.Minute).Allow(ctx, "k"); ok || err != nil {
		t.Fatalf("quota 0: %v %v", ok, err)
	}
}

func TestWindowEnds(t *testing.T) {
	rdb := redistest.Client(t)
	ctx := context.Background()
	l := New(rdb, redistest.Name("rl:"), 1, 100*time.Millisecond)
	if ok, _ := l.Allow(ctx, "k"); !ok {
		t.Fatal("first take refused")
	}
	r, err := l.Take(ctx, "k")
	if err != nil || r.Allowed {
		t.Fatalf("second take: %+v %v", r, err)
	}
	if r.Reset <= 0 || r.Reset > 100*time.Millisecond {
		t.Fatalf("Reset %s", r.Reset)
	}
	redistest.WaitFor(t, time.Second, "a new window", func() error {
		if ok, err := l.Allow(ctx, "k"); !ok {
			return errors.Join(errors.New("refused"), err)
		}
		return nil
	})
}

// TestSameAnswersAsGoZero runs go-zero's PeriodLimit and ours side by side on the same
// Redis: ours allows exactly what go-zero does not answer OverQuota to.
func TestSameAnswersAsGoZero(t *testing.T) {
	ctx := context.Background()
	const quota = 4
	zr := zredis.New(redistest.Addr(t))
	theirs := limit.NewPeriodLimit(60, quota, zr, redistest.Name("gz:"))
	ours := New(redistest.Client(t), redistest.Name("rl:"), quota, time.Minute)
	for i := range 2*quota + 1 {
		code, err := theirs.TakeCtx(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		got, err := ours.Allow(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		if got != (code != limit.OverQuota) {
			t.Fatalf("take %d: go-zero %d, ours allowed=%v", i+1, code, got)
		}
	}
}

func TestConcurrentTakesAreCountedOnce(t *testing.T) {
	rdb := redistest.Client(t)
	l := New(rdb, redistest.Name("rl:"), 100, time.Minute)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				ok, err := l.Allow(context.Background(), "k")
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := allowed.Load(); n != 100 {
		t.Fatalf("%d of 150 takes allowed, want 100", n)
	}
}

// TestPrivateServer covers what needs a server of its own: a flushed script cache, a
// counter found without a TTL, and the client's database.
func TestPrivateServer(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{})
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), DB: 4, DialerRetries: 1})
	defer rdb.Close()
	l := New(rdb, "rl:", 2, time.Minute)

	if err := Preload(ctx, rdb); err != nil {
		t.Fatal(err)
	}
	if ok, err := rdb.ScriptExists(ctx, takeScript.Hash()).Result(); err != nil || !ok[0] {
		t.Fatalf("preloaded script missing: %v %v", ok, err)
	}
	// A restarted or failed-over server has no scripts: the take still works.
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if ok, err := l.Allow(ctx, "a"); !ok || err != nil {
		t.Fatalf("after SCRIPT FLUSH: %v %v", ok, err)
	}
	// The counter lives in the client's database, with the period as its TTL.
	if ttl, err := rdb.PTTL(ctx, "rl:a").Result(); err != nil || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("PTTL in db 4: %v %v", ttl, err)
	}
	if n, err := srv.Do("exists", "rl:a"); err != nil || n != int64(0) {
		t.Fatalf("db 0 has the counter: %v %v", n, err)
	}
	// A counter someone left without a TTL gets one instead of blocking its key for ever.
	rdb.Set(ctx, "rl:b", 10, 0)
	if ok, err := l.Allow(ctx, "b"); ok || err != nil {
		t.Fatalf("over quota: %v %v", ok, err)
	}
	if ttl, _ := rdb.PTTL(ctx, "rl:b").Result(); ttl <= 0 {
		t.Fatalf("counter without TTL kept none: %v", ttl)
	}

	// Redis down: an error, not an answer.
	srv.Kill(t)
	if r, err := l.Take(ctx, "a"); err == nil || r.Allowed {
		t.Fatalf("with Redis down: %+v %v", r, err)
	}
}
