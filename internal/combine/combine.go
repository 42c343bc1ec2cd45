// Package combine lets concurrent callers share round trips: while a few batches are under
// way, later calls queue, and the next caller to lead sends every queued call as one batch.
// A lone call goes out at once; under load, many share one write and one read on each side
// of the connection, which on loopback costs more than most Redis commands themselves. No
// goroutine of its own: each batch is sent by one of the callers waiting for it.
package combine

import (
	"context"
	"errors"
	"sync"
)

// Combiner sends calls of type T in batches through Send.
type Combiner[T any] struct {
	// Send sends batch and sets each call's result in it. ctx is the lone caller's, or for
	// a batch of several a context without the leader's cancellation: a leader that gave
	// up waiting must not cancel the others' calls.
	Send func(ctx context.Context, batch []T)
	// MaxInFlight bounds the batches under way at once, so calls wait in the queue (and
	// share a batch) instead of each taking a connection from the pool (default 4).
	MaxInFlight int
	// MaxBatch bounds the calls of one batch (default 128).
	MaxBatch int

	mu       sync.Mutex
	queue    []*call[T]
	inFlight int
}

type call[T any] struct {
	ctx context.Context
	v   T
	// done says when this caller is to lead the next batch, or that its batch was sent, or
	// that its Send panicked.
	done chan outcome
}

type outcome uint8

const (
	sent outcome = iota
	lead
	failed
)

// ErrSendPanicked is what the callers of a batch get when its Send panicked (the leader's
// goroutine panics on): their results were never set.
var ErrSendPanicked = errors.New("combine: the batch's Send panicked")

// Do sends v, alone or with others, and returns once Send has returned for its batch. It
// returns ctx's error, and v is not sent, when ctx ends while v is still queued.
func (c *Combiner[T]) Do(ctx context.Context, v T) error {
	me := &call[T]{ctx: ctx, v: v, done: make(chan outcome, 1)}
	c.mu.Lock()
	maxInFlight := c.MaxInFlight
	if maxInFlight <= 0 {
		maxInFlight = 4
	}
	if c.inFlight < maxInFlight {
		c.inFlight++
		c.mu.Unlock()
		c.lead(me)
		return nil
	}
	c.queue = append(c.queue, me)
	c.mu.Unlock()
	select {
	case o := <-me.done:
		return c.follow(me, o)
	case <-ctx.Done():
	}
	// Leave the queue if still in it; otherwise the call is under way, or this caller was
	// just made to lead: see it through.
	c.mu.Lock()
	for i, q := range c.queue {
		if q == me {
			c.queue = append(c.queue[:i], c.queue[i+1:]...)
			c.mu.Unlock()
			return ctx.Err()
		}
	}
	c.mu.Unlock()
	return c.follow(me, <-me.done)
}

// follow acts on what a queued caller was told.
func (c *Combiner[T]) follow(me *call[T], o outcome) error {
	switch o {
	case lead:
		c.lead(me)
	case failed:
		return ErrSendPanicked
	}
	return nil
}

// lead sends me and whatever is queued (up to MaxBatch), then hands the lead on.
func (c *Combiner[T]) lead(me *call[T]) {
	c.mu.Lock()
	maxBatch := c.MaxBatch
	if maxBatch <= 0 {
		maxBatch = 128
	}
	n := min(len(c.queue), maxBatch-1)
	batch := make([]T, 0, n+1)
	batch = append(batch, me.v)
	waiting := c.queue[:n]
	for _, q := range waiting {
		batch = append(batch, q.v)
	}
	c.queue = c.queue[n:]
	if len(c.queue) == 0 {
		c.queue = nil
	}
	c.mu.Unlock()

	ctx := me.ctx
	if len(batch) > 1 {
		ctx = context.WithoutCancel(ctx)
	}
	sendOK := false
	defer func() {
		// Whatever Send did, the callers it carried are told and the lead moves on: a
		// panic must not leave them waiting, nor keep the slot.
		o := sent
		if !sendOK {
			o = failed
		}
		for _, q := range waiting {
			q.done <- o
		}
		c.handOff()
	}()
	c.Send(ctx, batch)
	sendOK = true
}

// handOff gives the lead to the first caller still queued, or gives the slot back.
func (c *Combiner[T]) handOff() {
	c.mu.Lock()
	if len(c.queue) == 0 {
		c.inFlight--
		c.mu.Unlock()
		return
	}
	next := c.queue[0]
	c.queue = c.queue[1:]
	c.mu.Unlock()
	next.done <- lead
}
