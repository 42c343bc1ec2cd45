package combine

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

type echo struct {
	in, out int
	sent    bool
}

func TestConcurrentCallsShareBatchesAndEachGetsItsResult(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	c := &Combiner[*echo]{MaxInFlight: 1, MaxBatch: 10, Send: func(_ context.Context, batch []*echo) {
		<-release
		mu.Lock()
		sizes = append(sizes, len(batch))
		mu.Unlock()
		for _, e := range batch {
			e.out, e.sent = e.in*2, true
		}
	}}
	const n = 50
	calls := make([]*echo, n)
	var wg sync.WaitGroup
	for i := range calls {
		calls[i] = &echo{in: i}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Do(context.Background(), calls[i]); err != nil {
				t.Error(err)
			}
		}()
	}
	// Let the first batch go once every call is in: the others must have queued behind it.
	waitUntil(c, func() bool { return len(c.queue) == n-1 })
	close(release)
	wg.Wait()
	for _, e := range calls {
		if !e.sent || e.out != e.in*2 {
			t.Fatalf("call %d: %+v", e.in, e)
		}
	}
	total := 0
	for _, s := range sizes {
		if s > 10 {
			t.Fatalf("a batch of %d, over MaxBatch", s)
		}
		total += s
	}
	if total != n || len(sizes) > 1+(n-1+9)/10 {
		t.Fatalf("batches %v for %d calls", sizes, n)
	}
	if c.inFlight != 0 || len(c.queue) != 0 {
		t.Fatalf("left in flight %d, queued %d", c.inFlight, len(c.queue))
	}
}

func TestACallWhoseContextEndsWhileQueuedIsNotSent(t *testing.T) {
	release := make(chan struct{})
	c := &Combiner[*echo]{MaxInFlight: 1, Send: func(_ context.Context, batch []*echo) {
		<-release
		for _, e := range batch {
			e.sent = true
		}
	}}
	first := &echo{}
	done := make(chan error)
	go func() { done <- c.Do(context.Background(), first) }()
	waitUntil(c, func() bool { return c.inFlight == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	queued := &echo{}
	go func() { done <- c.Do(ctx, queued) }()
	waitUntil(c, func() bool { return len(c.queue) == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("queued call: %v", err)
	}
	close(release)
	if err := <-done; err != nil || !first.sent || queued.sent {
		t.Fatalf("first: %v %+v, queued %+v", err, first, queued)
	}
}

// A Send that panics leaves no caller waiting and no slot taken: its leader panics, the
// callers it carried get ErrSendPanicked, and the next call goes out.
func TestASendThatPanicsReleasesEveryone(t *testing.T) {
	release := make(chan struct{})
	var sends atomic.Int32
	c := &Combiner[*echo]{MaxInFlight: 1, Send: func(_ context.Context, batch []*echo) {
		<-release
		if sends.Add(1) <= 2 { // the first two batches
			panic("boom")
		}
		for _, e := range batch {
			e.sent = true
		}
	}}
	type result struct {
		err      error
		panicked any
	}
	results := make(chan result, 4)
	call := func() {
		var r result
		defer func() {
			r.panicked = recover()
			results <- r
		}()
		r.err = c.Do(context.Background(), &echo{})
	}
	go call() // leads the first batch, alone
	waitUntil(c, func() bool { return c.inFlight == 1 })
	for range 3 {
		go call() // queued: the first of them leads the other two in the second batch
	}
	waitUntil(c, func() bool { return len(c.queue) == 3 })
	close(release)
	panics, failed := 0, 0
	for range 4 {
		r := <-results
		switch {
		case r.panicked == "boom":
			panics++
		case errors.Is(r.err, ErrSendPanicked):
			failed++
		default:
			t.Fatalf("a call returned %v (recovered %v)", r.err, r.panicked)
		}
	}
	if panics != 2 || failed != 2 {
		t.Fatalf("%d leaders panicked and %d carried calls failed, want 2 and 2", panics, failed)
	}
	later := &echo{}
	if err := c.Do(context.Background(), later); err != nil || !later.sent {
		t.Fatalf("a later call: %v, sent %v", err, later.sent)
	}
	if c.inFlight != 0 {
		t.Fatalf("%d batches still counted in flight", c.inFlight)
	}
}

// waitUntil waits until cond holds of c's state, read under its lock.
func waitUntil(c *Combiner[*echo], cond func() bool) {
	for {
		c.mu.Lock()
		ok := cond()
		c.mu.Unlock()
		if ok {
			return
		}
		runtime.Gosched()
	}
}
