package stream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
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
	rel1.release()
	rel1.release() // twice is harmless
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
	var releases []*admission
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
	if again := r.shutdown(0); again != drained {
		t.Fatal("a second shutdown returned another channel, which would never close")
	}
	for _, rel := range releases {
		rel.release()
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

func TestEndUserEndsThatUsersOpenStreamsOnly(t *testing.T) {
	r := newRegistry(0, 0)
	ended := map[string]int{}
	admit := func(name, uid string, opened time.Time) *admission {
		a, err := r.admit(uid, uid, opened, func(error) { ended[name]++ })
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	t0 := time.Now()
	a1 := admit("a1", "alice", t0)
	a2 := admit("a2", "alice", t0.Add(time.Second))
	a3 := admit("a3", "alice", t0.Add(2*time.Second))
	admit("b1", "bob", t0)
	admit("anon", "", t0)

	a2.release() // from the middle of alice's streams
	if n := r.endUser("alice", ErrDisconnected, t0.Add(time.Second)); n != 1 || ended["a1"] != 1 || ended["a3"] != 0 {
		t.Fatalf("opened before: ended %d: %v", n, ended)
	}
	// a1, ended but not released yet, is not ended or counted again.
	if n := r.endUser("alice", ErrRevoked, time.Time{}); n != 1 || ended["a1"] != 1 || ended["a3"] != 1 || ended["a2"] != 0 {
		t.Fatalf("ended %d: %v", n, ended)
	}
	a3.release() // the first of her list
	a1.release() // the last one
	if n := r.endUser("alice", ErrDisconnected, time.Time{}); n != 0 {
		t.Fatalf("ended %d after every release", n)
	}
	if ended["b1"] != 0 || ended["anon"] != 0 || r.len() != 2 || len(r.byUser) != 1 || r.perHolder["alice"] != 0 {
		t.Fatalf("others: %v, len %d, users %d", ended, r.len(), len(r.byUser))
	}
	if n := r.endUser("bob", ErrRevoked, time.Time{}); n != 1 || ended["b1"] != 1 {
		t.Fatalf("bob: ended %d", n)
	}
}

func TestUsersAreThoseWithOpenStreams(t *testing.T) {
	r := newRegistry(0, 0)
	admit := func(uid string) *admission {
		a, err := r.admit("h-"+uid, uid, time.Time{}, func(error) {})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	admit("ann")
	bob1, bob2 := admit("bob"), admit("bob")
	admit("") // anonymous: no user
	cid := admit("cid")
	cid.release()
	bob1.release()
	got := r.users()
	slices.Sort(got)
	if want := []string{"ann", "bob"}; !slices.Equal(got, want) {
		t.Fatalf("users = %q, want %q", got, want)
	}
	bob2.release()
	if got := r.users(); !slices.Equal(got, []string{"ann"}) {
		t.Fatalf("users = %q, want [ann]", got)
	}
}
