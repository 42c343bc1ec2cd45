package presence

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/publish"
)

const wait = 10 * time.Second

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newTracker(t *testing.T, rdb redis.UniversalClient, c Config) *Tracker {
	t.Helper()
	tr := New(rdb, c)
	t.Cleanup(tr.Close)
	return tr
}

func topicFor(t *testing.T, rdb redis.UniversalClient) string {
	t.Helper()
	topic := redistest.Name("presence-test:")
	t.Cleanup(func() {
		ctx := context.Background()
		rdb.Del(ctx, keys(topic)...)
		rdb.Del(ctx, publish.StreamKey(TopicPrefix+topic), publish.MetaKey(TopicPrefix+topic))
	})
	return topic
}

// is waits until tr counts streams and exactly uids on topic.
func is(t *testing.T, tr *Tracker, topic string, streams int, uids ...string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d streams of %v on %s", streams, uids, topic), func() bool {
		s, err := tr.Count(context.Background(), topic)
		if err != nil {
			t.Fatal(err)
		}
		return s.Streams == streams && slices.Equal(s.UIDs, uids)
	})
}

func TestCountsAcrossInstances(t *testing.T) {
	rdb := redistest.Client(t)
	topic, other := topicFor(t, rdb), topicFor(t, rdb)
	a := newTracker(t, rdb, Config{Lease: 3 * time.Second})
	b := newTracker(t, rdb, Config{Lease: 3 * time.Second})

	is(t, a, topic, 0)
	leaveA1 := a.Join("alice", []string{topic, other})
	leaveA2 := a.Join("alice", []string{topic})
	leaveB := b.Join("bob", []string{topic})
	leaveAnon := b.Join("", []string{topic})
	is(t, b, topic, 4, "alice", "bob")
	is(t, a, other, 1, "alice")

	leaveA1()
	leaveA1() // once only
	is(t, a, topic, 3, "alice", "bob")
	is(t, a, other, 0)
	leaveA2()
	leaveAnon()
	is(t, a, topic, 1, "bob")
	leaveB()
	is(t, a, topic, 0)
}

// A share that is not renewed drops out once its lease runs out; renewed ones stay.
func TestADeadInstanceDropsOutWithinItsLease(t *testing.T) {
	rdb := redistest.Client(t)
	topic := topicFor(t, rdb)
	live := newTracker(t, rdb, Config{Lease: time.Second})
	live.Join("alice", []string{topic})
	// An instance that wrote its share, then died: nobody renews it.
	if err := writeScript.Run(context.Background(), rdb, keys(topic), 1000, "dead", "bob", 2).Err(); err != nil {
		t.Fatal(err)
	}
	is(t, live, topic, 3, "alice", "bob")
	start := time.Now()
	is(t, live, topic, 1, "alice")
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the dead share stood %v, past its 1s lease", took)
	}
	// Three leases on, the live share is still renewed.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if s, err := live.Count(context.Background(), topic); err != nil || s.Streams != 1 {
			t.Fatalf("live share: %+v %v", s, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestCloseTakesTheSharesOut(t *testing.T) {
	rdb := redistest.Client(t)
	topic := topicFor(t, rdb)
	a := New(rdb, Config{Lease: time.Hour})
	reader := newTracker(t, rdb, Config{})
	a.Join("alice", []string{topic})
	is(t, reader, topic, 1, "alice")
	a.Close()
	is(t, reader, topic, 0)
}

// presenceEvent is one event of a companion topic.
type presenceEvent struct{ event, uid, topic string }

func events(t *testing.T, rdb redis.UniversalClient, topic string) []presenceEvent {
	t.Helper()
	entries, err := rdb.XRange(context.Background(), publish.StreamKey(TopicPrefix+topic), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []presenceEvent
	for _, e := range entries {
		var d struct{ UID, Topic string }
		data, _ := e.Values["d"].(string)
		if err := json.Unmarshal([]byte(data), &d); err != nil {
			t.Fatalf("event data %q: %v", data, err)
		}
		name, _ := e.Values["e"].(string)
		out = append(out, presenceEvent{name, d.UID, d.Topic})
	}
	return out
}

// Join and leave tell a uid's first stream across instances and its last one.
func TestJoinAndLeaveEventsAcrossInstances(t *testing.T) {
	rdb := redistest.Client(t)
	topic := topicFor(t, rdb)
	pub := publish.New(rdb, publish.Options{})
	a := newTracker(t, rdb, Config{Lease: 3 * time.Second, Events: true, Publisher: pub})
	b := newTracker(t, rdb, Config{Lease: 3 * time.Second, Events: true, Publisher: pub})

	got := func(want ...presenceEvent) {
		t.Helper()
		waitFor(t, fmt.Sprintf("events %v", want), func() bool { return slices.Equal(events(t, rdb, topic), want) })
	}
	leaveA := a.Join("alice", []string{topic})
	got(presenceEvent{Join, "alice", topic})
	leaveB := b.Join("alice", []string{topic})
	anon := b.Join("", []string{topic})
	is(t, a, topic, 3, "alice")
	leaveA()
	is(t, a, topic, 2, "alice")
	anon()
	leaveB()
	got(presenceEvent{Join, "alice", topic}, presenceEvent{Leave, "alice", topic})
}

// A dead instance's users leave when their lease has run out and the topic is next written.
func TestLeaveEventOfADeadInstance(t *testing.T) {
	rdb := redistest.Client(t)
	topic := topicFor(t, rdb)
	pub := publish.New(rdb, publish.Options{})
	live := newTracker(t, rdb, Config{Lease: time.Second, Events: true, Publisher: pub})
	if err := writeScript.Run(context.Background(), rdb, keys(topic), 1000, "dead", "bob", 1).Err(); err != nil {
		t.Fatal(err)
	}
	live.Join("alice", []string{topic}) // its renewals reap bob
	waitFor(t, "bob to leave", func() bool {
		for _, ev := range events(t, rdb, topic) {
			if ev == (presenceEvent{Leave, "bob", topic}) {
				return true
			}
		}
		return false
	})
}
