package broker

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/eventid"
	"github.com/sseapi/sse-api/publish"
)

// ErrNotReady is returned when Redis did not confirm a topic's subscription in time.
var ErrNotReady = errors.New("broker: subscription to Redis not confirmed in time")

// ErrClosed is returned by a closed Hub.
var ErrClosed = errors.New("broker: hub closed")

// Options tune a Hub.
type Options struct {
	// QueueSize bounds each subscriber's queue of undelivered events (default 256). A
	// subscriber whose queue is full is disconnected instead of slowing anyone else.
	QueueSize int
	// ReadyTimeout bounds the wait for Redis to confirm a new topic subscription, and each
	// read of a topic's position or missed events (default 5s).
	ReadyTimeout time.Duration
	// PageSize is how many history events one Redis call reads (default 256). It also bounds
	// the announcements of one topic that wait while its missed events are read: beyond a
	// page, they are dropped and read back from Redis.
	PageSize int
	// Readers is how many topics may read their position or missed events from Redis at
	// once (default 8), off the goroutine that dispatches every topic's events.
	Readers int
	// RetryDelay is the wait before a failed read is retried (default 100ms); it doubles
	// with every further failure up to MaxRetryDelay (default 5s).
	RetryDelay, MaxRetryDelay time.Duration
	// PingInterval is how long a pub/sub connection may hear nothing before it is pinged
	// (default 3s, go-redis's own: an idle instance sends Redis one PING per interval and
	// connection); one that hears nothing for three is made again. A server that is down
	// closes the connection and is noticed at once; the pings find one that hangs.
	PingInterval time.Duration
	// Source feeds the topics that are not sse-api's own (nil: none).
	Source Source
}

func (o Options) withDefaults() Options {
	if o.QueueSize <= 0 {
		o.QueueSize = 256
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 5 * time.Second
	}
	if o.PageSize <= 0 {
		o.PageSize = 256
	}
	if o.Readers <= 0 {
		o.Readers = 8
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = 100 * time.Millisecond
	}
	if o.MaxRetryDelay <= 0 {
		o.MaxRetryDelay = 5 * time.Second
	}
	o.MaxRetryDelay = max(o.MaxRetryDelay, o.RetryDelay)
	if o.PingInterval <= 0 {
		o.PingInterval = 3 * time.Second
	}
	return o
}

// Hub fans the events of Redis out to the subscribers of this instance.
type Hub struct {
	rdb   redis.UniversalClient
	links *links // the pub/sub connections (see pubsub.go)
	opts  Options

	seed   maphash.Seed
	shards [shardCount]shard
	// ops orders SUBSCRIBE and UNSUBSCRIBE of a channel exactly as the decisions to send them
	// were taken under its shard's lock, without holding it during network writes.
	ops        chan subOp
	recoveries recoveryQueue

	ctx    context.Context // ends when the hub closes, and with it any read in flight
	cancel context.CancelFunc
	closed chan struct{}
	done   sync.WaitGroup
}

type subOp struct {
	subscribe bool
	channel   string
}

// NewHub starts a hub on rdb. Close it to stop its goroutines and its pub/sub connection.
func NewHub(rdb redis.UniversalClient, opts Options) *Hub {
	opts = opts.withDefaults()
	h := &Hub{
		rdb:    rdb,
		links:  newLinks(rdb, opts.PingInterval),
		opts:   opts,
		seed:   maphash.MakeSeed(),
		ops:    make(chan subOp, 1024),
		closed: make(chan struct{}),
	}
	for i := range h.shards {
		h.shards[i].topics = make(map[string]*topic)
	}
	h.recoveries.wake = make(chan struct{}, 1)
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.done.Add(2 + h.opts.Readers)
	go h.dispatch()
	go h.sendOps()
	for range h.opts.Readers {
		go h.recoveryWorker()
	}
	return h
}

// Close stops the hub. Subscribers still open see their queues stop.
func (h *Hub) Close() error {
	select {
	case <-h.closed:
		return nil
	default:
	}
	close(h.closed)
	h.cancel()
	h.links.close()
	h.done.Wait()
	return nil
}

// LinkUp reports whether the hub hears Redis: every topic's subscription is confirmed since
// its pub/sub connection last (re)connected and, with classic pub/sub, the connection
// answers. While it is false, announcements may be missed; they are read from Redis once
// it is true again.
func (h *Hub) LinkUp() bool { return h.links.up() }

// sendOps hands SUBSCRIBE and UNSUBSCRIBE to the links in the order they were decided.
func (h *Hub) sendOps() {
	defer h.done.Done()
	h.links.run(h.ops)
}

// dispatch handles, one at a time, what the pub/sub links read. It never waits for Redis:
// reads a topic needs run on the recovery workers.
func (h *Hub) dispatch() {
	defer h.done.Done()
	for {
		select {
		case <-h.closed:
			return
		case ev := <-h.links.events:
			name, ok := publish.ChannelTopic(ev.channel)
			switch {
			case !ok:
			case ev.subscribed:
				h.onSubscribed(name)
			default:
				h.onAnnouncement(name, ev.payload)
			}
		}
	}
}

// onSubscribed runs when Redis confirms a subscription: a new topic learns where it stands;
// after a reconnect, the topic reads whatever was announced while the link was down.
func (h *Hub) onSubscribed(name string) {
	t := h.lookup(name)
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.busy {
		t.again = true // the read under way may have begun before the link went down
		return
	}
	h.startRecovery(t)
}

// onAnnouncement forwards one announced event; when the announcement shows that an earlier
// one never arrived, it has the topic read the gap from Redis, and the event waits behind it.
func (h *Hub) onAnnouncement(name, payload string) {
	t := h.lookup(name)
	if t == nil {
		return
	}
	// t.name, not name: the subscribers' cursors hold t.name too, so matching an event to
	// a cursor's topic compares a pointer rather than the bytes (see join).
	prev, m, err := parseAnnouncement(t.name, payload)
	if err != nil {
		logx.Errorf("broker: %s: %v", name, err)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.gone.Load():
	case t.busy:
		t.hold(announcement{prev, m}, h.opts.PageSize)
	case !t.init:
		// Not subscribed yet (a trailing announcement of an earlier subscription): the
		// position read once Redis confirms the subscription covers it.
	case !t.last.Less(m.ID):
		// Already forwarded, through a recovery.
	case prev != t.last:
		t.hold(announcement{prev, m}, h.opts.PageSize)
		h.startRecovery(t)
	default:
		t.forward(m)
	}
}

// join registers s on every topic of its cursor and returns, per topic, the topic's position
// at the moment s joined: events after it reach s's queue.
func (h *Hub) join(ctx context.Context, s *Subscriber) ([]eventid.ID, error) {
	ts := make([]*topic, len(s.cursor.Topics))
	for i, name := range s.cursor.Topics {
		sh := h.shard(name)
		sh.mu.Lock()
		t := sh.topics[name]
		if t == nil {
			t = h.watchSourced(sh, name) // a Source's topic: watched, not on pub/sub
		}
		if t == nil {
			t = newTopic(name)
			sh.topics[name] = t
			select {
			case h.ops <- subOp{subscribe: true, channel: publish.Channel(name)}:
			case <-h.closed:
			}
		}
		t.refs++ // keeps t in the shard until s leaves
		sh.mu.Unlock()
		t.mu.Lock()
		t.subs[s]++
		t.mu.Unlock()
		ts[i] = t
		s.cursor.Topics[i] = t.name // the same bytes, shared with the topic's messages
	}

	timer := time.NewTimer(h.opts.ReadyTimeout)
	defer timer.Stop()
	for _, t := range ts {
		select {
		case <-t.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, ErrNotReady
		case <-h.closed:
			return nil, ErrClosed
		}
	}

	at := make([]eventid.ID, len(ts))
	for i, t := range ts {
		t.mu.Lock()
		at[i] = t.last
		t.mu.Unlock()
	}
	return at, nil
}

// leave removes s from its topics and unsubscribes from topics nobody here reads any more.
// Leaving twice is harmless.
func (h *Hub) leave(s *Subscriber) {
	for _, name := range s.cursor.Topics {
		sh := h.shard(name)
		sh.mu.Lock()
		t := sh.topics[name]
		sh.mu.Unlock()
		if t == nil {
			continue
		}
		t.mu.Lock()
		n := t.subs[s]
		if n > 1 {
			t.subs[s] = n - 1
		} else {
			delete(t.subs, s)
		}
		t.mu.Unlock()
		if n == 0 {
			continue // not joined, or already left
		}
		sh.mu.Lock()
		if t.refs--; t.refs == 0 {
			t.gone.Store(true)
			delete(sh.topics, name)
			if t.kind != KindOwn {
				h.opts.Source.Unwatch(name)
			} else {
				select {
				case h.ops <- subOp{subscribe: false, channel: publish.Channel(name)}:
				case <-h.closed:
				}
			}
		}
		sh.mu.Unlock()
	}
}
