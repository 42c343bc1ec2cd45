package publish_test

import (
	"context"
	"testing"
	"time"

	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/publish"
)

// The bounds recorded in Redis are what every publisher applies, whatever its own options:
// a service's publisher records them, and one built elsewhere (another process) follows.
// A Redis of the test's own: the bounds are one per Redis.
func TestRecordedHistoryBoundsApplyToEveryPublisher(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{})
	ctx := context.Background()
	publishN := func(p *publish.Publisher, topic string, n int) {
		t.Helper()
		for range n {
			if _, err := p.Publish(ctx, topic, "", []byte(`1`)); err != nil {
				t.Fatal(err)
			}
		}
	}
	xlen := func(topic string) int64 {
		t.Helper()
		n, err := srv.Client(t).XLen(ctx, publish.StreamKey(topic)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Nothing recorded: a publisher applies its own options.
	before := publish.New(srv.Client(t), publish.Options{HistorySize: 100})
	publishN(before, "own", 5)
	if n := xlen("own"); n != 5 {
		t.Fatalf("with nothing recorded, %d kept, want 5", n)
	}
	if _, ok, err := publish.HistoryBounds(ctx, srv.Client(t)); ok || err != nil {
		t.Fatalf("bounds recorded by a publisher that does not record: %v", err)
	}

	service := publish.New(srv.Client(t), publish.Options{HistorySize: 3, HistoryTTL: time.Minute, Record: true})
	if err := service.RecordHistory(ctx); err != nil {
		t.Fatal(err)
	}
	if o, ok, err := publish.HistoryBounds(ctx, srv.Client(t)); !ok || err != nil || o.HistorySize != 3 || o.HistoryTTL != time.Minute {
		t.Fatalf("recorded %+v %v %v", o, ok, err)
	}

	other := publish.New(srv.Client(t), publish.Options{HistorySize: 100, HistoryTTL: time.Hour})
	publishN(other, "other", 5)
	if n := xlen("other"); n != 3 {
		t.Fatalf("another publisher kept %d events, want the recorded 3", n)
	}
	if ttl, _ := srv.Client(t).PTTL(ctx, publish.StreamKey("other")).Result(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("history lives %v, want the recorded minute at most", ttl)
	}
	events := make([]publish.Event, 5)
	for i := range events {
		events[i] = publish.Event{Topic: "batch", Data: []byte(`1`)}
	}
	if _, err := other.PublishBatch(ctx, events); err != nil {
		t.Fatal(err)
	}
	if n := xlen("batch"); n != 3 {
		t.Fatalf("a batch kept %d events, want the recorded 3", n)
	}
}

// The service's publisher records its bounds again when they are missing (a Redis that
// restarted empty); a publisher of another service never does.
func TestTheServicesPublisherRecordsItsBoundsWhenMissing(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{})
	ctx := context.Background()
	other := publish.New(srv.Client(t), publish.Options{HistorySize: 7})
	if _, err := other.Publish(ctx, "t", "", []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := publish.HistoryBounds(ctx, srv.Client(t)); ok {
		t.Fatal("recorded by a publisher without Record")
	}
	service := publish.New(srv.Client(t), publish.Options{HistorySize: 9, Record: true})
	if _, err := service.Publish(ctx, "t", "", []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	if o, ok, err := publish.HistoryBounds(ctx, srv.Client(t)); !ok || err != nil || o.HistorySize != 9 || o.HistoryTTL != time.Hour {
		t.Fatalf("recorded %+v %v %v, want size 9 and the default TTL", o, ok, err)
	}
}
