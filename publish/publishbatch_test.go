package publish_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/publish"
)

// announced reads n announcements from sub: "<prev> <id> <event>\n<data>".
func announced(t *testing.T, sub *redis.PubSub, n int) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	ch := sub.Channel()
	for range n {
		select {
		case m := <-ch:
			out[m.Channel] = append(out[m.Channel], m.Payload)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d announcements of %d arrived: %v", len(out), n, out)
		}
	}
	return out
}

func entries(t *testing.T, rdb redis.UniversalClient, topic string) []redis.XMessage {
	t.Helper()
	got, err := rdb.XRange(context.Background(), publish.StreamKey(topic), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// A batch gives each event the id, history entry and announcement a single publish would:
// ids in request order, each topic's events in order, announced with the id before them.
func TestPublishBatchKeepsOrderPerTopicAndChainsAnnouncements(t *testing.T) {
	rdb := redistest.Client(t)
	p := publish.New(rdb, publish.Options{})
	a, b := redistest.Name("batch:a"), redistest.Name("batch:b")
	ctx := context.Background()
	sub := rdb.Subscribe(ctx, publish.Channel(a), publish.Channel(b))
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	first, err := p.Publish(ctx, a, "", []byte(`0`))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := p.PublishBatch(ctx, []publish.Event{
		{Topic: a, Data: []byte(`1`)},
		{Topic: b, Event: "x", Data: []byte(`{"b":1}`)},
		{Topic: a, Event: "y", Data: []byte(`2`)},
		{Topic: b, Data: []byte(`"b2"`)},
		{Topic: a, Data: []byte(`3`)},
	})
	if err != nil || len(ids) != 5 {
		t.Fatalf("ids %v, %v", ids, err)
	}
	got := entries(t, rdb, a)
	want := []struct{ id, event, data string }{{first, "message", "0"}, {ids[0], "message", "1"}, {ids[2], "y", "2"}, {ids[4], "message", "3"}}
	if len(got) != len(want) {
		t.Fatalf("history of a: %+v", got)
	}
	for i, w := range want {
		if got[i].ID != w.id || got[i].Values["e"] != w.event || got[i].Values["d"] != w.data {
			t.Fatalf("history of a, entry %d: %+v, want %+v", i, got[i], w)
		}
	}
	if got := entries(t, rdb, b); len(got) != 2 || got[0].ID != ids[1] || got[1].ID != ids[3] || got[0].Values["e"] != "x" {
		t.Fatalf("history of b: %+v", got)
	}
	if last, _ := rdb.HGet(ctx, publish.MetaKey(a), "last").Result(); last != ids[4] {
		t.Fatalf("a's last = %s, want %s", last, ids[4])
	}
	msgs := announced(t, sub, 6)
	wantA := []string{"0-0 " + first + " message\n0", first + " " + ids[0] + " message\n1", ids[0] + " " + ids[2] + " y\n2", ids[2] + " " + ids[4] + " message\n3"}
	wantB := []string{"0-0 " + ids[1] + " x\n{\"b\":1}", ids[1] + " " + ids[3] + " message\n\"b2\""}
	if strings.Join(msgs[publish.Channel(a)], "|") != strings.Join(wantA, "|") || strings.Join(msgs[publish.Channel(b)], "|") != strings.Join(wantB, "|") {
		t.Fatalf("announcements %q, want a %q and b %q", msgs, wantA, wantB)
	}
}

func TestPublishBatchRefusesABadEventAndWritesNothing(t *testing.T) {
	rdb := redistest.Client(t)
	p := publish.New(rdb, publish.Options{})
	a := redistest.Name("batch:bad")
	ctx := context.Background()
	for i, c := range []struct {
		bad  publish.Event
		want error
	}{
		{publish.Event{Topic: "a b", Data: []byte(`1`)}, publish.ErrInvalidTopic},
		{publish.Event{Topic: a, Event: "error", Data: []byte(`1`)}, publish.ErrInvalidEvent},
		{publish.Event{Topic: a, Data: []byte(`{`)}, publish.ErrInvalidData},
	} {
		ids, err := p.PublishBatch(ctx, []publish.Event{{Topic: a, Data: []byte(`1`)}, {Topic: a, Data: []byte(`2`)}, c.bad})
		var inv *publish.InvalidEventError
		if !errors.As(err, &inv) || inv.Index != 2 || !errors.Is(err, c.want) || ids != nil {
			t.Fatalf("case %d: %v %v, want event 2 refused with %v", i, ids, err, c.want)
		}
	}
	if n, _ := rdb.Exists(ctx, publish.StreamKey(a), publish.MetaKey(a)).Result(); n != 0 {
		t.Fatalf("a refused batch wrote %d keys", n)
	}
}

// A key that cannot take its topic's events refuses the whole batch before any is written,
// in a standalone Redis where the batch is one script.
func TestPublishBatchIsAllOrNothing(t *testing.T) {
	rdb := redistest.Client(t)
	p := publish.New(rdb, publish.Options{})
	a, b := redistest.Name("batch:ok"), redistest.Name("batch:broken")
	ctx := context.Background()
	if err := rdb.Set(ctx, publish.StreamKey(b), "not a stream", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	ids, err := p.PublishBatch(ctx, []publish.Event{{Topic: a, Data: []byte(`1`)}, {Topic: b, Data: []byte(`2`)}, {Topic: a, Data: []byte(`3`)}})
	if err == nil || ids != nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("ids %v, err %v; want a WRONGTYPE refusal", ids, err)
	}
	if n, _ := rdb.Exists(ctx, publish.StreamKey(a), publish.MetaKey(a), publish.MetaKey(b)).Result(); n != 0 {
		t.Fatalf("a refused batch wrote %d keys", n)
	}
}

// In a Cluster each topic is written by a script on its own node: the events of a topic
// are all written or none, and an error says which topics were.
func TestPublishBatchInClusterNamesWhatWasWritten(t *testing.T) {
	c := redistest.StartCluster(t)
	rdb := c.Client(t)
	p := publish.New(rdb, publish.Options{})
	ctx := context.Background()
	a := redistest.Name("batch:c")
	var b string
	for b == "" || c.MasterOf(t, publish.StreamKey(b)) == c.MasterOf(t, publish.StreamKey(a)) {
		b = redistest.Name("batch:c")
	}
	batch := func(x, y string) []publish.Event {
		return []publish.Event{{Topic: x, Data: []byte(`1`)}, {Topic: y, Data: []byte(`2`)}, {Topic: x, Data: []byte(`3`)}}
	}
	ids, err := p.PublishBatch(ctx, batch(a, b))
	if err != nil || len(ids) != 3 {
		t.Fatalf("ids %v, %v", ids, err)
	}
	if got := entries(t, rdb, a); len(got) != 2 || got[0].ID != ids[0] || got[1].ID != ids[2] {
		t.Fatalf("history of a: %+v", got)
	}

	broken := b + "x"
	for c.MasterOf(t, publish.StreamKey(broken)) == c.MasterOf(t, publish.StreamKey(a)) {
		broken += "x"
	}
	if err := rdb.Set(ctx, publish.StreamKey(broken), "not a stream", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	ids, err = p.PublishBatch(ctx, batch(a, broken))
	var partial *publish.PartialError
	if !errors.As(err, &partial) || len(partial.Written) != 1 || partial.Written[0] != a ||
		len(partial.Failed) != 1 || partial.Failed[0] != broken {
		t.Fatalf("err %v, want a's events written and not %s's", err, broken)
	}
	// Written before the first event that was not: the first only.
	if len(ids) != 1 || partial.IDs[0] != ids[0] || partial.IDs[1] != "" || partial.IDs[2] == "" {
		t.Fatalf("ids %v, partial ids %v", ids, partial.IDs)
	}
	if got := entries(t, rdb, a); len(got) != 4 || got[3].ID != partial.IDs[2] {
		t.Fatalf("history of a: %+v", got)
	}
}
