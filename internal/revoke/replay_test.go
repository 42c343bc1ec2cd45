package revoke

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/internal/stream"
)

// link is a TCP proxy between one instance and Redis that a test cuts: the instance's
// connections are closed, and new ones closed as they come, until it is mended. Redis
// stays up for the other instances.
type link struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

func newLink(t *testing.T, target string) *link {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &link{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	go l.accept()
	t.Cleanup(func() { _ = ln.Close(); l.Cut() })
	return l
}

func (l *link) Addr() string { return l.ln.Addr().String() }

func (l *link) accept() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		go l.pipe(c)
	}
}

func (l *link) pipe(c net.Conn) {
	up, err := net.Dial("tcp", l.target)
	if err != nil {
		_ = c.Close()
		return
	}
	if !l.track(c, up) {
		_ = c.Close()
		_ = up.Close()
		return
	}
	go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
	_, _ = io.Copy(c, up)
	_ = c.Close()
}

func (l *link) track(cs ...net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		return false
	}
	for _, c := range cs {
		l.conns[c] = struct{}{}
	}
	return true
}

// Cut closes every connection through the link and refuses new ones.
func (l *link) Cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = true
	for c := range l.conns {
		_ = c.Close()
	}
	clear(l.conns)
}

// Mend lets connections through again.
func (l *link) Mend() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = false
}

// client is an instance's client of addr, with short timeouts as the service's.
func client(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr: addr, DialTimeout: 500 * time.Millisecond,
		ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
		ContextTimeoutEnabled: true,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// behindALink starts a Redis, and an instance b with the streams open reaching it
// through a link the test cuts, once b has caught up at start; admin is a client of that
// Redis that is never cut.
func behindALink(t *testing.T, conf Config, open map[string]int) (admin *redis.Client, lk *link, there *streams, b *replaying) {
	t.Helper()
	srv := redistest.StartServer(t, redistest.Options{})
	lk = newLink(t, srv.Addr())
	there = newStreams(open)
	b = newReplaying(t, client(t, lk.Addr()), there, conf)
	b.replayed(t)
	return srv.Client(t), lk, there, b
}

// redisNow is the Redis clock.
func redisNow(t *testing.T, rdb *redis.Client) time.Time {
	t.Helper()
	now, err := rdb.Time(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return now
}

// replaying is an instance whose replays of the log a test waits for.
type replaying struct {
	*Revoker
	caught chan struct{}
}

func newReplaying(t *testing.T, rdb redis.UniversalClient, s Streams, c Config) *replaying {
	t.Helper()
	caught := make(chan struct{}, 16)
	c.caughtUp = func() { caught <- struct{}{} }
	return &replaying{newRevoker(t, rdb, s, c), caught}
}

// replayed waits for the next replay of the log.
func (r *replaying) replayed(t *testing.T) {
	t.Helper()
	select {
	case <-r.caught:
	case <-time.After(10 * time.Second):
		t.Fatal("the log was not replayed")
	}
}

func wantStats(t *testing.T, r *Revoker, live, replayed, dups int64) {
	t.Helper()
	if s := r.Stats(); s.Live != live || s.Replayed != replayed || s.Duplicates != dups {
		t.Fatalf("stats %+v, want %d live, %d replayed, %d duplicates", s, live, replayed, dups)
	}
}

// A disconnect and a revocation told while an instance's control link is down reach its
// streams, with their reasons, once it is back: each once, however often the log is read.
func TestDisconnectsToldWhileTheLinkIsDownAreReplayed(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{})
	conf := Config{Replay: time.Minute, TTL: time.Hour}
	a := newRevoker(t, srv.Client(t), newStreams(nil), conf)
	lk := newLink(t, srv.Addr())
	there := newStreams(map[string]int{"dave": 2, "erin": 1, "frank": 1})
	b := newReplaying(t, client(t, lk.Addr()), there, conf)
	b.replayed(t) // the first, at start: nothing to apply

	lk.Cut()
	told := time.Now()
	ctx := context.Background()
	if _, err := a.Disconnect(ctx, "dave", false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Disconnect(ctx, "erin", true); err != nil {
		t.Fatal(err)
	}
	there.none(t) // the link is cut: nothing can have reached b
	lk.Mend()
	b.replayed(t)
	got := map[string]end{}
	for range 2 {
		e := there.next(t)
		got[e.uid] = e
	}
	for uid, why := range map[string]error{"dave": stream.ErrDisconnected, "erin": stream.ErrRevoked} {
		e := got[uid]
		if !errors.Is(e.why, why) || e.n != there0(uid) {
			t.Fatalf("%s: %+v, want %d streams ended with %v", uid, e, there0(uid), why)
		}
		// Replayed for the streams opened before the disconnect was told.
		if e.before.Before(told.Add(-100*time.Millisecond)) || e.before.After(time.Now()) {
			t.Fatalf("%s: ended the streams opened before %v; told at %v", uid, e.before, told)
		}
	}
	if there.left("frank") != 1 {
		t.Fatal("another user's stream was ended")
	}
	wantStats(t, b.Revoker, 0, 2, 0)
	// b refuses erin's reconnects at once, whatever it had cached.
	if nb, err := b.NotBefore(ctx, "erin"); err != nil || nb.Before(told.Add(-time.Second)) {
		t.Fatalf("erin's not-before on b: %v %v", nb, err)
	}

	// Cut and mended again, b reads the same messages from the log: not applied twice.
	lk.Cut()
	lk.Mend()
	b.replayed(t)
	there.none(t)
	wantStats(t, b.Revoker, 0, 2, 2)
}

// there0 is how many streams TestDisconnectsToldWhileTheLinkIsDownAreReplayed opens for uid.
func there0(uid string) int { return map[string]int{"dave": 2, "erin": 1}[uid] }

// A disconnect heard late ends the streams opened before it was told, not those opened
// since; one older than Replay is not replayed at all.
func TestAReplayedDisconnectSparesLaterStreamsAndOldOnesAreNotReplayed(t *testing.T) {
	conf := Config{Replay: time.Minute}
	admin, lk, there, b := behindALink(t, conf, map[string]int{"gina": 1, "hugo": 1})
	a := newRevoker(t, admin, newStreams(nil), conf)

	lk.Cut()
	ctx := context.Background()
	// hugo's disconnect was told two windows ago, and the approximate trimming kept it.
	now := redisNow(t, admin)
	old, _ := json.Marshal(message{UID: "hugo", From: "elsewhere", ID: "old"})
	oldID := strconv.FormatInt(now.Add(-2*conf.Replay).UnixMilli(), 10) + "-0"
	if err := admin.XAdd(ctx, &redis.XAddArgs{Stream: LogKey, ID: oldID, Values: []any{"m", old}}).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Disconnect(ctx, "gina", false); err != nil {
		t.Fatal(err)
	}
	// Both users open a stream after the disconnects, while b has not heard of them: a
	// second after, for the replay errs on the safe side by the round trip of its read
	// (the fake takes the instant as given; no waiting).
	since := time.Now().Add(time.Second)
	there.openAt("gina", since)
	there.openAt("hugo", since)
	lk.Mend()
	b.replayed(t)
	if e := there.next(t); e.uid != "gina" || e.n != 1 || e.before.IsZero() {
		t.Fatalf("%+v, want gina's stream opened before the disconnect ended, alone", e)
	}
	there.none(t) // hugo's was older than the window
	if there.left("gina") != 1 || there.left("hugo") != 2 {
		t.Fatalf("left: gina %d, hugo %d; want the streams opened since, and all of hugo's",
			there.left("gina"), there.left("hugo"))
	}
	wantStats(t, b.Revoker, 0, 1, 0)
}

// Redis restarts under both instances, and a disconnect is told as it comes back: the
// other instance hears it on the channel or reads it in the log, and applies it once.
func TestADisconnectAcrossARedisRestartIsAppliedOnce(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{AOF: true})
	conf := Config{Replay: time.Minute}
	there := newStreams(map[string]int{"ivan": 3})
	b := newReplaying(t, client(t, srv.Addr()), there, conf)
	b.replayed(t)

	srv.Kill(t)
	srv.Restart(t)
	a := newRevoker(t, srv.Client(t), newStreams(nil), conf) // a fresh client: no dead connection
	if _, err := a.Disconnect(context.Background(), "ivan", false); err != nil {
		t.Fatal(err)
	}
	if e := there.next(t); e.uid != "ivan" || e.n != 3 || !errors.Is(e.why, stream.ErrDisconnected) {
		t.Fatalf("%+v, want ivan's 3 streams ended", e)
	}
	// Whichever came first, b replays the log once more after its subscription is killed:
	// by then it has heard the disconnect both ways, and applied it once.
	if _, err := srv.Do("CLIENT", "KILL", "TYPE", "pubsub"); err != nil {
		t.Fatal(err)
	}
	for s := b.Stats(); s.Live+s.Replayed+s.Duplicates < 2; s = b.Stats() {
		b.replayed(t)
	}
	there.none(t)
	if s := b.Stats(); s.Live+s.Replayed != 1 || s.Duplicates < 1 {
		t.Fatalf("stats %+v, want the disconnect applied once and heard again", s)
	}
}

// With Replay 0 nothing is kept: the channel alone, as before.
func TestNoReplayKeepsNothing(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{})
	rdb := srv.Client(t)
	there := newStreams(map[string]int{"jane": 1})
	a := newRevoker(t, rdb, newStreams(nil), Config{})
	newRevoker(t, rdb, there, Config{})
	if _, err := a.Disconnect(context.Background(), "jane", false); err != nil {
		t.Fatal(err)
	}
	if e := there.next(t); e.n != 1 || !e.before.IsZero() {
		t.Fatalf("%+v", e)
	}
	if n, err := rdb.Exists(context.Background(), LogKey).Result(); err != nil || n != 0 {
		t.Fatalf("the log exists (%d, %v) with Replay 0", n, err)
	}
}

// A revocation told while an instance's link was down for longer than the log keeps it is
// still in Redis: once back, the instance reads its users' not-befores and ends the streams
// opened before theirs, and refuses their reconnects. A plain disconnect that old is lost.
func TestARevocationOlderThanTheLogEndsTheStreamsOpenedBeforeIt(t *testing.T) {
	for _, replay := range []time.Duration{time.Minute, 0} {
		t.Run("Replay="+replay.String(), func(t *testing.T) {
			conf := Config{Replay: replay, TTL: time.Hour}
			// Streams opened long ago.
			admin, lk, there, b := behindALink(t, conf, map[string]int{"kim": 2, "lee": 1})

			lk.Cut()
			ctx := context.Background()
			// kim was revoked two windows ago: the log no longer holds it (nor a
			// disconnect of lee's then), but the not-before stands.
			nb := redisNow(t, admin).Add(-2 * time.Minute).Truncate(time.Millisecond)
			if err := admin.Set(ctx, Key("kim"), nb.UnixMilli(), time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
			there.openAt("kim", time.Now().Add(-time.Minute)) // after the revocation
			lk.Mend()
			b.replayed(t)
			e := there.next(t)
			if e.uid != "kim" || e.n != 2 || !errors.Is(e.why, stream.ErrRevoked) {
				t.Fatalf("%+v, want kim's 2 streams opened before the revocation ended as revoked", e)
			}
			there.none(t)
			if there.left("kim") != 1 || there.left("lee") != 1 {
				t.Fatalf("left: kim %d, lee %d; want the stream opened since, and lee's", there.left("kim"), there.left("lee"))
			}
			if got, err := b.NotBefore(ctx, "kim"); err != nil || !got.Equal(nb) {
				t.Fatalf("kim's not-before on b: %v %v, want %v", got, err, nb)
			}
		})
	}
}

// In a Cluster the users' not-befores live on different nodes: the recheck at start reads
// each on its node and ends the streams of the revoked users only.
func TestTheRecheckReadsNotBeforesOnEveryClusterNode(t *testing.T) {
	rdb := redistest.StartCluster(t).Client(t)
	ctx := context.Background()
	open, revoked := map[string]int{}, map[string]bool{}
	for i := range 12 {
		uid := "u" + strconv.Itoa(i)
		open[uid] = 1
		if i%2 == 1 {
			continue
		}
		revoked[uid] = true
		at := time.Now().Add(-time.Minute).UnixMilli()
		if err := rdb.Set(ctx, Key(uid), at, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	there := newStreams(open)
	b := newReplaying(t, rdb, there, Config{Replay: time.Minute, TTL: time.Hour})
	b.replayed(t)
	for range len(revoked) {
		e := there.next(t)
		if !revoked[e.uid] || e.n != 1 || !errors.Is(e.why, stream.ErrRevoked) {
			t.Fatalf("%+v, want one stream of a revoked user ended as revoked", e)
		}
		delete(revoked, e.uid)
	}
	there.none(t)
}
