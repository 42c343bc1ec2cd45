package stream

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/sseapi/sse-api/internal/broker"
	"github.com/sseapi/sse-api/internal/ssewire"
)

// Subscription is an open stream's subscription to its topics, as its logic's loop sees it:
//
//	for {
//		select {
//		case <-l.ctx.Done():
//			return nil
//		case batch := <-sub.Events():
//			if err := sub.Send(batch); err != nil {
//				return err
//			}
//		}
//	}
//
// Heartbeats, the replay of what the client missed and the end of a subscription that fell
// behind all come through Events: a select on one more channel would cost every event's
// wake-up (see BENCHMARKS.md).
type Subscription struct {
	// What every event touches comes first, and ctx and w are the Stream's, kept here once
	// it is open (they do not change after): with thousands of streams each wake-up finds
	// its stream's memory out of cache, and one line read beats three.
	sub     *broker.Subscriber
	w       *ssewire.Writer
	ctx     context.Context
	beatDue atomic.Bool
	active  bool // something was written since the last heartbeat fell due

	beat      *time.Timer
	beatEvery time.Duration
}

// Events receives a Batch whenever there is something to send: replayed or live events, a
// heartbeat, or the reason the subscription was dropped (Send and Take return it).
func (x *Subscription) Events() <-chan Batch { return x.sub.Ready() }

// Send writes what the batch brought, flushes, and sends a heartbeat if one is due. It
// returns the reason the subscription ended (a client that fell a whole queue behind, a
// history read that failed) or the write's error: return it.
func (x *Subscription) Send(Batch) error {
	n, err := x.sub.Send(x.ctx, x.w)
	if err != nil {
		return err
	}
	return x.heartbeat(n > 0)
}

// Take returns the batch's events, for a loop that looks at each one (write them with Write,
// then Flush), or the reason the subscription ended.
func (x *Subscription) Take(Batch) ([]*Event, error) { return x.sub.Next(x.ctx) }

// Write writes one event Take gave, without flushing. It reports false for an event the
// stream is already past (it skips it).
func (x *Subscription) Write(ev *Event) (bool, error) {
	written, err := x.sub.Write(x.w, ev)
	x.active = x.active || written
	return written, err
}

// Flush sends what Write wrote, and a heartbeat if one is due.
func (x *Subscription) Flush() error {
	if err := x.w.Flush(); err != nil {
		return err
	}
	return x.heartbeat(false)
}

func (x *Subscription) startBeat(every time.Duration) {
	x.beatEvery = every
	x.beat = time.AfterFunc(every, x.beatFallsDue)
}

func (x *Subscription) beatFallsDue() {
	x.beatDue.Store(true)
	x.sub.Wake()
}

// heartbeat writes a comment when one fell due and nothing else was written since: proxies
// only need to see traffic.
func (x *Subscription) heartbeat(wrote bool) error {
	x.active = x.active || wrote
	if !x.beatDue.Load() {
		return nil
	}
	x.beatDue.Store(false)
	x.beat.Reset(x.beatEvery)
	if x.active {
		x.active = false
		return nil
	}
	return x.w.Heartbeat()
}

func (x *Subscription) close() {
	if x.beat != nil {
		x.beat.Stop()
	}
	x.sub.Close()
}
