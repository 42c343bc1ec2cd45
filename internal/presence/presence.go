// Package presence counts the open streams of every topic across the instances, and who
// holds them, in Redis with leases: each instance writes its own share of a topic (per uid,
// its number of streams) with an expiry by the Redis clock, renews it every Lease/3, and a
// dead instance's share drops out once its lease runs out, without anyone cleaning up.
//
// A topic's presence is three keys in the topic's slot (publish.TopicKey): a sorted set of
// members "<instance>|<uid>" scored by their lease's end, a hash of each member's stream
// count, and a hash of how many instances hold each uid, which tells, in the same script,
// when a uid's first stream across instances opened and its last one ended: the join and
// leave events of the companion topic presence:<topic> (Config.Events).
package presence

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/publish"
)

//go:embed write.lua
var writeLua string

//go:embed count.lua
var countLua string

var (
	writeScript = redis.NewScript(writeLua)
	countScript = redis.NewScript(countLua)
)

// TopicPrefix starts the companion topic of a topic's join and leave events.
const TopicPrefix = "presence:"

// Join and Leave name the events of a companion topic; their data is {"uid", "topic"}.
const (
	Join  = "join"
	Leave = "leave"
)

// Config is what a Tracker needs.
type Config struct {
	// Lease is how long an instance's share of a topic stands without being renewed: the
	// streams of an instance that died drop out within it (default 30s).
	Lease time.Duration
	// Events publishes join and leave events on presence:<topic>: the first stream of a uid
	// on the topic across instances opened, its last one ended (or its lease ran out).
	Events bool
	// Publisher publishes the events (needed with Events).
	Publisher *publish.Publisher
}

// Snapshot is a topic's presence at one moment.
type Snapshot struct {
	// Streams is how many streams are open on the topic, across instances.
	Streams int
	// UIDs are the distinct users of those streams, sorted; anonymous streams have none.
	UIDs []string
}

// Tracker counts this instance's streams and shares them in Redis.
type Tracker struct {
	rdb      redis.UniversalClient
	conf     Config
	instance string

	mu     sync.Mutex
	topics map[string]*topicState
	wake   chan struct{}

	stop chan struct{}
	done chan struct{}
}

// topicState is this instance's share of a topic: its streams per uid, and what Redis was
// last told of them.
type topicState struct {
	streams map[string]int
	written map[string]int
	dirty   bool
}

// New starts a tracker on rdb. Close it to take this instance's share out of Redis.
func New(rdb redis.UniversalClient, c Config) *Tracker {
	if c.Lease <= 0 {
		c.Lease = 30 * time.Second
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	t := &Tracker{
		rdb:      rdb,
		conf:     c,
		instance: hex.EncodeToString(id),
		topics:   make(map[string]*topicState),
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go t.run()
	return t
}

// Keys of a topic's presence, in the topic's slot.
func keys(topic string) []string {
	return []string{
		publish.TopicKey(topic, "presence"),
		publish.TopicKey(topic, "presence:streams"),
		publish.TopicKey(topic, "presence:uids"),
	}
}

// Count reads topic's presence across instances, by the Redis clock.
func (t *Tracker) Count(ctx context.Context, topic string) (Snapshot, error) {
	res, err := countScript.Run(ctx, t.rdb, keys(topic)).Slice()
	if err != nil {
		return Snapshot{}, fmt.Errorf("presence of %s: %w", topic, err)
	}
	if len(res) != 2 {
		return Snapshot{}, fmt.Errorf("presence of %s: unexpected answer %v", topic, res)
	}
	n, _ := res[0].(int64)
	s := Snapshot{Streams: int(n), UIDs: stringList(res[1])}
	slices.Sort(s.UIDs)
	return s, nil
}

// Join counts a stream of uid ("": anonymous) on topics; leave uncounts it, once.
// Redis hears of it shortly after, from the tracker's own goroutine.
func (t *Tracker) Join(uid string, topics []string) (leave func()) {
	t.add(uid, topics, 1)
	var once sync.Once
	return func() { once.Do(func() { t.add(uid, topics, -1) }) }
}

func (t *Tracker) add(uid string, topics []string, delta int) {
	t.mu.Lock()
	for _, topic := range topics {
		ts := t.topics[topic]
		if ts == nil {
			ts = &topicState{streams: map[string]int{}, written: map[string]int{}}
			t.topics[topic] = ts
		}
		if ts.streams[uid] += delta; ts.streams[uid] <= 0 {
			delete(ts.streams, uid)
		}
		ts.dirty = true
	}
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Close stops renewing and takes this instance's share out of Redis (what is left of it
// expires with its lease if Redis cannot be reached).
func (t *Tracker) Close() {
	select {
	case <-t.stop:
		return
	default:
	}
	close(t.stop)
	<-t.done
}

// retryDelay is how soon a write Redis refused is tried again.
const retryDelay = time.Second

func (t *Tracker) run() {
	defer close(t.done)
	renew := time.NewTicker(t.conf.Lease / 3)
	defer renew.Stop()
	retry := time.NewTimer(retryDelay)
	retry.Stop()
	for {
		full := false
		select {
		case <-t.stop:
			t.leaveAll()
			return
		case <-t.wake:
		case <-retry.C:
		case <-renew.C:
			full = true
		}
		if !t.flush(full) {
			retry.Reset(retryDelay)
		}
	}
}

// flush tells Redis what changed (every share, when full: the renewal) and reports whether
// Redis took all of it.
func (t *Tracker) flush(full bool) bool {
	ok := true
	for _, w := range t.pending(full) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if !t.write(ctx, w) {
			ok = false
		}
		cancel()
	}
	return ok
}

// pendingWrite is one topic's share to write: n streams per uid, 0 for a uid gone.
type pendingWrite struct {
	topic string
	uids  map[string]int
}

func (t *Tracker) pending(full bool) []pendingWrite {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []pendingWrite
	for topic, ts := range t.topics {
		if !ts.dirty && !full {
			continue
		}
		w := pendingWrite{topic: topic, uids: map[string]int{}}
		for uid, n := range ts.streams {
			if full || ts.written[uid] != n {
				w.uids[uid] = n
			}
		}
		for uid := range ts.written {
			if _, open := ts.streams[uid]; !open {
				w.uids[uid] = 0
			}
		}
		ts.dirty = false
		if len(w.uids) > 0 {
			out = append(out, w)
		} else if len(ts.streams) == 0 {
			delete(t.topics, topic)
		}
	}
	return out
}

// write sends one topic's share; on failure it marks the topic to be written again.
func (t *Tracker) write(ctx context.Context, w pendingWrite) bool {
	args := []any{t.conf.Lease.Milliseconds(), t.instance}
	for uid, n := range w.uids {
		args = append(args, uid, n)
	}
	res, err := writeScript.Run(ctx, t.rdb, keys(w.topic), args...).Slice()
	t.mu.Lock()
	ts := t.topics[w.topic]
	if ts == nil { // gone meanwhile: it comes back with its next stream
		ts = &topicState{streams: map[string]int{}, written: map[string]int{}}
		t.topics[w.topic] = ts
	}
	if err != nil {
		ts.dirty = true
		t.mu.Unlock()
		logx.Errorf("presence of %s: %v (tried again)", w.topic, err)
		return false
	}
	for uid, n := range w.uids {
		if n > 0 {
			ts.written[uid] = n
		} else {
			delete(ts.written, uid)
		}
	}
	if len(ts.streams) == 0 && len(ts.written) == 0 && !ts.dirty {
		delete(t.topics, w.topic)
	}
	t.mu.Unlock()
	if t.conf.Events && len(res) == 2 {
		t.tell(ctx, w.topic, stringList(res[1]), Leave)
		t.tell(ctx, w.topic, stringList(res[0]), Join)
	}
	return true
}

// tell publishes the join or leave events of uids on topic's companion topic. A presence
// topic's own presence has none (no presence:presence:...), nor a topic too long for one.
func (t *Tracker) tell(ctx context.Context, topic string, uids []string, event string) {
	companion := TopicPrefix + topic
	if len(uids) == 0 || t.conf.Publisher == nil || strings.HasPrefix(topic, TopicPrefix) || !publish.ValidTopic(companion) {
		return
	}
	for _, uid := range uids {
		data, _ := json.Marshal(struct {
			UID   string `json:"uid"`
			Topic string `json:"topic"`
		}{uid, topic})
		if _, err := t.conf.Publisher.Publish(ctx, companion, event, data); err != nil {
			logx.Errorf("presence: %s of %s on %s not published: %v", event, uid, topic, err)
		}
	}
}

// leaveAll takes this instance's share of every topic out of Redis, at shutdown.
func (t *Tracker) leaveAll() {
	t.mu.Lock()
	var all []pendingWrite
	for topic, ts := range t.topics {
		w := pendingWrite{topic: topic, uids: map[string]int{}}
		for uid := range ts.written {
			w.uids[uid] = 0
		}
		for uid := range ts.streams {
			w.uids[uid] = 0
		}
		if len(w.uids) > 0 {
			all = append(all, w)
		}
	}
	t.mu.Unlock()
	// Bounded: what is not taken out expires with its lease.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for _, w := range all {
		if ctx.Err() != nil {
			return
		}
		t.write(ctx, w)
	}
}

// stringList reads a script's list of strings.
func stringList(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, item := range list {
		if s, ok := item.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
