package redisconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sseapi/sse-api/internal/redistest"
)

// serverError is an error reply as go-redis hands it over.
type serverError string

func (e serverError) Error() string { return string(e) }
func (serverError) RedisError()     {}

func TestUnavailableClassifies(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{redis.Nil, false},
		{context.Canceled, false},
		{fmt.Errorf("take: %w", context.Canceled), false},
		{serverError("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{serverError("NOAUTH Authentication required."), false},
		{serverError("WRONGPASS invalid username-password pair or user is disabled."), false},
		{serverError("ERR Error running script (call to f_x): @user_script:1: oops"), false},
		{serverError("NOSCRIPT No matching script. Please use EVAL."), false},
		{serverError("OOM command not allowed when used memory > 'maxmemory'."), false},
		{errors.New("bad request"), false},

		{fmt.Errorf("%w (get, 1s): %w", ErrTimeout, context.DeadlineExceeded), true},
		{context.DeadlineExceeded, true},
		{redis.ErrClosed, true},
		{redis.ErrPoolTimeout, true},
		{io.EOF, true},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{serverError("LOADING Redis is loading the dataset in memory"), true},
		{serverError("READONLY You can't write against a read only replica."), true},
		{serverError("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."), true},
		{serverError("CLUSTERDOWN The cluster is down"), true},
		{serverError("TRYAGAIN Multiple keys request during rehashing of slot"), true},
		{serverError("NOREPLICAS Not enough good replicas to write."), true},
		{serverError("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT."), true},
		{serverError("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk."), true},
		{serverError("ERR max number of clients reached"), true},
		{fmt.Errorf("publish: %w", serverError("READONLY You can't write against a read only replica.")), true},
		{errors.New("redis: all sentinels specified in configuration are unreachable"), true},
	} {
		if got := Unavailable(tc.err); got != tc.want {
			t.Errorf("Unavailable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestUnavailableOnRealFailures provokes the failures on a real server and checks both the
// classification and that each shows within Timeout.
func TestUnavailableOnRealFailures(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := redistest.StartServer(t, redistest.Options{})
	conn, err := Connect(Conf{Addr: srv.Addr(), Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	rdb := conn.Client

	// Errors of the request itself are not unavailability.
	if err := rdb.Get(ctx, "missing").Err(); Unavailable(err) || !errors.Is(err, redis.Nil) {
		t.Fatalf("GET missing: %v", err)
	}
	rdb.Set(ctx, "str", "x", 0)
	if err := rdb.LPush(ctx, "str", "y").Err(); err == nil || Unavailable(err) {
		t.Fatalf("WRONGTYPE: %v", err)
	}

	// Hung server: the command gives up after Timeout, as ErrTimeout.
	srv.Pause(t)
	began := time.Now()
	err = rdb.Get(ctx, "str").Err()
	took := time.Since(began)
	srv.Resume(t)
	if !Unavailable(err) || !errors.Is(err, ErrTimeout) || took > timeout+200*time.Millisecond {
		t.Fatalf("hung server: %v after %s", err, took)
	}
	// A caller's own, shorter deadline is kept.
	srv.Pause(t)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	began = time.Now()
	err = rdb.Get(short, "str").Err()
	took = time.Since(began)
	cancel()
	srv.Resume(t)
	if !Unavailable(err) || took > 150*time.Millisecond {
		t.Fatalf("caller deadline: %v after %s", err, took)
	}

	// Dead server: refused connections give up fast, well within Timeout.
	srv.Kill(t)
	began = time.Now()
	err = rdb.Get(ctx, "str").Err()
	took = time.Since(began)
	if !Unavailable(err) || took > timeout+100*time.Millisecond {
		t.Fatalf("dead server: %v after %s", err, took)
	}
	t.Logf("dead server: %v after %s", err, took)

	srv.Restart(t)
	redistest.WaitFor(t, 2*time.Second, "answers after restart", func() error { return rdb.Ping(ctx).Err() })

	// Closed client.
	_ = conn.Close()
	if err := rdb.Get(ctx, "str").Err(); !Unavailable(err) {
		t.Fatalf("closed client: %v", err)
	}
}

func TestUnavailableReadOnlyReplica(t *testing.T) {
	primary := redistest.StartServer(t, redistest.Options{})
	replica := redistest.StartServer(t, redistest.Options{Args: []string{"--replicaof", "127.0.0.1", fmt.Sprint(primary.Port)}})
	err := replica.Client(t).Set(context.Background(), "k", "v", 0).Err()
	if !redis.IsReadOnlyError(err) || !Unavailable(err) {
		t.Fatalf("write to a replica: %v", err)
	}
}
