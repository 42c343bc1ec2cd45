// Package revoke ends a user's streams on every instance, and revokes the user's tokens:
// Disconnect ends the streams on this instance and tells the others over a control
// channel in Redis (classic pub/sub, which a Redis Cluster copies to every node); with
// revoke it first stores a not-before for the user, by the Redis clock, which the one
// credential check (auth.Authenticator) reads through NotBefore, cached for a moment: a
// token, ticket or resume cookie issued before it is refused from then on.
package revoke

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/stream"
	"github.com/sseapi/sse-api/publish"
)

// Channel is the control channel every instance listens on.
var Channel = publish.Key("control")

// Key holds the not-before of user uid: milliseconds by the Redis clock.
func Key(uid string) string { return publish.Key("revoked", uid) }

// Streams are the streams of this instance (stream.Runtime).
type Streams interface {
	EndUser(uid string, why error) int
}

// Config is what a Revoker needs.
type Config struct {
	// TTL is how long a revocation stands: at least as long as the longest-lived token
	// (0: for good).
	TTL time.Duration
	// Cache is how long a not-before read from Redis is believed (default 1s).
	Cache time.Duration
}

// Revoker disconnects users and keeps their revocations.
type Revoker struct {
	rdb      redis.UniversalClient
	streams  Streams
	conf     Config
	instance string

	mu    sync.Mutex
	cache map[string]cached
	sweep int // the cache's size at which stale entries are dropped next

	ps   *redis.PubSub
	done chan struct{}
}

type cached struct {
	notBefore time.Time
	read      time.Time
}

// message is what the control channel carries.
type message struct {
	UID    string `json:"uid"`
	Revoke bool   `json:"revoke,omitempty"`
	// NotBefore is the revocation's instant (ms, Redis clock), so that the instances that
	// hear of it refuse the reconnects at once, whatever they have cached.
	NotBefore int64  `json:"notBefore,omitempty"`
	From      string `json:"from"`
}

// New listens on the control channel of rdb for the disconnects of other instances, which
// it applies to streams. Close it to stop.
func New(rdb redis.UniversalClient, streams Streams, c Config) *Revoker {
	if c.Cache <= 0 {
		c.Cache = time.Second
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	r := &Revoker{
		rdb: rdb, streams: streams, conf: c, instance: hex.EncodeToString(id),
		cache: make(map[string]cached),
		sweep: minSweep,
		done:  make(chan struct{}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.ps = rdb.Subscribe(ctx, Channel)
	// Wait for the confirmation, so that a disconnect right after start reaches this
	// instance; go-redis subscribes again by itself after any reconnection.
	if _, err := r.ps.Receive(ctx); err != nil {
		logx.Errorf("revoke: control channel not subscribed yet: %v (retrying)", err)
	}
	go r.listen()
	return r
}

// Close stops listening.
func (r *Revoker) Close() {
	_ = r.ps.Close()
	<-r.done
}

func (r *Revoker) listen() {
	defer close(r.done)
	for m := range r.ps.Channel() {
		var msg message
		if err := json.Unmarshal([]byte(m.Payload), &msg); err != nil || msg.UID == "" {
			logx.Errorf("revoke: unreadable control message")
			continue
		}
		if msg.From == r.instance {
			continue // applied already
		}
		r.apply(msg)
	}
}

// apply ends uid's streams here, after remembering the revocation so that their
// reconnects are refused.
func (r *Revoker) apply(msg message) int {
	why := stream.ErrDisconnected
	if msg.Revoke {
		why = stream.ErrRevoked
		r.remember(msg.UID, time.UnixMilli(msg.NotBefore))
	}
	return r.streams.EndUser(msg.UID, why)
}

// revokeScript stores the not-before of a user: now by the Redis clock, the same for every
// instance whatever their own clocks say.
var revokeScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
if ttl > 0 then
  redis.call('SET', KEYS[1], now, 'PX', ttl)
else
  redis.call('SET', KEYS[1], now)
end
return now
`)

// Disconnect ends every stream of uid, on this instance at once and on the others within a
// moment, and says how many it ended here. With revoke, it first refuses, from now on and
// on every instance, every credential of uid issued before now (a token issued afterwards
// works): the ended streams' reconnects are refused.
func (r *Revoker) Disconnect(ctx context.Context, uid string, revoke bool) (int, error) {
	msg := message{UID: uid, Revoke: revoke, From: r.instance}
	if revoke {
		nb, err := revokeScript.Run(ctx, r.rdb, []string{Key(uid)}, r.conf.TTL.Milliseconds()).Int64()
		if err != nil {
			return 0, fmt.Errorf("revoke %s: %w", uid, err)
		}
		msg.NotBefore = nb
	}
	n := r.apply(msg)
	payload, _ := json.Marshal(msg)
	if err := r.rdb.Publish(ctx, Channel, payload).Err(); err != nil {
		return n, fmt.Errorf("tell the other instances: %w", err)
	}
	return n, nil
}

// NotBefore is the instant before which uid's credentials are refused (zero: none), as
// Redis had it at most Config.Cache ago. It is an error when Redis cannot say: the caller
// refuses the credential then.
func (r *Revoker) NotBefore(ctx context.Context, uid string) (time.Time, error) {
	now := time.Now()
	r.mu.Lock()
	c, ok := r.cache[uid]
	r.mu.Unlock()
	if ok && now.Sub(c.read) < r.conf.Cache {
		return c.notBefore, nil
	}
	var nb time.Time
	raw, err := r.rdb.Get(ctx, Key(uid)).Result()
	switch {
	case errors.Is(err, redis.Nil):
	case err != nil:
		return time.Time{}, err
	default:
		ms, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("not-before of %s: %q", uid, raw)
		}
		nb = time.UnixMilli(ms)
	}
	r.store(uid, nb, now)
	return nb, nil
}

// remember takes a revocation heard of on the control channel, without waiting for the
// cache to run out.
func (r *Revoker) remember(uid string, nb time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.cache[uid]; ok && c.notBefore.After(nb) {
		nb = c.notBefore
	}
	r.cache[uid] = cached{notBefore: nb, read: time.Now()}
}

// minSweep is the least cache size at which stale entries are dropped; the next sweep
// comes at twice what a sweep left, so sweeping costs O(1) per entry.
const minSweep = 4096

func (r *Revoker) store(uid string, nb, read time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cache) >= r.sweep {
		for k, c := range r.cache {
			if read.Sub(c.read) >= r.conf.Cache {
				delete(r.cache, k)
			}
		}
		r.sweep = max(minSweep, 2*len(r.cache))
	}
	if c, ok := r.cache[uid]; ok && read.Sub(c.read) < r.conf.Cache && c.notBefore.After(nb) {
		nb = c.notBefore // a revocation heard of meanwhile
	}
	r.cache[uid] = cached{notBefore: nb, read: read}
}
