package keywatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sseapi/sse-api/internal/redisconn"
	"github.com/sseapi/sse-api/internal/redistest"
)

var ctx = context.Background()

// A legacy writer's plain commands reach the watcher of a state key: the value first, then
// every change; JSON as it is, other strings as JSON strings, hashes as objects.
func TestStateKeyValueThenEveryChange(t *testing.T) {
	srv := notifying(t, "KEA")
	rdb := srv.Client(t)
	s := watching(t, redisconn.Conf{Addr: srv.Addr()}, rules(stateRule("qrcode:*")))
	key := redistest.Name("qrcode:")
	rdb.Set(ctx, key, `{"status":"pending"}`, 2*time.Minute)

	c, _ := s.subscribe("", "key:"+key)
	got := c.waitN(t, 1)
	if got[0].event != StateEvent || got[0].data != `{"status":"pending"}` {
		t.Fatalf("first frame %+v", got[0])
	}
	if got[0].id != valueID(StateEvent, []byte(`{"status":"pending"}`)).String() {
		t.Fatalf("id %s is not the value's", got[0].id)
	}
	steps := []struct {
		write func()
		event string
		data  string
	}{
		{func() { rdb.Set(ctx, key, `{"status":"scanned"}`, time.Minute) }, StateEvent, `{"status":"scanned"}`},
		{func() { rdb.Set(ctx, key, "plain text", 0) }, StateEvent, `"plain text"`},
		{func() { rdb.Del(ctx, key) }, DeletedEvent, reason(ReasonDeleted)},
		{func() { rdb.HSet(ctx, key, "status", "confirmed", "user", "alice") }, StateEvent, `{"status":"confirmed","user":"alice"}`},
		{func() { rdb.HDel(ctx, key, "user") }, StateEvent, `{"status":"confirmed"}`},
		{func() { rdb.RPush(ctx, key+"x", "a"); rdb.Rename(ctx, key+"x", key) }, DeletedEvent, `{"reason":"unsupported","type":"list"}`},
		{func() { rdb.Set(ctx, key, "42", 0) }, StateEvent, `42`},
	}
	for i, step := range steps {
		step.write()
		// Each step waits for its own event: two quick changes may be read as one.
		got = c.waitLast(t, step.event, step.data)
		if len(got) != i+2 {
			t.Fatalf("after step %d: frames %v", i, got)
		}
	}
}

func TestStateKeyExpiryAndAbsence(t *testing.T) {
	srv := notifying(t, "KEA")
	rdb := srv.Client(t)
	s := watching(t, redisconn.Conf{Addr: srv.Addr()}, rules(stateRule("order:*")))
	key := redistest.Name("order:")

	// Missing at subscribe: absent. Then it appears, and expires.
	c, _ := s.subscribe("", "key:"+key)
	got := c.waitN(t, 1)
	if got[0].event != DeletedEvent || got[0].data != reason(ReasonAbsent) {
		t.Fatalf("missing key: %+v", got[0])
	}
	absent := got[0].id
	rdb.Set(ctx, key, `"shipped"`, 300*time.Millisecond)
	c.waitLast(t, StateEvent, `"shipped"`)
	got = c.waitLast(t, DeletedEvent, reason(ReasonExpired))
	if got[len(got)-1].id != absent {
		t.Fatalf("expired id %s, want the id of absence %s", got[len(got)-1].id, absent)
	}

	// A client that saw it go is not told again; a new one is told it is absent.
	again, _ := s.subscribe(absent, "key:"+key)
	fresh, _ := s.subscribe("", "key:"+key)
	fresh.waitLast(t, DeletedEvent, reason(ReasonAbsent))
	rdb.Set(ctx, key, `"back"`, 0)
	got = again.waitLast(t, StateEvent, `"back"`)
	if len(got) != 1 {
		t.Fatalf("resumed at absence: %v", got)
	}
}

// Reconnecting with the id of the value held sends nothing; with another id, the current
// value once.
func TestStateResumeWithoutDuplicates(t *testing.T) {
	srv := notifying(t, "KEA")
	rdb := srv.Client(t)
	s := watching(t, redisconn.Conf{Addr: srv.Addr()}, rules(stateRule("job:*")))
	key := redistest.Name("job:")
	rdb.Set(ctx, key, `{"progress":10}`, 0)

	c, stop := s.subscribe("", "key:"+key)
	c.waitN(t, 1)
	stop()
	_, held := c.snapshot()

	same, _ := s.subscribe(held, "key:"+key)
	rdb.Set(ctx, key, `{"progress":20}`, 0)
	got := same.waitLast(t, StateEvent, `{"progress":20}`)
	if len(got) != 1 {
		t.Fatalf("resumed with the value held: %v", got)
	}

	behind, _ := s.subscribe(held, "key:"+key)
	got = behind.waitN(t, 1)
	rdb.Set(ctx, key, `{"progress":20}`, 0) // rewritten, unchanged: not sent again
	rdb.Set(ctx, key, `{"progress":30}`, 0)
	got = behind.waitLast(t, StateEvent, `{"progress":30}`)
	if len(got) != 2 || got[0].data != `{"progress":20}` {
		t.Fatalf("resumed behind: %v", got)
	}

	// Multi-topic cursors carry state ids beside other ids.
	other := redistest.Name("job:")
	rdb.Set(ctx, other, "x", 0)
	both, stop := s.subscribe("", "key:"+key, "key:"+other)
	both.waitN(t, 2)
	stop()
	_, cursor := both.snapshot()
	want := fmt.Sprintf("key:%s=%s,key:%s=%s", key, valueID(StateEvent, []byte(`{"progress":30}`)), other, valueID(StateEvent, []byte(`"x"`)))
	if cursor != want {
		t.Fatalf("cursor %s, want %s", cursor, want)
	}
	rdb.Set(ctx, other, "y", 0)
	resumed, _ := s.subscribe(cursor, "key:"+key, "key:"+other)
	got = resumed.waitN(t, 1)
	rdb.Set(ctx, key, "end", 0)
	got = resumed.waitLast(t, StateEvent, `"end"`)
	if len(got) != 2 || got[0].data != `"y"` {
		t.Fatalf("resumed two keys: %v", got)
	}
}

// A burst of writes to one key is coalesced, and the last value always arrives; keys nobody
// watches are never read.
func TestBurstIsCoalescedAndOnlyWatchedKeysAreRead(t *testing.T) {
	srv := notifying(t, "KEA")
	rdb := srv.Client(t)
	s := watching(t, redisconn.Conf{Addr: srv.Addr()}, rules(stateRule("burst:*")))
	key := redistest.Name("burst:")
	rdb.Set(ctx, key, "0", 0)
	c, _ := s.subscribe("", "key:"+key)
	c.waitN(t, 1)
	before := calls(t, rdb, "get")

	const writes = 2000
	pipe := rdb.Pipeline()
	for i := 1; i <= writes; i++ {
		pipe.Set(ctx, key, fmt.Sprint(i), 0)
		pipe.Set(ctx, redistest.Name("burst:unwatched-"), "x", 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	got := c.waitLast(t, StateEvent, fmt.Sprint(writes))
	for i := 1; i < len(got); i++ {
		if got[i].data == got[i-1].data {
			t.Fatalf("%s sent twice in a row", got[i].data)
		}
	}
	reads := calls(t, rdb, "get") - before
	if reads >= writes {
		t.Fatalf("%d reads for %d writes: not coalesced (or unwatched keys read)", reads, writes)
	}
	t.Logf("%d writes to the watched key (and %d to unwatched ones): %d reads, %d events", writes, writes, reads, len(got)-1)
}

// Notifications are at-most-once: a change made while the link is down is read when it is
// subscribed again.
func TestDroppedLinkLosesNoFinalState(t *testing.T) {
	srv := notifying(t, "KEA")
	rdb := srv.Client(t)
	s := watching(t, redisconn.Conf{Addr: srv.Addr()}, rules(stateRule("link:*")))
	key := redistest.Name("link:")
	rdb.Set(ctx, key, "before", 0)
	c, _ := s.subscribe("", "key:"+key)
	c.waitN(t, 1)

	for round := range 3 {
		value := fmt.Sprint("after-kill-", round)
		// The watcher's link is up (at start and after the last round's kill it comes up
		// on its own time), so that there is one to kill.
		redistest.WaitFor(t, linkWait, "the watcher's pub/sub link", func() error {
			list, err := rdb.Do(ctx, "CLIENT", "LIST", "TYPE", "pubsub").Text()
			if err == nil && strings.TrimSpace(list) == "" {
				err = errors.New("no pub/sub connection")
			}
			return err
		})
		// In one transaction, so that the change is made after the link is gone and before
		// it is back: its notification is lost for sure.
		pipe := rdb.TxPipeline()
		killed := pipe.ClientKillByFilter(ctx, "TYPE", "pubsub")
		pipe.Set(ctx, key, value, 0)
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if killed.Val() != 1 { // the watcher's link (the hub has no channel to follow)
			t.Fatalf("killed %d pub/sub connections", killed.Val())
		}
		c.waitLast(t, StateEvent, fmt.Sprintf("%q", value))
	}

	// A restarted Redis (here: one that forgot everything) too.
	srv.Kill(t)
	srv.Restart(t)
	if err := rdb.Set(ctx, key, "after-restart", 0).Err(); err != nil {
		t.Fatal(err)
	}
	c.waitLast(t, StateEvent, `"after-restart"`)
}
