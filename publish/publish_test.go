package publish_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/publish"
)

func TestPublishAppendsToTheTopicHistory(t *testing.T) {
	// A Redis of its own: bounds recorded in a shared one (publish.HistoryKey) would apply.
	rdb := redistest.StartServer(t, redistest.Options{}).Client(t)
	p := publish.New(rdb, publish.Options{HistorySize: 2})
	topic := redistest.Name("pkg:")
	ctx := context.Background()
	var ids []string
	for _, data := range []string{`1`, `{"b":2,"a":1}`, `"three"`} {
		id, err := p.Publish(ctx, topic, "", []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	entries, err := rdb.XRange(ctx, publish.StreamKey(topic), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].ID != ids[1] || entries[0].Values["d"] != `{"b":2,"a":1}` || entries[1].Values["e"] != publish.DefaultEvent {
		t.Fatalf("history = %+v", entries)
	}
	meta, _ := rdb.HGetAll(ctx, publish.MetaKey(topic)).Result()
	if meta["last"] != ids[2] || meta["floor"] != ids[0] {
		t.Fatalf("meta = %v, want last %s and floor %s (the trimmed one)", meta, ids[2], ids[0])
	}
}

func TestPublishRefusesBadInput(t *testing.T) {
	p := publish.New(redistest.Client(t), publish.Options{})
	ctx := context.Background()
	for _, c := range []struct {
		topic, event, data string
		want               error
	}{
		{"a b", "", `1`, publish.ErrInvalidTopic},
		{"", "", `1`, publish.ErrInvalidTopic},
		{"{tag}", "", `1`, publish.ErrInvalidTopic},
		{"ok", "bad\nname", `1`, publish.ErrInvalidEvent},
		{"ok", "", `{"unterminated"`, publish.ErrInvalidData},
		{"ok", "", ``, publish.ErrInvalidData},
	} {
		if _, err := p.Publish(ctx, c.topic, c.event, []byte(c.data)); !errors.Is(err, c.want) {
			t.Errorf("Publish(%q, %q, %q) = %v, want %v", c.topic, c.event, c.data, err, c.want)
		}
	}
}

// A topic "key:K" mirrors the Redis key K: publishing to it would mix events nobody wrote
// into the key's, so the package refuses it and writes nothing.
func TestPublishRefusesKeyTopics(t *testing.T) {
	rdb := redistest.Client(t)
	p := publish.New(rdb, publish.Options{})
	ctx := context.Background()
	topic := redistest.Name("key:qrcode:")
	if _, err := p.Publish(ctx, topic, "state", []byte(`{"status":"scanned"}`)); !errors.Is(err, publish.ErrKeyTopic) {
		t.Fatalf("Publish(%q) = %v, want ErrKeyTopic", topic, err)
	}
	if n := rdb.Exists(ctx, publish.StreamKey(topic), publish.MetaKey(topic)).Val(); n != 0 {
		t.Fatalf("%d keys written for a refused topic", n)
	}
	if !publish.KeyTopic(topic) || publish.KeyTopic("keys:1") || publish.KeyTopic("news:key:1") {
		t.Fatal("KeyTopic")
	}
	if _, err := p.Publish(ctx, redistest.Name("keys:"), "", []byte(`1`)); err != nil {
		t.Fatalf("a topic that only starts like one is refused: %v", err)
	}
}

func TestTheServicesOwnEventNamesAreReserved(t *testing.T) {
	for _, name := range []string{"reset", "error"} {
		if publish.ValidEvent(name) {
			t.Errorf("%q accepted: clients could not tell it from the service's own", name)
		}
	}
	if !publish.ValidEvent("resets") || !publish.ValidEvent("order.error") {
		t.Error("names that only contain a reserved one are refused")
	}
}
