package stream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"
)

func TestLimitsAndRelease(t *testing.T) {
	r := newRegistry(3, 2)
	end := func(error) {}
	rel1, err := r.admit("a", "", time.Time{}, end)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.admit("a", "", time.Time{}, end); err != nil {
		t.Fatal(err)
	}
	if _, err := r.admit("a", "", time.Time{}, end); !errors.Is(err, ErrUserFull) {
		t.Fatalf("third stream of a holder: %v", err)
	}
	if _, err := r.admit("b", "", time.Time{}, end); err != nil {
		t.Fatal(err)
	}
	if _, err := r.admit("c", "", time.Time{}, end); !errors.Is(err, ErrInstanceFull) {
		t.Fatalf("fourth stream: %v", err)
	}
	rel1()
	rel1() // twice is harmless
	if r.len() != 2 {
		t.Fatalf("len = %d", r.len())
	}
	if _, err := r.admit("a", "", time.Time{}, end); err != nil {
		t.Fatalf("after a release: %v", err)
	}
}

func TestShutdownSpreadsTheEndsOverItsWindow(t *testing.T) {
	r := newRegistry(0, 0)
	ended := make(chan struct{}, 50)
	for i := 0; i < 50; i++ {
		if _, err := r.admit("u", "", time.Time{}, func(error) { ended <- struct{}{} }); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	r.shutdown(500 * time.Millisecond)
	var first, last time.Duration
	for i := 0; i < 50; i++ {
		<-ended
		if i == 0 {
			first = time.Since(start)
		}
		last = time.Since(start)
	}
	// 50 draws from [0, 500ms): all at once would be vanishingly unlikely.
	if last-first < 100*time.Millisecond {
		t.Fatalf("ends spread over %v only", last-first)
	}
}

func TestShutdownEndsEveryStream(t *testing.T) {
	r := newRegistry(0, 0)
	var releases []func()
	var ctxs []context.Context
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithCancelCause(context.Background())
		rel, err := r.admit("u", "", time.Time{}, cancel)
		if err != nil {
			t.Fatal(err)
		}
		ctxs, releases = append(ctxs, ctx), append(releases, rel)
	}
	drained := r.shutdown(0)
	for _, ctx := range ctxs {
		<-ctx.Done() // would block forever if shutdown did not end it
		if !errors.Is(context.Cause(ctx), ErrShuttingDown) {
			t.Fatalf("cause = %v", context.Cause(ctx))
		}
	}
	select {
	case <-drained:
		t.Fatal("drained before the streams released")
	default:
	}
	for _, rel := range releases {
		rel()
	}
	<-drained
	if _, err := r.admit("u", "", time.Time{}, func(error) {}); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("admit during shutdown: %v", err)
	}
}

// Why a stream ended, as metrics and the closing log line tell it: a Redis read that ran out
// of time is ours ("error", the client is told to resume), not the client's write timeout.
func TestEndKinds(t *testing.T) {
	writeTimeout := &net.OpError{Op: "write", Err: os.ErrDeadlineExceeded}
	redisTimeout := fmt.Errorf("read history: %w", fmt.Errorf("%w (xrange, 1s): %w", errors.New("redis: no answer within Redis.Timeout"), context.DeadlineExceeded))
	for _, tc := range []struct {
		err  error
		want string
	}{
		{writeTimeout, "write_timeout"},
		{redisTimeout, "error"},
		{ErrClientGone, "client_gone"},
		{ErrShuttingDown, "shutdown"},
		{ErrCredentialExpired, "credential_expired"},
	} {
		if got := endKind(tc.err); got != tc.want {
			t.Errorf("endKind(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}
