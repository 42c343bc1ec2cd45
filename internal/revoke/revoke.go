// Package revoke ends a user's streams on every instance, and revokes the user's tokens:
// Disconnect ends the streams on this instance and tells the others over a control
// channel in Redis (classic pub/sub, which a Redis Cluster copies to every node); with
// revoke it first stores a not-before for the user, by the Redis clock, which the one
// credential check (auth.Authenticator) reads through NotBefore, cached for a moment: a
// token, ticket or resume cookie issued before it is refused from then on.
//
// Pub/sub keeps nothing: a message told while an instance's subscription is down never
// reaches it. So each message is also kept for Config.Replay in a capped Redis stream
// (LogKey), written by the script that publishes it; after every (re)subscription an
// instance reads what the log holds within that window and applies what it has not heard
// yet, each message once (by its random id), to the streams opened before the message.
// Then it reads the not-befores of the users with streams open there again: a revocation
// told longer ago than the log keeps is still in Redis, and ends the streams opened before it.
package revoke

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/combine"
	"github.com/sseapi/sse-api/internal/metrics"
	"github.com/sseapi/sse-api/internal/stream"
	"github.com/sseapi/sse-api/publish"
)

// Channel is the control channel every instance listens on.
var Channel = publish.Key("control")

// LogKey is the Redis stream that keeps the control channel's messages for Config.Replay.
// One key: in a Redis Cluster it lives in one slot, and the script that appends to it
// publishes on Channel, which the Cluster copies to every node.
var LogKey = publish.Key("control", "log")

// Key holds the not-before of user uid: milliseconds by the Redis clock.
func Key(uid string) string { return publish.Key("revoked", uid) }

// Streams are the streams of this instance (stream.Runtime).
type Streams interface {
	EndUser(uid string, why error) int
	// EndUserOpenedBefore ends those of uid's streams opened before before (this
	// instance's clock): what a message heard late was told for.
	EndUserOpenedBefore(uid string, why error, before time.Time) int
	// Users are the users with streams open here.
	Users() []string
}

// Config is what a Revoker needs.
type Config struct {
	// TTL is how long a revocation stands: at least as long as the longest-lived token
	// (0: for good).
	TTL time.Duration
	// Cache is how long a not-before read from Redis is believed (default 1s).
	Cache time.Duration
	// Replay is how long a disconnect is kept in Redis (LogKey) for the instances whose
	// control subscription is down when it is told: one that subscribes again within it
	// ends the streams the disconnect was for. 0: nothing is kept, and a disconnect told
	// while an instance's subscription is down never reaches that instance's streams (a
	// revocation does, from its not-before, once the subscription is back).
	Replay time.Duration

	caughtUp func() // tests: called after each successful catch-up (replay and recheck)
}

// Stats count the control messages of the other instances that this one took.
type Stats struct {
	// Live were heard on the channel, Replayed read from the log after a (re)subscription,
	// both applied (ending the streams they were for, if any are open here).
	Live, Replayed int64
	// Duplicates were heard again (on the channel and in the log, or twice in the log)
	// and not applied again.
	Duplicates int64
	// CatchUps are the replays of the log done, one after every (re)subscription.
	CatchUps int64
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
	// reads shares round trips among concurrent reads of not-befores: when thousands of
	// clients reconnect at once, each brings a user to check.
	reads *combine.Combiner[*read]

	ps   *redis.PubSub
	done chan struct{}
	// stop cancels a replay under way at Close.
	ctx  context.Context
	stop context.CancelFunc

	// heard holds the ids of the messages taken (by the listener alone) with when they
	// were first heard, for as long as the log may hand them out again.
	heard      map[string]time.Time
	heardSweep int
	// logReplayed: the log was replayed since the last subscription (the listener alone).
	logReplayed bool

	live, replayed, duplicates, catchUps atomic.Int64
}

// read is one not-before read from Redis.
type read struct {
	uid string
	raw string
	err error
}

// sendReads reads the batch's not-befores in one pipeline (a Cluster client splits it by
// node).
func sendReads(ctx context.Context, rdb redis.UniversalClient, batch []*read) {
	if len(batch) == 1 {
		batch[0].raw, batch[0].err = rdb.Get(ctx, Key(batch[0].uid)).Result()
		return
	}
	cmds := make([]*redis.StringCmd, len(batch))
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, b := range batch {
			cmds[i] = p.Get(ctx, Key(b.uid))
		}
		return nil
	})
	for i, b := range batch {
		b.raw, b.err = cmds[i].Result()
	}
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
	// ID is random, the same on the channel and in the log: an instance applies a message
	// once however often it hears of it. Empty from instances that keep no log.
	ID string `json:"id,omitempty"`
}

// New listens on the control channel of rdb for the disconnects of other instances, which
// it applies to streams. Close it to stop.
func New(rdb redis.UniversalClient, streams Streams, c Config) *Revoker {
	if c.Cache <= 0 {
		c.Cache = time.Second
	}
	if c.Replay < 0 {
		c.Replay = 0
	}
	r := &Revoker{
		rdb: rdb, streams: streams, conf: c, instance: randomID(),
		cache:      make(map[string]cached),
		sweep:      minSweep,
		done:       make(chan struct{}),
		heard:      make(map[string]time.Time),
		heardSweep: minSweep,
	}
	r.reads = &combine.Combiner[*read]{
		Send: func(ctx context.Context, batch []*read) { sendReads(ctx, rdb, batch) },
	}
	r.ctx, r.stop = context.WithCancel(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.ps = rdb.Subscribe(ctx, Channel)
	// Wait for the confirmation, so that a disconnect right after start reaches this
	// instance; go-redis subscribes again by itself after any reconnection.
	if _, err := r.ps.Receive(ctx); err != nil {
		logx.Errorf("revoke: control channel not subscribed yet: %v (retrying)", err)
	}
	// With the subscriptions: each one, after a reconnection, is when to replay the log.
	go r.listen(r.ps.ChannelWithSubscriptions())
	return r
}

func randomID() string {
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	return hex.EncodeToString(id)
}

// Close stops listening.
func (r *Revoker) Close() {
	r.stop()
	_ = r.ps.Close()
	<-r.done
}

// Stats says what this instance took from the others so far.
func (r *Revoker) Stats() Stats {
	return Stats{
		Live: r.live.Load(), Replayed: r.replayed.Load(),
		Duplicates: r.duplicates.Load(), CatchUps: r.catchUps.Load(),
	}
}

// replayRetry is how soon a replay of the log that failed (Redis not answering yet) is
// tried again.
const replayRetry = time.Second

func (r *Revoker) listen(ch <-chan any) {
	defer close(r.done)
	// The subscription confirmed (or not) in New is the first to replay after: a message
	// told before it is in the log.
	behind := true
	failing := false
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		if behind {
			switch err := r.catchUp(); {
			case err == nil:
				behind = false
				if failing {
					logx.Info("revoke: caught up with the control channel")
				}
				failing = false
				if r.conf.Replay > 0 {
					r.catchUps.Add(1)
					metrics.ControlCatchUps.Inc()
				}
				if r.conf.caughtUp != nil {
					r.conf.caughtUp()
				}
			case r.ctx.Err() != nil:
				return // closing
			default:
				if !failing {
					logx.Errorf("revoke: cannot catch up after subscribing to the control channel: %v (retrying every %v)", err, replayRetry)
				}
				failing = true
				retry.Reset(replayRetry)
			}
		}
		select {
		case m, ok := <-ch:
			if !ok {
				return
			}
			switch m := m.(type) {
			case *redis.Subscription:
				// Subscribed again after a reconnection: what was told meanwhile is in the
				// log only, and in the not-befores.
				if m.Kind == "subscribe" {
					behind, r.logReplayed = true, false
				}
			case *redis.Message:
				r.hear(m.Payload, time.Time{})
			}
		case <-retry.C:
		}
	}
}

// hear takes a message of another instance: on the channel (before zero: for every
// stream of its user), or from the log (for the streams opened before before). It is
// applied once, however often it is heard.
func (r *Revoker) hear(payload string, before time.Time) {
	var msg message
	if err := json.Unmarshal([]byte(payload), &msg); err != nil || msg.UID == "" {
		logx.Errorf("revoke: unreadable control message")
		return
	}
	if msg.From == r.instance {
		return // applied already
	}
	if msg.ID != "" && r.conf.Replay > 0 {
		if _, ok := r.heard[msg.ID]; ok {
			r.duplicates.Add(1)
			metrics.ControlMessages.WithLabelValues("duplicate").Inc()
			return
		}
		r.note(msg.ID)
	}
	if before.IsZero() {
		r.live.Add(1)
		metrics.ControlMessages.WithLabelValues("live").Inc()
		r.apply(msg, before)
		return
	}
	r.replayed.Add(1)
	metrics.ControlMessages.WithLabelValues("replayed").Inc()
	if n := r.apply(msg, before); n > 0 {
		logx.Infof("revoke: a disconnect heard late ended %d streams", n)
	}
}

// note remembers a message's id for as long as the log may hand it out again: Replay by
// the Redis clock, doubled for the clocks' drift and the replay's own time.
func (r *Revoker) note(id string) {
	now := time.Now()
	if len(r.heard) >= r.heardSweep {
		for k, at := range r.heard {
			if now.Sub(at) > 2*r.conf.Replay {
				delete(r.heard, k)
			}
		}
		r.heardSweep = max(minSweep, 2*len(r.heard))
	}
	r.heard[id] = now
}

// apply ends uid's streams here (those opened before before, unless it is zero), after
// remembering the revocation so that their reconnects are refused.
func (r *Revoker) apply(msg message, before time.Time) int {
	why := stream.ErrDisconnected
	if msg.Revoke {
		why = stream.ErrRevoked
		r.remember(msg.UID, time.UnixMilli(msg.NotBefore))
	}
	if before.IsZero() {
		return r.streams.EndUser(msg.UID, why)
	}
	return r.streams.EndUserOpenedBefore(msg.UID, why, before)
}

// replayPage is how many messages of the log one read returns.
const replayPage = 256

// readScript reads the log from ARGV[1] (an exclusive start; empty: Replay ago, by the
// Redis clock), with the Redis clock's now, so that the age of each message is measured on
// one clock whatever this instance's says.
var readScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local from = ARGV[1]
if from == '' then
  from = string.format('%.0f', now - tonumber(ARGV[2]))
end
return {now, redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', ARGV[3])}
`)

// catchUp applies what the log holds within Replay and this instance has not heard, each
// message to the streams opened before it was told, then reads the not-befores of the
// users with streams here again (recheck). A replay that succeeded is not done again when
// the recheck fails and is retried.
func (r *Revoker) catchUp() error {
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	if r.conf.Replay > 0 && !r.logReplayed {
		if err := r.replay(ctx); err != nil {
			return err
		}
		r.logReplayed = true
	}
	return r.recheck(ctx)
}

// recheckPage is how many not-befores one round trip of recheck reads.
const recheckPage = 512

// ageScript reads a not-before with its node's clock: the revocation's age is measured on
// the clock that stamped it (in a Cluster, TIME elsewhere would be another node's).
const ageScript = `
local nb = redis.call('GET', KEYS[1])
if not nb then return false end
local t = redis.call('TIME')
return {tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), nb}
`

// recheck ends the streams here opened before their user's not-before: the revocations
// told while this instance's link was down for longer than the log keeps them (or with
// no log at all) are still in Redis for Config.TTL. A disconnect without revocation keeps
// nothing beyond the log: one told that long ago is lost, and its user's streams stay.
// A read that fails is reported after the others are applied.
func (r *Revoker) recheck(ctx context.Context) error {
	uids := r.streams.Users()
	var firstErr error
	for len(uids) > 0 {
		page := uids[:min(recheckPage, len(uids))]
		uids = uids[len(page):]
		cmds := make([]*redis.Cmd, len(page))
		_, _ = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, uid := range page {
				cmds[i] = p.Eval(ctx, ageScript, []string{Key(uid)})
			}
			return nil
		})
		read := time.Now()
		for i, cmd := range cmds {
			uid := page[i]
			res, err := cmd.Slice()
			if errors.Is(err, redis.Nil) {
				continue // not revoked
			}
			var now, nb int64
			if err == nil {
				now, nb, err = parseAge(res)
			}
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("not-before of %s: %w", uid, err)
				}
				continue
			}
			r.remember(uid, time.UnixMilli(nb))
			// The revocation's instant on this instance's clock, at the latest: a stream
			// opened within the round trip after it is ended too (the safe side).
			before := read.Add(-time.Duration(now-nb) * time.Millisecond)
			if n := r.streams.EndUserOpenedBefore(uid, stream.ErrRevoked, before); n > 0 {
				logx.Infof("revoke: a revocation no longer in the log ended %d streams", n)
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return firstErr
}

// parseAge reads ageScript's answer: the node's now and the not-before, both in ms.
func parseAge(res []any) (now, nb int64, err error) {
	if len(res) != 2 {
		return 0, 0, fmt.Errorf("unexpected answer %v", res)
	}
	now, ok := res[0].(int64)
	raw, ok2 := res[1].(string)
	if !ok || !ok2 {
		return 0, 0, fmt.Errorf("unexpected answer %v", res)
	}
	nb, err = strconv.ParseInt(raw, 10, 64)
	return now, nb, err
}

// replay applies the log's messages within Replay.
func (r *Revoker) replay(ctx context.Context) error {
	from := ""
	for {
		res, err := readScript.Run(ctx, r.rdb, []string{LogKey}, from, r.conf.Replay.Milliseconds(), replayPage).Slice()
		read := time.Now()
		if err != nil {
			return err
		}
		now, entries, err := parseLog(res)
		if err != nil {
			return err
		}
		for _, e := range entries {
			from = "(" + e.id
			// Trimming is approximate: older messages may still be there.
			age := time.Duration(now-e.ms) * time.Millisecond
			if age > r.conf.Replay {
				continue
			}
			// The message's instant on this instance's clock, at the latest: the read came
			// back after Redis's now, so a stream opened within that round trip after the
			// message is ended too (the safe side).
			r.hear(e.payload, read.Add(-age))
		}
		if len(entries) < replayPage {
			return nil
		}
	}
}

type logEntry struct {
	id      string
	ms      int64
	payload string
}

// parseLog reads readScript's answer: the Redis clock's now, and the entries.
func parseLog(res []any) (now int64, entries []logEntry, err error) {
	bad := fmt.Errorf("revoke: unexpected log reply %v", res)
	if len(res) != 2 {
		return 0, nil, bad
	}
	now, ok := res[0].(int64)
	raw, ok2 := res[1].([]any)
	if !ok || !ok2 {
		return 0, nil, bad
	}
	for _, x := range raw {
		e, ok := x.([]any)
		if len(e) != 2 || !ok {
			return 0, nil, bad
		}
		id, _ := e[0].(string)
		fields, _ := e[1].([]any)
		msStr, _, _ := strings.Cut(id, "-")
		ms, err := strconv.ParseInt(msStr, 10, 64)
		if err != nil || len(fields) != 2 {
			return 0, nil, bad
		}
		payload, _ := fields[1].(string)
		entries = append(entries, logEntry{id: id, ms: ms, payload: payload})
	}
	return now, entries, nil
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

// tellScript keeps a message in the log, dropping the ones older than the window (ARGV[2]
// ms; approximately: whole nodes of the stream at once), and publishes it: both or
// neither. The log expires a window after the last message.
var tellScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local keep = tonumber(ARGV[2])
redis.call('XADD', KEYS[1], 'MINID', '~', string.format('%.0f', now - keep), '*', 'm', ARGV[1])
redis.call('PEXPIRE', KEYS[1], keep)
return redis.call('PUBLISH', ARGV[3], ARGV[1])
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
	n := r.apply(msg, time.Time{})
	var err error
	if r.conf.Replay > 0 {
		msg.ID = randomID()
		payload, _ := json.Marshal(msg)
		err = tellScript.Run(ctx, r.rdb, []string{LogKey}, payload, r.conf.Replay.Milliseconds(), Channel).Err()
	} else {
		payload, _ := json.Marshal(msg)
		err = r.rdb.Publish(ctx, Channel, payload).Err()
	}
	if err != nil {
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
	rd := &read{uid: uid}
	err := r.reads.Do(ctx, rd)
	if err == nil {
		err = rd.err
	}
	raw := rd.raw
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
