package combine

import (
	"context"
	"errors"
	"runtime"
	"sync"
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
	for {
		c.mu.Lock()
		queued := len(c.queue)
		c.mu.Unlock()
		if queued == n-1 {
			break
		}
		runtime.Gosched()
	}
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
	for {
		c.mu.Lock()
		busy := c.inFlight == 1
		c.mu.Unlock()
		if busy {
			break
		}
		runtime.Gosched()
	}
	ctx, cancel := context.WithCancel(context.Background())
	queued := &echo{}
	go func() { done <- c.Do(ctx, queued) }()
	for {
		c.mu.Lock()
		n := len(c.queue)
		c.mu.Unlock()
		if n == 1 {
			break
		}
		runtime.Gosched()
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("queued call: %v", err)
	}
	close(release)
	if err := <-done; err != nil || !first.sent || queued.sent {
		t.Fatalf("first: %v %+v, queued %+v", err, first, queued)
	}
}
