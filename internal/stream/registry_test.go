package stream

import (
	"context"
	"errors"
	"testing"
)

func TestLimitsAndRelease(t *testing.T) {
	r := newRegistry(3, 2)
	end := func(error) {}
	rel1, err := r.admit("a", end)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.admit("a", end); err != nil {
		t.Fatal(err)
	}
	if _, err := r.admit("a", end); !errors.Is(err, ErrUserFull) {
		t.Fatalf("third stream of a holder: %v", err)
	}
	if _, err := r.admit("b", end); err != nil {
		t.Fatal(err)
	}
	if _, err := r.admit("c", end); !errors.Is(err, ErrInstanceFull) {
		t.Fatalf("fourth stream: %v", err)
	}
	rel1()
	rel1() // twice is harmless
	if r.len() != 2 {
		t.Fatalf("len = %d", r.len())
	}
	if _, err := r.admit("a", end); err != nil {
		t.Fatalf("after a release: %v", err)
	}
}

func TestShutdownEndsEveryStream(t *testing.T) {
	r := newRegistry(0, 0)
	var releases []func()
	var ctxs []context.Context
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithCancelCause(context.Background())
		rel, err := r.admit("u", cancel)
		if err != nil {
			t.Fatal(err)
		}
		ctxs, releases = append(ctxs, ctx), append(releases, rel)
	}
	drained := r.shutdown()
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
	if _, err := r.admit("u", func(error) {}); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("admit during shutdown: %v", err)
	}
}
