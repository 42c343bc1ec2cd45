package broker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/eventid"
	"github.com/sseapi/sse-api/internal/metrics"
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
	// ReadyTimeout bounds the wait for Redis to confirm a new topic subscription (default 5s).
	ReadyTimeout time.Duration
	// PageSize is how many history events one Redis call reads (default 256).
	PageSize int
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
	return o
}

// Hub fans the events of Redis out to the subscribers of this instance.
type Hub struct {
	rdb  redis.UniversalClient
	ps   *redis.PubSub
	opts Options

	mu     sync.Mutex
	topics map[string]*topic
	// ops orders SUBSCRIBE and UNSUBSCRIBE exactly as the decisions to send them were taken
	// under mu, without holding mu during network writes.
	ops    chan subOp
	closed chan struct{}
	done   sync.WaitGroup
}

type subOp struct {
	subscribe bool
	channel   string
}

// topic is one topic with local subscribers. Only the dispatch goroutine writes last.
type topic struct {
	name  string
	subs  map[*Subscriber]struct{}
	last  eventid.ID // id of the newest event forwarded to subs
	ready chan struct{}
	init  bool // last has been read from Redis, ready is closed
}

// NewHub starts a hub on rdb. Close it to stop its goroutines and its pub/sub connection.
func NewHub(rdb redis.UniversalClient, opts Options) *Hub {
	h := &Hub{
		rdb:    rdb,
		ps:     rdb.Subscribe(context.Background()),
		opts:   opts.withDefaults(),
		topics: make(map[string]*topic),
		ops:    make(chan subOp, 1024),
		closed: make(chan struct{}),
	}
	h.done.Add(2)
	go h.dispatch()
	go h.sendOps()
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
	err := h.ps.Close()
	h.done.Wait()
	return err
}

func (h *Hub) sendOps() {
	defer h.done.Done()
	ctx := context.Background()
	for {
		select {
		case <-h.closed:
			return
		case op := <-h.ops:
			var err error
			if op.subscribe {
				err = h.ps.Subscribe(ctx, op.channel)
			} else {
				err = h.ps.Unsubscribe(ctx, op.channel)
			}
			// go-redis remembers the channel set and restores it on reconnect, so a failed
			// write is repaired by the reconnect that follows it.
			if err != nil {
				logx.Errorf("broker: pub/sub %v %s: %v", op.subscribe, op.channel, err)
			}
		}
	}
}

// dispatch is the only reader of the pub/sub connection.
func (h *Hub) dispatch() {
	defer h.done.Done()
	ch := h.ps.ChannelWithSubscriptions(redis.WithChannelSize(4096))
	for {
		select {
		case <-h.closed:
			return
		case raw, ok := <-ch:
			if !ok {
				return
			}
			switch m := raw.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					h.onSubscribed(strings.TrimPrefix(m.Channel, publish.ChannelPrefix))
				}
			case *redis.Message:
				h.onAnnouncement(strings.TrimPrefix(m.Channel, publish.ChannelPrefix), m.Payload)
			}
		}
	}
}

func (h *Hub) lookup(name string) *topic {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.topics[name]
}

// onSubscribed runs when Redis confirms a subscription: for a new topic it learns where the
// topic stands; after a reconnect it fills whatever was announced while the link was down.
func (h *Hub) onSubscribed(name string) {
	t := h.lookup(name)
	if t == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.opts.ReadyTimeout)
	defer cancel()
	if !t.init {
		last, err := h.rdb.HGet(ctx, publish.MetaKey(name), "last").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			// Stay not ready: the next confirmation, after go-redis reconnects, tries again.
			logx.Errorf("broker: read position of %s: %v", name, err)
			return
		}
		h.mu.Lock()
		if last != "" {
			t.last = eventid.MustParse(last)
		}
		t.init = true
		close(t.ready)
		h.mu.Unlock()
		return
	}
	h.recover(ctx, t)
}

// onAnnouncement forwards one announced event, or the whole gap before it when the
// announcement shows that an earlier one never arrived.
func (h *Hub) onAnnouncement(name, payload string) {
	t := h.lookup(name)
	if t == nil || !t.init {
		return
	}
	// t.name, not name: the subscribers' cursors hold t.name too, so matching an event to
	// a cursor's topic compares a pointer rather than the bytes (see join).
	prev, m, err := parseAnnouncement(t.name, payload)
	if err != nil {
		logx.Errorf("broker: %s: %v", name, err)
		return
	}
	if !t.last.Less(m.ID) {
		return // already forwarded, through a recovery
	}
	if prev != t.last {
		ctx, cancel := context.WithTimeout(context.Background(), h.opts.ReadyTimeout)
		defer cancel()
		h.recover(ctx, t)
		return
	}
	h.forward(t, m)
}

// recover forwards every event after t.last that is in the topic's stream.
func (h *Hub) recover(ctx context.Context, t *topic) {
	msgs, err := readAfter(ctx, h.rdb, t.name, t.last, h.opts.PageSize)
	if err != nil {
		logx.Errorf("broker: recover %s after %s: %v", t.name, t.last, err)
		return
	}
	if len(msgs) > 0 {
		metrics.Recoveries.Inc()
	}
	for _, m := range msgs {
		h.forward(t, m)
	}
}

func (h *Hub) forward(t *topic, m *Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t.last = m.ID
	for s := range t.subs {
		s.offer(m)
	}
}

// join registers s on every topic of its cursor and returns, per topic, the topic's position
// at the moment s joined: events after it reach s's queue.
func (h *Hub) join(ctx context.Context, s *Subscriber) ([]eventid.ID, error) {
	h.mu.Lock()
	ts := make([]*topic, len(s.cursor.Topics))
	for i, name := range s.cursor.Topics {
		t := h.topics[name]
		if t == nil {
			t = &topic{name: name, subs: make(map[*Subscriber]struct{}), ready: make(chan struct{})}
			h.topics[name] = t
			select {
			case h.ops <- subOp{subscribe: true, channel: publish.Channel(name)}:
			case <-h.closed:
			}
		}
		t.subs[s] = struct{}{}
		ts[i] = t
		s.cursor.Topics[i] = t.name // the same bytes, shared with the topic's messages
	}
	h.mu.Unlock()

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

	h.mu.Lock()
	defer h.mu.Unlock()
	at := make([]eventid.ID, len(ts))
	for i, t := range ts {
		at[i] = t.last
	}
	return at, nil
}

// leave removes s from its topics and unsubscribes from topics nobody here reads any more.
func (h *Hub) leave(s *Subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, name := range s.cursor.Topics {
		t := h.topics[name]
		if t == nil {
			continue
		}
		delete(t.subs, s)
		if len(t.subs) == 0 {
			delete(h.topics, name)
			select {
			case h.ops <- subOp{subscribe: false, channel: publish.Channel(name)}:
			case <-h.closed:
			}
		}
	}
}
