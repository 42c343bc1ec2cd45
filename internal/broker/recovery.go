package broker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/eventid"
	"github.com/sseapi/sse-api/internal/metrics"
	"github.com/sseapi/sse-api/publish"
)

// Reads from Redis that a topic needs (its position when it is new, the events pub/sub lost
// otherwise) run on a few worker goroutines, never on the dispatch goroutine: a slow or
// failing read delays that topic alone. A topic is in the queue at most once, as long as it
// is busy; a failed read puts it back after a delay that doubles up to Options.MaxRetryDelay.

// recoveryQueue is the list of busy topics waiting for a worker.
type recoveryQueue struct {
	mu     sync.Mutex
	topics []*topic
	wake   chan struct{} // one token: the list is not empty
}

// startRecovery makes t busy and queues it, unless a read is already under way (which then
// covers what the caller wanted read, see settle). t.mu is held.
func (h *Hub) startRecovery(t *topic) {
	if t.busy {
		return
	}
	t.busy = true
	h.enqueue(t)
}

func (h *Hub) enqueue(t *topic) {
	q := &h.recoveries
	q.mu.Lock()
	q.topics = append(q.topics, t)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next waits for a queued topic; nil once the hub is closed.
func (h *Hub) next() *topic {
	q := &h.recoveries
	for {
		q.mu.Lock()
		if len(q.topics) > 0 {
			t := q.topics[0]
			q.topics[0] = nil
			q.topics = q.topics[1:]
			more := len(q.topics) > 0
			q.mu.Unlock()
			if more {
				select {
				case q.wake <- struct{}{}: // another worker may take the next one
				default:
				}
			}
			return t
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-h.closed:
			return nil
		}
	}
}

func (h *Hub) recoveryWorker() {
	defer h.done.Done()
	for t := h.next(); t != nil; t = h.next() {
		h.recover(t)
	}
}

// recover reads what t needs from Redis, forwards it, then settles the announcements that
// waited meanwhile.
func (h *Hub) recover(t *topic) {
	t.mu.Lock()
	if t.gone.Load() {
		t.busy, t.pending, t.before = false, nil, 0
		t.mu.Unlock()
		return
	}
	init := t.init
	t.before, t.again = len(t.pending), false
	t.mu.Unlock()

	ctx, cancel := context.WithTimeout(h.ctx, h.opts.ReadyTimeout)
	var err error
	switch {
	case t.kind == KindState:
		err = h.readState(ctx, t)
	case init:
		err = h.fill(ctx, t)
	case t.kind == KindStream:
		err = h.readStreamPosition(ctx, t)
	default:
		err = h.readPosition(ctx, t)
	}
	cancel()
	if err != nil {
		if h.ctx.Err() == nil { // not closing
			h.retryLater(t, err)
		}
		return
	}
	t.mu.Lock()
	if t.fails > 0 {
		logx.Infof("broker: %s read after %d failed attempts", t.name, t.fails)
		t.fails = 0
	}
	t.mu.Unlock()
	h.settle(t)
}

// retryLater queues t again after a delay; it stays busy meanwhile, so whatever is announced
// waits behind the read instead of being forwarded past a gap.
func (h *Hub) retryLater(t *topic, err error) {
	metrics.RecoveryFailures.Inc()
	t.mu.Lock()
	t.fails++
	fails := t.fails
	t.mu.Unlock()
	if fails == 1 {
		logx.Errorf("broker: %s: %v (retrying)", t.name, err)
	}
	time.AfterFunc(h.retryDelay(fails), func() {
		select {
		case <-h.closed:
		default:
			metrics.RecoveryRetries.Inc()
			h.enqueue(t)
		}
	})
}

// retryDelay is Options.RetryDelay doubled per failure after the first, at most
// Options.MaxRetryDelay, and from half to all of that at random, so that topics which failed
// together (Redis was down) do not all retry at once.
func (h *Hub) retryDelay(fails int) time.Duration {
	d := h.opts.RetryDelay
	for i := 1; i < fails && d < h.opts.MaxRetryDelay; i++ {
		d *= 2
	}
	d = min(d, h.opts.MaxRetryDelay)
	return d/2 + rand.N(d/2+1)
}

// readPosition learns where a new topic stands: events after it reach its subscribers.
func (h *Hub) readPosition(ctx context.Context, t *topic) error {
	s, err := h.rdb.HGet(ctx, publish.MetaKey(t.name), "last").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("read position: %w", err)
	}
	var last eventid.ID
	if s != "" {
		var ok bool
		if last, ok = eventid.Parse(s); !ok {
			return fmt.Errorf("read position: bad id %q", s)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last, t.init = last, true
	close(t.ready)
	return nil
}

// fill forwards every event the topic's stream holds after t.last, page by page. When events
// after t.last are gone from the stream (trimmed, or expired), it first forwards a reset
// that moves every subscriber past them: they are told, not silently skipped.
func (h *Hub) fill(ctx context.Context, t *topic) error {
	t.mu.Lock()
	from := t.last // only this worker moves it while t is busy
	t.mu.Unlock()
	forwarded := false
	defer func() {
		if forwarded {
			metrics.Recoveries.Inc()
		}
	}()
	for first := true; ; first = false {
		p, err := h.page(ctx, t.name, from.Next(), h.opts.PageSize)
		if err != nil {
			return fmt.Errorf("recover after %s: %w", from, err)
		}
		if first {
			reason, to := ResetTrimmed, p.floor
			if !p.stored {
				reason, to = ResetExpired, p.last
			}
			if from.Less(to) {
				t.mu.Lock()
				err := h.forwardReset(t, reason, to)
				t.mu.Unlock()
				if err != nil {
					return err
				}
				forwarded = true
			}
		}
		for _, m := range p.messages {
			t.mu.Lock()
			if t.last.Less(m.ID) {
				t.forward(m)
				forwarded = true
			}
			t.mu.Unlock()
		}
		if len(p.messages) < h.opts.PageSize {
			return nil
		}
		from = p.messages[len(p.messages)-1].ID
	}
}

// forwardReset tells every subscriber of t that the events after t.last up to to are gone.
// t.mu is held.
func (h *Hub) forwardReset(t *topic, reason string, to eventid.ID) error {
	m, err := resetMessage(t.name, reason, t.last, to)
	if err != nil {
		return err
	}
	t.forward(m) // each subscriber counts it in sse_resets_total when it writes it
	return nil
}

// settle forwards the announcements that waited behind a read, one at a time, then lets the
// dispatch goroutine forward the topic's events again; unless one of them does not follow
// what was forwarded, or the pub/sub link was re-established meanwhile: then t is read again.
//
// An announcement that arrived before the read began was in the stream when it was read (an
// event is appended and announced in one step); if the read still did not reach it, Redis
// lost what came before it (its keys were deleted): subscribers get a reset to the event
// before it, then the event, instead of a read that would never end.
func (h *Hub) settle(t *topic) {
	for {
		t.mu.Lock()
		if len(t.pending) == 0 {
			again := t.again
			if !again {
				t.busy, t.pending, t.before = false, nil, 0
			}
			t.mu.Unlock()
			if again {
				h.enqueue(t)
			}
			return
		}
		a := t.pending[0]
		switch {
		case !t.last.Less(a.m.ID): // forwarded by the read
		case a.prev == t.last:
			t.forward(a.m)
		case t.before > 0:
			if t.last.Less(a.prev) {
				if err := h.forwardReset(t, ResetUnknown, a.prev); err != nil {
					logx.Errorf("broker: %s: %v", t.name, err)
				}
			}
			t.forward(a.m)
		default:
			t.mu.Unlock()
			h.enqueue(t) // a gap after what was read: read again
			return
		}
		t.pending[0] = announcement{}
		t.pending = t.pending[1:]
		t.before = max(t.before-1, 0)
		t.mu.Unlock()
	}
}
