package revoke

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/metrics"
	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/internal/stream"
)

// streams records the ends a Revoker asks for, as an instance's streams would take them.
type streams struct {
	mu    sync.Mutex
	open  map[string][]time.Time // when each stream of a user opened
	ended chan end
}

type end struct {
	uid    string
	why    error
	before time.Time // zero: every stream of uid
	n      int       // the streams ended
}

// newStreams holds open[uid] streams of each uid, opened long ago.
func newStreams(open map[string]int) *streams {
	s := &streams{open: make(map[string][]time.Time), ended: make(chan end, 16)}
	for uid, n := range open {
		s.open[uid] = make([]time.Time, n)
	}
	return s
}

// openAt opens a stream of uid at instant at.
func (s *streams) openAt(uid string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open[uid] = append(s.open[uid], at)
}

func (s *streams) EndUser(uid string, why error) int { return s.end(uid, why, time.Time{}) }

func (s *streams) EndUserOpenedBefore(uid string, why error, before time.Time) int {
	return s.end(uid, why, before)
}

func (s *streams) end(uid string, why error, before time.Time) int {
	s.mu.Lock()
	var kept []time.Time
	for _, at := range s.open[uid] {
		if !before.IsZero() && !at.Before(before) {
			kept = append(kept, at)
		}
	}
	n := len(s.open[uid]) - len(kept)
	s.open[uid] = kept
	s.mu.Unlock()
	s.ended <- end{uid, why, before, n}
	return n
}

func (s *streams) Users() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var uids []string
	for uid, open := range s.open {
		if len(open) > 0 {
			uids = append(uids, uid)
		}
	}
	return uids
}

// left is the number of uid's streams still open.
func (s *streams) left(uid string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open[uid])
}

// none fails t if a stream was ended (the caller waited for the event that would
// precede it).
func (s *streams) none(t *testing.T) {
	t.Helper()
	select {
	case e := <-s.ended:
		t.Fatalf("streams ended: %+v", e)
	default:
	}
}

func (s *streams) next(t *testing.T) end {
	t.Helper()
	select {
	case e := <-s.ended:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no streams ended")
		return end{}
	}
}

func newRevoker(t *testing.T, rdb redis.UniversalClient, s Streams, c Config) *Revoker {
	t.Helper()
	r := New(rdb, s, c)
	t.Cleanup(r.Close)
	return r
}

func user(t *testing.T, rdb redis.UniversalClient) string {
	t.Helper()
	uid := redistest.Name("revoke-test-")
	t.Cleanup(func() { rdb.Del(context.Background(), Key(uid)) })
	return uid
}

func TestDisconnectEndsTheUsersStreamsOnEveryInstance(t *testing.T) {
	rdb := redistest.Client(t)
	uid := user(t, rdb)
	here, there := newStreams(map[string]int{uid: 2}), newStreams(map[string]int{uid: 3})
	a := newRevoker(t, rdb, here, Config{})
	newRevoker(t, rdb, there, Config{})
	live := metrics.ControlMessages.WithLabelValues("live")
	heardBefore := counted(t, live)

	n, err := a.Disconnect(context.Background(), uid, false)
	if err != nil || n != 2 {
		t.Fatalf("Disconnect: %d %v, want the 2 streams of this instance", n, err)
	}
	if e := here.next(t); e.uid != uid || !errors.Is(e.why, stream.ErrDisconnected) {
		t.Fatalf("here: %+v", e)
	}
	if e := there.next(t); e.uid != uid || !errors.Is(e.why, stream.ErrDisconnected) {
		t.Fatalf("there: %+v", e)
	}
	if heard := counted(t, live) - heardBefore; heard < 1 {
		t.Fatalf("%s counted %v live messages, want the other instance's", "sse_control_messages_total", heard)
	}
	select {
	case e := <-here.ended:
		t.Fatalf("this instance ended the streams twice: %+v", e)
	case <-time.After(100 * time.Millisecond):
	}
	// Without revoke, nothing is refused.
	if nb, err := a.NotBefore(context.Background(), uid); err != nil || !nb.IsZero() {
		t.Fatalf("not-before %v %v, want none", nb, err)
	}
}

// A revocation reaches the instances at once, whatever they cached.
func TestRevokeSetsANotBeforeEveryInstanceSees(t *testing.T) {
	rdb := redistest.Client(t)
	uid := user(t, rdb)
	there := newStreams(map[string]int{})
	a := newRevoker(t, rdb, newStreams(map[string]int{}), Config{TTL: time.Hour})
	b := newRevoker(t, rdb, there, Config{Cache: time.Hour})
	if nb, err := b.NotBefore(context.Background(), uid); err != nil || !nb.IsZero() {
		t.Fatalf("before: %v %v", nb, err) // cached for an hour
	}
	before := time.Now().Add(-time.Second)
	if _, err := a.Disconnect(context.Background(), uid, true); err != nil {
		t.Fatal(err)
	}
	if e := there.next(t); !errors.Is(e.why, stream.ErrRevoked) {
		t.Fatalf("there: %+v", e)
	}
	nb, err := b.NotBefore(context.Background(), uid)
	if err != nil || nb.Before(before) || nb.After(time.Now().Add(time.Second)) {
		t.Fatalf("not-before on the other instance: %v %v", nb, err)
	}
	if anb, err := a.NotBefore(context.Background(), uid); err != nil || !anb.Equal(nb) {
		t.Fatalf("not-before here: %v %v, there %v", anb, err, nb)
	}
	ttl, err := rdb.PTTL(context.Background(), Key(uid)).Result()
	if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("the revocation stands for %v (%v), want Config.TTL", ttl, err)
	}
}

// What Redis says is believed for Config.Cache, then read again.
func TestNotBeforeIsCachedForAMoment(t *testing.T) {
	rdb := redistest.Client(t)
	uid := user(t, rdb)
	r := newRevoker(t, rdb, newStreams(nil), Config{Cache: 300 * time.Millisecond})
	ctx := context.Background()
	if nb, err := r.NotBefore(ctx, uid); err != nil || !nb.IsZero() {
		t.Fatalf("%v %v", nb, err)
	}
	rdb.Set(ctx, Key(uid), 1700000000000, 0)
	if nb, _ := r.NotBefore(ctx, uid); !nb.IsZero() {
		t.Fatalf("read again within the cache: %v", nb)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		nb, err := r.NotBefore(ctx, uid)
		if err != nil {
			t.Fatal(err)
		}
		if nb.Equal(time.UnixMilli(1700000000000)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %v", nb)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Concurrent reads (a reconnect storm, a user each) share round trips, and each gets its
// own user's not-before.
func TestConcurrentNotBeforesEachGetTheirOwn(t *testing.T) {
	rdb := redistest.Client(t)
	r := newRevoker(t, rdb, newStreams(nil), Config{})
	ctx := context.Background()
	uids := make([]string, 300)
	for i := range uids {
		uids[i] = user(t, rdb)
		if i%3 == 0 {
			rdb.Set(ctx, Key(uids[i]), 1700000000000+int64(i), 0)
		}
	}
	var wg sync.WaitGroup
	for i, uid := range uids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nb, err := r.NotBefore(ctx, uid)
			want := time.Time{}
			if i%3 == 0 {
				want = time.UnixMilli(1700000000000 + int64(i))
			}
			if err != nil || !nb.Equal(want) {
				t.Errorf("user %d: %v %v, want %v", i, nb, err, want)
			}
		}()
	}
	wg.Wait()
}

// Redis that cannot be read is an error, never "not revoked".
func TestNotBeforeFailsWhenRedisIsDown(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{})
	rdb := srv.Client(t)
	r := newRevoker(t, rdb, newStreams(nil), Config{Cache: time.Millisecond})
	srv.Kill(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := r.NotBefore(ctx, "alice"); err == nil {
		t.Fatal("no error with Redis down")
	}
	if _, err := r.Disconnect(ctx, "alice", true); err == nil {
		t.Fatal("a revocation was accepted with Redis down")
	}
}

// counted reads a counter's value.
func counted(t *testing.T, c interface{ Write(*dto.Metric) error }) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
