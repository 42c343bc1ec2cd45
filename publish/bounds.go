package publish

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// HistoryKey is the hash where the service records the history bounds that every Publisher
// sharing its Redis applies (fields "size" and "ttl_ms"): one writer's options must not trim
// a topic's history shorter, or keep it longer, than the service promises its readers.
var HistoryKey = Key("history")

// BoundsRefresh is how long a Publisher applies what it last read of HistoryKey before it
// reads it again.
const BoundsRefresh = 5 * time.Second

// bounds are the history bounds an append applies.
type bounds struct {
	size  int64
	ttlMs string
	read  time.Time // when HistoryKey was read
}

func boundsOf(o Options) bounds {
	return bounds{size: o.HistorySize, ttlMs: strconv.FormatInt(o.HistoryTTL.Milliseconds(), 10)}
}

// boundsCache holds the bounds a Publisher applies.
type boundsCache struct {
	cur     atomic.Pointer[bounds]
	reading sync.Mutex // held by the one caller reading HistoryKey
}

// bounds returns the recorded bounds (p's own options when none are recorded), read from
// Redis at most once per BoundsRefresh; while one caller reads them, others go on with the
// previous ones.
func (p *Publisher) bounds(ctx context.Context) (bounds, error) {
	b := p.cache.cur.Load()
	if b != nil && time.Since(b.read) < BoundsRefresh {
		return *b, nil
	}
	if b != nil {
		if !p.cache.reading.TryLock() {
			return *b, nil
		}
	} else {
		p.cache.reading.Lock()
		if b = p.cache.cur.Load(); b != nil { // read by another caller meanwhile
			p.cache.reading.Unlock()
			return *b, nil
		}
	}
	defer p.cache.reading.Unlock()
	nb, err := p.readBounds(ctx)
	if err != nil {
		if b == nil {
			return bounds{}, err
		}
		// Keep the last bounds read (not this publisher's own, which may differ) and try
		// again after BoundsRefresh.
		nb = *b
	}
	nb.read = time.Now()
	p.cache.cur.Store(&nb)
	return nb, nil
}

// readBounds reads HistoryKey. With nothing recorded, p applies its own options; a
// Publisher of the service (Options.Record) records them again, as after a Redis restart.
func (p *Publisher) readBounds(ctx context.Context) (bounds, error) {
	o, ok, err := HistoryBounds(ctx, p.rdb)
	switch {
	case err != nil:
		return bounds{}, fmt.Errorf("read history bounds: %w", err)
	case ok:
		return boundsOf(o), nil
	case p.opts.Record:
		if err := p.RecordHistory(ctx); err != nil {
			return bounds{}, err
		}
	}
	return boundsOf(p.opts), nil
}

// RecordHistory records p's HistorySize and HistoryTTL in Redis (HistoryKey), as the bounds
// every Publisher on this Redis applies from its next read of them (within BoundsRefresh).
// The service records its Stream settings when it starts.
func (p *Publisher) RecordHistory(ctx context.Context) error {
	own := boundsOf(p.opts)
	err := p.rdb.HSet(ctx, HistoryKey, "size", own.size, "ttl_ms", own.ttlMs).Err()
	if err != nil {
		return fmt.Errorf("record history bounds: %w", err)
	}
	own.read = time.Now()
	p.cache.cur.Store(&own)
	return nil
}

// HistoryBounds returns the bounds recorded in Redis, and ok false when none are.
func HistoryBounds(ctx context.Context, rdb redis.UniversalClient) (o Options, ok bool, err error) {
	vals, err := rdb.HMGet(ctx, HistoryKey, "size", "ttl_ms").Result()
	if err != nil {
		return Options{}, false, err
	}
	size, _ := vals[0].(string)
	ttl, _ := vals[1].(string)
	if size == "" || ttl == "" {
		return Options{}, false, nil
	}
	n, err1 := strconv.ParseInt(size, 10, 64)
	ms, err2 := strconv.ParseInt(ttl, 10, 64)
	if err1 != nil || err2 != nil || n < 1 || ms < 1 {
		return Options{}, false, fmt.Errorf("%s holds size %q, ttl_ms %q", HistoryKey, size, ttl)
	}
	return Options{HistorySize: n, HistoryTTL: time.Duration(ms) * time.Millisecond}, true, nil
}
