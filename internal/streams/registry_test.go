package streams

import (
	"context"
	"errors"
	"testing"
)

func TestLimitsAndRelease(t *testing.T) {
	r := NewRegistry(3, 2)
	ctx := context.Background()
	_, rel1, err := r.Open(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Open(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Open(ctx, "a"); !errors.Is(err, ErrUserFull) {
		t.Fatalf("third stream of a user: %v", err)
	}
	if _, _, err := r.Open(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Open(ctx, "c"); !errors.Is(err, ErrInstanceFull) {
		t.Fatalf("fourth stream: %v", err)
	}
	rel1()
	rel1() // twice is harmless
	if r.Len() != 2 {
		t.Fatalf("Len = %d", r.Len())
	}
	if _, _, err := r.Open(ctx, "a"); err != nil {
		t.Fatalf("after a release: %v", err)
	}
}

func TestShutdownEndsEveryStream(t *testing.T) {
	r := NewRegistry(0, 0)
	var releases []func()
	var ctxs []context.Context
	for i := 0; i < 3; i++ {
		ctx, rel, err := r.Open(context.Background(), "u")
		if err != nil {
			t.Fatal(err)
		}
		ctxs, releases = append(ctxs, ctx), append(releases, rel)
	}
	drained := r.Shutdown()
	for _, ctx := range ctxs {
		<-ctx.Done() // would block forever if shutdown did not cancel
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
	if _, _, err := r.Open(context.Background(), "u"); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("open during shutdown: %v", err)
	}
}
