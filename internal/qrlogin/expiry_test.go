package qrlogin

import (
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sseapi/sse-api/publish"
)

// stillStored checks that the session's key outlives its deadline, so the refusals below come
// from the deadline check and not from a vanished key.
func stillStored(t *testing.T, rdb redis.UniversalClient, id string) {
	t.Helper()
	if rdb.Exists(ctx, sessionKey(id)).Val() != 1 {
		t.Fatal("session key is gone; the test would prove nothing")
	}
	if ttl := rdb.PTTL(ctx, sessionKey(id)).Val(); ttl <= 0 {
		t.Fatalf("session key PTTL = %v", ttl)
	}
}

func oneExpiredEvent(t *testing.T, rdb redis.UniversalClient, id string) {
	t.Helper()
	evs := events(t, rdb, id)
	if n := count(evs, "expired"); n != 1 {
		t.Fatalf("%d expired events, want exactly 1", n)
	}
	if last := evs[len(evs)-1]; last.Name != "expired" || last.Data != `{"state":"expired"}` {
		t.Fatalf("last event = %+v, want the expired one", last)
	}
}

// Invariant 5: past its deadline a session refuses to move even while its key exists, and
// the first call that notices moves it to expired and pushes that once.
func TestExpiredSessionRefusesWhileKeyExists(t *testing.T) {
	t.Run("pending past TTL", func(t *testing.T) {
		st, rdb := newTestStore(t, Config{TTL: 300 * time.Millisecond})
		sess, secret := create(t, st, rdb)
		if d := sess.ExpiresAt.Sub(sess.CreatedAt); d != 300*time.Millisecond {
			t.Fatalf("ExpiresAt - CreatedAt = %v", d)
		}
		waitPast(t, rdb, sess.ExpiresAt)
		stillStored(t, rdb, sess.ID)
		if s := rawState(t, rdb, sess.ID); s != Pending {
			t.Fatalf("state moved before anyone looked: %s", s)
		}
		uid := newUID()
		_, err := st.Scan(ctx, sess.ID, sess.ScanKey, uid, "u***r")
		wantErr(t, "Scan", err, ErrGone)
		if s := rawState(t, rdb, sess.ID); s != Expired {
			t.Fatalf("state after a late Scan = %s, want expired", s)
		}
		_, err = st.Confirm(ctx, sess.ID, uid)
		wantErr(t, "Confirm", err, ErrGone)
		_, _, err = st.Consume(ctx, sess.ID, secret)
		wantErr(t, "Consume", err, ErrGone)
		_, err = st.CancelByBrowser(ctx, sess.ID, secret)
		wantErr(t, "CancelByBrowser", err, ErrGone)
		stillStored(t, rdb, sess.ID)
		oneExpiredEvent(t, rdb, sess.ID)
	})

	t.Run("scanned past confirm window", func(t *testing.T) {
		st, rdb := newTestStore(t, Config{TTL: time.Minute, ConfirmWindow: 300 * time.Millisecond})
		sess, secret, uid := scanned(t, st, rdb)
		if !sess.ExpiresAt.Equal(sess.ConfirmBefore) || !sess.ExpiresAt.Before(sess.CreatedAt.Add(time.Minute)) {
			t.Fatalf("after scan ExpiresAt = %v, ConfirmBefore = %v: the confirm window must bound it", sess.ExpiresAt, sess.ConfirmBefore)
		}
		waitPast(t, rdb, sess.ExpiresAt)
		stillStored(t, rdb, sess.ID)
		_, err := st.Confirm(ctx, sess.ID, uid)
		wantErr(t, "Confirm", err, ErrGone)
		_, err = st.CancelByPhone(ctx, sess.ID, uid)
		wantErr(t, "CancelByPhone", err, ErrGone)
		_, _, err = st.Consume(ctx, sess.ID, secret)
		wantErr(t, "Consume", err, ErrGone)
		oneExpiredEvent(t, rdb, sess.ID)
	})

	t.Run("confirmed but not exchanged", func(t *testing.T) {
		st, rdb := newTestStore(t, Config{TTL: time.Minute, ConfirmWindow: 400 * time.Millisecond})
		sess, secret, _ := confirmed(t, st, rdb)
		waitPast(t, rdb, sess.ExpiresAt)
		stillStored(t, rdb, sess.ID)
		uid, after, err := st.Consume(ctx, sess.ID, secret)
		wantErr(t, "Consume", err, ErrGone)
		if uid != "" || after != nil {
			t.Fatalf("late Consume handed out %q %+v", uid, after)
		}
		oneExpiredEvent(t, rdb, sess.ID)
	})
}

// Invariant 11: Expire, run by the service's own timer, pushes exactly one expired event at
// the deadline however many instances call it, and does nothing before the deadline.
func TestExpirePushesExactlyOneExpiredEvent(t *testing.T) {
	st, rdb := newTestStore(t, Config{TTL: 300 * time.Millisecond, Retention: time.Minute})
	sess, _ := create(t, st, rdb)
	if got, err := st.Expire(ctx, sess.ID); err != nil || got.State != Pending || got.Pos != sess.Pos {
		t.Fatalf("early Expire = %+v %v, want the pending session unchanged", got, err)
	}
	if n := count(events(t, rdb, sess.ID), "expired"); n != 0 {
		t.Fatalf("early Expire pushed %d expired events", n)
	}

	waitPast(t, rdb, sess.ExpiresAt)
	stillStored(t, rdb, sess.ID)
	const n = 10
	got := make([]*Session, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = st.Expire(ctx, sess.ID)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || got[i].State != Expired {
			t.Fatalf("Expire = %+v %v", got[i], errs[i])
		}
	}
	oneExpiredEvent(t, rdb, sess.ID)
	evs := events(t, rdb, sess.ID)
	for i := range n {
		if got[i].Pos != evs[len(evs)-1].ID {
			t.Fatalf("Pos = %s, want the expired event %s", got[i].Pos, evs[len(evs)-1].ID)
		}
	}
	// Ended: kept for Retention from now, so late callers are told it is gone.
	if ttl := rdb.PTTL(ctx, sessionKey(sess.ID)).Val(); ttl <= 55*time.Second || ttl > time.Minute {
		t.Fatalf("PTTL after expiry = %v, want about Retention (1m)", ttl)
	}
}

// Get never reports a session that can no longer move as live: it expires it (pushing the
// event) and reports that.
func TestGetReportsAnOverdueSessionAsExpired(t *testing.T) {
	st, rdb := newTestStore(t, Config{TTL: 300 * time.Millisecond})
	sess, _ := create(t, st, rdb)
	waitPast(t, rdb, sess.ExpiresAt)
	got, err := st.Get(ctx, sess.ID)
	if err != nil || got.State != Expired {
		t.Fatalf("Get = %+v %v, want expired", got, err)
	}
	oneExpiredEvent(t, rdb, sess.ID)
}

// The key, the stream and the meta hash live until the deadline plus Retention, and an ended
// session for Retention from its end, so 410 outlives 404 and the history the session.
func TestKeysLiveUntilDeadlinePlusRetention(t *testing.T) {
	st, rdb := newTestStore(t, Config{TTL: time.Minute, ConfirmWindow: 20 * time.Second, Retention: 30 * time.Second})
	between := func(key string, lo, hi time.Duration) {
		t.Helper()
		if ttl := rdb.PTTL(ctx, key).Val(); ttl <= lo || ttl > hi {
			t.Fatalf("PTTL %s = %v, want in (%v, %v]", key, ttl, lo, hi)
		}
	}
	sess, secret := create(t, st, rdb)
	topic := Topic(sess.ID)
	between(sessionKey(sess.ID), 85*time.Second, 90*time.Second)
	between(publish.StreamKey(topic), 85*time.Second, 90*time.Second)

	if _, err := st.Scan(ctx, sess.ID, sess.ScanKey, newUID(), "u***r"); err != nil {
		t.Fatal(err)
	}
	between(sessionKey(sess.ID), 45*time.Second, 50*time.Second)
	between(publish.StreamKey(topic), 45*time.Second, 50*time.Second)

	if _, err := st.CancelByBrowser(ctx, sess.ID, secret); err != nil {
		t.Fatal(err)
	}
	between(sessionKey(sess.ID), 25*time.Second, 30*time.Second)
	between(publish.StreamKey(topic), 25*time.Second, 30*time.Second)
}

// Every snapshot says what the Redis clock read when it was taken, so that a caller timing
// deadlines on its own clock can tell how far off that clock is.
func TestSnapshotsCarryTheRedisClock(t *testing.T) {
	st, rdb := newTestStore(t, Config{})
	before := redisNow(t, rdb).Truncate(time.Millisecond)
	sess, _ := create(t, st, rdb)
	got, err := st.Get(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	after := redisNow(t, rdb)
	for name, asOf := range map[string]time.Time{"Create": sess.AsOf, "Get": got.AsOf} {
		if asOf.Before(before) || asOf.After(after) {
			t.Fatalf("%s: AsOf %v not between %v and %v by the Redis clock", name, asOf, before, after)
		}
	}
	if got.AsOf.Before(sess.AsOf) {
		t.Fatalf("Get's AsOf %v before Create's %v", got.AsOf, sess.AsOf)
	}
}
