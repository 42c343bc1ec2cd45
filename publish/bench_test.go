package publish_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/publish"
)

// BenchmarkPublishParallel publishes from many goroutines at once through one Publisher, as
// a busy instance (or a backend using this package) does, against the Redis at REDIS_ADDR:
// concurrent appends share round trips (see combiner). Run it against a Redis of your own:
//
//	REDIS_ADDR=127.0.0.1:6390 go test -run XXX -bench PublishParallel ./publish/
func BenchmarkPublishParallel(b *testing.B) {
	rdb := redistest.Client(b)
	p := publish.New(rdb, publish.Options{HistorySize: 1000})
	topics := make([]string, 64)
	for i := range topics {
		topics[i] = redistest.Name("bench:")
	}
	data := []byte(`{"topic":"orders/42","status":"paid","amount":1999}`)
	var next atomic.Uint64
	b.SetParallelism(16) // 16 publishers per core, like concurrent HTTP requests
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			topic := topics[next.Add(1)%uint64(len(topics))]
			if _, err := p.Publish(ctx, topic, "order", data); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	ctx := context.Background()
	for _, t := range topics {
		rdb.Del(ctx, publish.StreamKey(t), publish.MetaKey(t))
	}
}

// Concurrent publishes sharing pipelines each get their own event, in their topic's
// history, announced with the id of the event before it in that topic.
func TestConcurrentPublishesEachAppendOnce(t *testing.T) {
	rdb := redistest.Client(t)
	p := publish.New(rdb, publish.Options{})
	topics := []string{redistest.Name("conc:"), redistest.Name("conc:")}
	const per = 200
	ctx := context.Background()
	type published struct{ topic, id string }
	ids := make(chan published, 2*per)
	var wg sync.WaitGroup
	for i := 0; i < 2*per; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := p.Publish(ctx, topics[i%2], "", []byte(`1`))
			if err != nil {
				t.Error(err)
				return
			}
			ids <- published{topics[i%2], id}
		}()
	}
	wg.Wait()
	close(ids)
	// Ids are per topic: two topics may well hand out the same one.
	seen := map[published]bool{}
	for id := range ids {
		seen[id] = true
	}
	total := 0
	for _, topic := range topics {
		entries, err := rdb.XRange(ctx, publish.StreamKey(topic), "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		total += len(entries)
		last, _ := rdb.HGet(ctx, publish.MetaKey(topic), "last").Result()
		if len(entries) != per || last != entries[len(entries)-1].ID {
			t.Fatalf("%s: %d entries, last %s", topic, len(entries), last)
		}
		for _, e := range entries {
			if !seen[published{topic, e.ID}] {
				t.Fatalf("%s: entry %s was not returned to any publisher", topic, e.ID)
			}
		}
	}
	if len(seen) != total {
		t.Fatalf("%d ids returned, %d entries stored", len(seen), total)
	}
}
