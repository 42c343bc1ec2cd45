package broker

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/sseapi/sse-api/internal/eventid"
)

// shardCount is how many locks the hub's topics are spread over, so that subscribers joining
// and leaving one topic do not wait for another's fan-out (Centrifugo's hub uses 64 too).
const shardCount = 64

// shard holds the topics whose names hash to it. No other lock is taken while its lock is
// held, so a topic's fan-out never holds up another topic's lookup.
type shard struct {
	mu     sync.Mutex
	topics map[string]*topic
}

func (h *Hub) shard(name string) *shard {
	return &h.shards[maphash.String(h.seed, name)%shardCount]
}

func (h *Hub) lookup(name string) *topic {
	sh := h.shard(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.topics[name]
}

// topic is one topic with local subscribers.
//
// Its events are forwarded in id order by one goroutine at a time: the dispatch goroutine,
// or, while the topic is busy, the recovery worker reading it from Redis. Announcements that
// arrive meanwhile wait in pending and are settled by the worker once its read is done.
// Whoever forwards holds mu for one event at a time, so others wait one event at most.
type topic struct {
	name  string
	ready chan struct{} // closed once last was read from Redis
	refs  int           // joins not yet left; guarded by the shard's lock
	gone  atomic.Bool   // the hub let the topic go (refs fell to 0): its recovery stops
	kind  Kind          // KindOwn, or how a Source feeds it (see source.go)

	mu      sync.Mutex
	subs    map[*Subscriber]int // how many times each subscriber joined (a cursor may repeat a topic)
	last    eventid.ID          // id of the newest event forwarded to subs
	init    bool                // last was read from Redis
	busy    bool                // a read from Redis is queued, running or waiting to be retried
	pending []announcement
	before  int  // how many of pending arrived before the running read began
	again   bool // the pub/sub link was re-established during the read: read once more
	fails   int  // reads failed in a row, for the retry delay

	value *Message // KindState: what a joining subscriber is offered; guarded by mu
}

// announcement is an event announced on pub/sub, and the id of the event before it.
type announcement struct {
	prev eventid.ID
	m    *Message
}

func newTopic(name string) *topic {
	return &topic{name: name, subs: make(map[*Subscriber]int), ready: make(chan struct{})}
}

// forward hands m to every subscriber. t.mu is held.
func (t *topic) forward(m *Message) {
	t.last = m.ID
	for s := range t.subs {
		s.offer(m)
	}
}

// hold queues an announcement behind the read in progress. A backlog of limit is dropped
// for the newest: the dropped events are in Redis, and the newest, which does not follow
// them, makes the worker read them back. t.mu is held.
func (t *topic) hold(a announcement, limit int) {
	if len(t.pending) >= limit {
		clear(t.pending)
		t.pending, t.before = t.pending[:0], 0
	}
	t.pending = append(t.pending, a)
}
