// Package publish appends events to sse-api topics straight in Redis, so that any service
// (another go-zero service, a worker) can publish without an HTTP hop. Subscribers on every
// sse-api instance sharing that Redis receive the event, and can resume after it by id.
//
//	p := publish.New(rdb, publish.Options{})
//	id, err := p.Publish(ctx, "orders:42", "shipped", []byte(`{"carrier":"dhl"}`))
//	ids, err := p.PublishBatch(ctx, []publish.Event{{Topic: "orders:42", Data: []byte(`1`)}})
//
// Every writer applies the history bounds the service recorded in Redis (HistoryKey), so
// no publisher's options trim a topic's history for everyone.
package publish

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/combine"
)

// DefaultEvent is the event name used when none is given, as in the SSE standard.
const DefaultEvent = "message"

var (
	//go:embed append.lua
	appendLua string
	//go:embed publish.lua
	publishLua string

	publishScript = redis.NewScript(AppendLua + publishLua)
)

// AppendLua defines the Lua function sse_append(stream, meta, channel, maxlen, ttl_ms, event,
// data, publish_cmd), publish_cmd being AnnounceCommand's answer. Other scripts of sse-api prepend it to their own, so that whatever else they change
// in Redis and the event that announces it are committed together.
var AppendLua = appendLua

var (
	ErrInvalidTopic = errors.New("topic must match [A-Za-z0-9_.:-]{1,128}")
	ErrInvalidEvent = errors.New("event must match [A-Za-z0-9_.:-]{1,64}")
	ErrInvalidData  = errors.New("data must be one valid JSON value")
	// ErrKeyTopic refuses a topic "key:K": it mirrors the Redis key K, and is changed by
	// writing the key itself.
	ErrKeyTopic = errors.New(`topics "key:<name>" mirror Redis keys and are read-only: write the key itself`)
)

// Options bound each topic's history. They apply only while no bounds are recorded in Redis
// (HistoryKey): the service records its own when it starts, and every Publisher applies
// those instead, so that no writer trims a history its readers count on.
type Options struct {
	// HistorySize is how many events a topic keeps for resuming subscribers (default 1000).
	HistorySize int64
	// HistoryTTL is how long a topic's history lives after its last event (default 1h).
	HistoryTTL time.Duration
	// Record makes these the recorded bounds again whenever a read finds none (after a
	// Redis restart, say): the service's own Publisher sets it. See RecordHistory.
	Record bool
}

func (o Options) withDefaults() Options {
	if o.HistorySize <= 0 {
		o.HistorySize = 1000
	}
	if o.HistoryTTL <= 0 {
		o.HistoryTTL = time.Hour
	}
	return o
}

// Publisher appends events to topics. It is safe for concurrent use: concurrent appends
// share round trips to Redis (see internal/combine).
type Publisher struct {
	rdb      redis.UniversalClient
	opts     Options
	cache    boundsCache // the history bounds applied
	announce string      // see AnnounceCommand
	batch    *combine.Combiner[*appendCall]
}

// New returns a Publisher writing through rdb (standalone, Sentinel or Cluster).
func New(rdb redis.UniversalClient, opts Options) *Publisher {
	opts = opts.withDefaults()
	return &Publisher{
		rdb: rdb, opts: opts,
		announce: AnnounceCommand(rdb),
		batch:    newAppends(rdb),
	}
}

// Sharded reports whether events are announced over sharded pub/sub (SPUBLISH, SSUBSCRIBE)
// through rdb: yes for a Redis Cluster client, where a classic PUBLISH is copied to every
// node, and no for a standalone server or Sentinel. Publishers and subscribers decide it
// from the Redis they share, not from a setting of their own, so within one deployment they
// always agree.
func Sharded(rdb redis.UniversalClient) bool {
	_, cluster := rdb.(*redis.ClusterClient)
	return cluster
}

// AnnounceCommand is the command that announces events through rdb (see Sharded), as
// sse_append's publish_cmd argument: "SPUBLISH" or "PUBLISH".
func AnnounceCommand(rdb redis.UniversalClient) string {
	if Sharded(rdb) {
		return "SPUBLISH"
	}
	return "PUBLISH"
}

// Publish appends an event to topic and returns its id. event may be empty (it becomes
// "message"); data must be one valid JSON value and is delivered to subscribers as given.
// A topic "key:K" is refused (ErrKeyTopic): it mirrors a Redis key.
func (p *Publisher) Publish(ctx context.Context, topic, event string, data []byte) (string, error) {
	if err := checkEvent(Event{Topic: topic, Event: event, Data: data}); err != nil {
		return "", err
	}
	if KeyTopic(topic) {
		return "", ErrKeyTopic
	}
	if event == "" {
		event = DefaultEvent
	}
	b, err := p.bounds(ctx)
	if err != nil {
		return "", fmt.Errorf("publish to %s: %w", topic, err)
	}
	id, err := p.append(ctx,
		[]string{StreamKey(topic), MetaKey(topic)},
		[]any{Channel(topic), b.size, b.ttlMs, event, data, p.announce})
	if err != nil {
		return "", fmt.Errorf("publish to %s: %w", topic, err)
	}
	return id, nil
}
