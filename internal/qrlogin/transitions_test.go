package qrlogin

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// Invariant 3: a second scan, by another user or by the same one, is refused and does not
// change who scanned.
func TestSecondScanIsRefused(t *testing.T) {
	st, rdb := newTestStore(t, Config{})
	sess, _, alice := scanned(t, st, rdb)
	if sess.State != Scanned || sess.ScannedBy != alice || sess.Hint != "u***r" || sess.ConfirmBefore.IsZero() {
		t.Fatalf("after Scan: %+v", sess)
	}
	_, err := st.Scan(ctx, sess.ID, sess.ScanKey, newUID(), "m***y")
	wantErr(t, "Scan by another user", err, ErrConflict)
	_, err = st.Scan(ctx, sess.ID, sess.ScanKey, alice, "u***r")
	wantErr(t, "Scan again by the same user", err, ErrConflict)
	got, err := st.Get(ctx, sess.ID)
	if err != nil || got.ScannedBy != alice || got.Hint != "u***r" || got.ConfirmBefore != sess.ConfirmBefore {
		t.Fatalf("after refused scans: %+v %v", got, err)
	}
	if n := count(events(t, rdb, sess.ID), "scanned"); n != 1 {
		t.Fatalf("%d scanned events, want 1", n)
	}
}

// Invariant 3 (F5): only the user who scanned may confirm or cancel from the phone.
func TestConfirmByAnotherUserIsRefused(t *testing.T) {
	st, rdb := newTestStore(t, Config{})
	sess, _, alice := scanned(t, st, rdb)
	mallory := newUID()
	_, err := st.Confirm(ctx, sess.ID, mallory)
	wantErr(t, "Confirm by another user", err, ErrForbidden)
	_, err = st.CancelByPhone(ctx, sess.ID, mallory)
	wantErr(t, "CancelByPhone by another user", err, ErrForbidden)
	_, err = st.Confirm(ctx, sess.ID, "")
	wantErr(t, "Confirm without a user", err, ErrForbidden)
	if s := rawState(t, rdb, sess.ID); s != Scanned {
		t.Fatalf("state = %s, want scanned", s)
	}
	if _, err := st.Confirm(ctx, sess.ID, alice); err != nil {
		t.Fatalf("Confirm by the scanner: %v", err)
	}
	_, err = st.Confirm(ctx, sess.ID, mallory)
	wantErr(t, "Confirm of a confirmed session by another user", err, ErrForbidden)
}

// Invariant 4: confirming before any scan is a conflict, for anyone.
func TestConfirmBeforeScanIsConflict(t *testing.T) {
	st, rdb := newTestStore(t, Config{})
	sess, _ := create(t, st, rdb)
	_, err := st.Confirm(ctx, sess.ID, newUID())
	wantErr(t, "Confirm before scan", err, ErrConflict)
	_, err = st.CancelByPhone(ctx, sess.ID, newUID())
	wantErr(t, "CancelByPhone before scan", err, ErrConflict)
	if s := rawState(t, rdb, sess.ID); s != Pending {
		t.Fatalf("state = %s, want pending", s)
	}
}

// Invariant 4: a second confirm is a conflict.
func TestSecondConfirmIsConflict(t *testing.T) {
	st, rdb := newTestStore(t, Config{})
	sess, _, uid := confirmed(t, st, rdb)
	_, err := st.Confirm(ctx, sess.ID, uid)
	wantErr(t, "second Confirm", err, ErrConflict)
	if n := count(events(t, rdb, sess.ID), "confirmed"); n != 1 {
		t.Fatalf("%d confirmed events, want 1", n)
	}
}

// Invariant 4: transitions are compare-and-set; of 20 concurrent confirms exactly one wins.
func TestConcurrentConfirmsHaveOneWinner(t *testing.T) {
	st, rdb := newTestStore(t, Config{})
	sess, _, uid := scanned(t, st, rdb)
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = st.Confirm(ctx, sess.ID, uid)
		}()
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ErrConflict):
			t.Fatalf("a losing Confirm got %v, want ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d confirms won, want exactly 1", wins)
	}
	if c := count(events(t, rdb, sess.ID), "confirmed"); c != 1 {
		t.Fatalf("%d confirmed events, want 1", c)
	}
}

// Invariant 6 (F2): the exchange hands out the login once; a second exchange is gone, and of
// 20 concurrent exchanges exactly one gets the uid.
func TestConsumeHandsOutTheLoginOnce(t *testing.T) {
	st, rdb := newTestStore(t, Config{})

	sess, secret, _ := scanned(t, st, rdb)
	_, _, err := st.Consume(ctx, sess.ID, secret)
	wantErr(t, "Consume before confirm", err, ErrConflict)

	sess, secret, uid := confirmed(t, st, rdb)
	got, after, err := st.Consume(ctx, sess.ID, secret)
	if err != nil || got != uid || after.State != Consumed {
		t.Fatalf("Consume = %q %+v %v; want %q consumed", got, after, err, uid)
	}
	got, after, err = st.Consume(ctx, sess.ID, secret)
	wantErr(t, "second Consume", err, ErrGone)
	if got != "" || after != nil {
		t.Fatalf("second Consume returned %q %+v", got, after)
	}

	sess, secret, uid = confirmed(t, st, rdb)
	const n = 20
	uids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			uids[i], _, errs[i] = st.Consume(ctx, sess.ID, secret)
		}()
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil && uids[i] == uid:
			wins++
		case !errors.Is(err, ErrGone) || uids[i] != "":
			t.Fatalf("a losing Consume got %q %v, want ErrGone", uids[i], err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d exchanges won, want exactly 1", wins)
	}
	if c := count(events(t, rdb, sess.ID), "consumed"); c != 1 {
		t.Fatalf("%d consumed events, want 1", c)
	}
}

func TestCancel(t *testing.T) {
	st, rdb := newTestStore(t, Config{})

	sess, _, uid := confirmed(t, st, rdb) // the phone may still back out after confirming
	after, err := st.CancelByPhone(ctx, sess.ID, uid)
	if err != nil || after.State != Cancelled {
		t.Fatalf("CancelByPhone = %+v %v", after, err)
	}
	if evs := events(t, rdb, sess.ID); evs[len(evs)-1].Data != `{"state":"cancelled","by":"phone"}` {
		t.Fatalf("last event = %+v", evs[len(evs)-1])
	}

	for _, setup := range []func() (*Session, string){
		func() (*Session, string) { return create(t, st, rdb) },
		func() (*Session, string) { s, secret, _ := scanned(t, st, rdb); return s, secret },
		func() (*Session, string) { s, secret, _ := confirmed(t, st, rdb); return s, secret },
	} {
		sess, secret := setup()
		after, err := st.CancelByBrowser(ctx, sess.ID, secret)
		if err != nil || after.State != Cancelled {
			t.Fatalf("CancelByBrowser from %s = %+v %v", sess.State, after, err)
		}
		if evs := events(t, rdb, sess.ID); evs[len(evs)-1].Data != `{"state":"cancelled","by":"browser"}` {
			t.Fatalf("last event = %+v", evs[len(evs)-1])
		}
	}
}

// Invariant 5: a consumed, cancelled or expired session cannot move again: every call is
// gone (a browser call with a wrong secret is forbidden first), and no event is appended.
func TestTerminalSessionsRefuseEveryTransition(t *testing.T) {
	type ended struct {
		name        string
		sess        *Session
		secret, uid string
	}
	var all []ended

	st, rdb := newTestStore(t, Config{})
	sess, secret, uid := confirmed(t, st, rdb)
	if _, _, err := st.Consume(ctx, sess.ID, secret); err != nil {
		t.Fatal(err)
	}
	all = append(all, ended{"consumed", sess, secret, uid})

	sess, secret = create(t, st, rdb)
	if _, err := st.CancelByBrowser(ctx, sess.ID, secret); err != nil {
		t.Fatal(err)
	}
	all = append(all, ended{"cancelled by browser", sess, secret, newUID()})

	sess, secret, uid = scanned(t, st, rdb)
	if _, err := st.CancelByPhone(ctx, sess.ID, uid); err != nil {
		t.Fatal(err)
	}
	all = append(all, ended{"cancelled by phone", sess, secret, uid})

	short, _ := newTestStore(t, Config{TTL: 300 * time.Millisecond})
	sess, secret, uid = scanned(t, short, rdb)
	waitPast(t, rdb, sess.ExpiresAt)
	if got, err := short.Expire(ctx, sess.ID); err != nil || got.State != Expired {
		t.Fatalf("Expire = %+v %v", got, err)
	}
	all = append(all, ended{"expired", sess, secret, uid})

	for _, e := range all {
		id := e.sess.ID
		before, err := st.Get(ctx, id)
		if err != nil || !before.State.Terminal() {
			t.Fatalf("%s: Get = %+v %v", e.name, before, err)
		}
		nEvents := len(events(t, rdb, id))
		_, err = st.Scan(ctx, id, e.sess.ScanKey, newUID(), "n***w")
		wantErr(t, e.name+": Scan by a new user", err, ErrGone)
		_, err = st.Scan(ctx, id, e.sess.ScanKey, e.uid, "u***r")
		wantErr(t, e.name+": Scan", err, ErrGone)
		_, err = st.Confirm(ctx, id, e.uid)
		wantErr(t, e.name+": Confirm", err, ErrGone)
		_, err = st.CancelByPhone(ctx, id, e.uid)
		wantErr(t, e.name+": CancelByPhone", err, ErrGone)
		_, err = st.CancelByBrowser(ctx, id, e.secret)
		wantErr(t, e.name+": CancelByBrowser", err, ErrGone)
		_, _, err = st.Consume(ctx, id, e.secret)
		wantErr(t, e.name+": Consume", err, ErrGone)
		_, _, err = st.Consume(ctx, id, "wrong")
		wantErr(t, e.name+": Consume with a wrong secret", err, ErrForbidden)
		after, err := st.Expire(ctx, id)
		if err != nil || after.State != before.State || after.Pos != before.Pos {
			t.Fatalf("%s: Expire moved a terminal session: %+v -> %+v (%v)", e.name, before, after, err)
		}
		if n := len(events(t, rdb, id)); n != nEvents {
			t.Fatalf("%s: %d events appended to a terminal session", e.name, n-nEvents)
		}
	}
}

func TestInvalidInputIsRefusedBeforeRedis(t *testing.T) {
	st, rdb := newTestStore(t, Config{})
	sess, _ := create(t, st, rdb)
	uid := newUID()
	_, err := st.Scan(ctx, sess.ID, sess.ScanKey, "", "u***r")
	wantErr(t, "Scan without a user", err, ErrForbidden)
	for _, hint := range []string{uid, strings.Repeat("x", 65), "a\nb", "a\x00b", "\xff"} {
		_, err := st.Scan(ctx, sess.ID, sess.ScanKey, uid, hint)
		wantErr(t, "Scan with hint "+hint, err, ErrInvalidHint)
	}
	if s := rawState(t, rdb, sess.ID); s != Pending {
		t.Fatalf("state = %s, want pending", s)
	}
	// Any printable text is safe in the event's JSON.
	got, err := st.Scan(ctx, sess.ID, sess.ScanKey, uid, `"}{\ é`)
	if err != nil || got.Hint != `"}{\ é` {
		t.Fatalf("Scan with a quoting hint = %+v %v", got, err)
	}
}

// Invariant 7: the phone can be shown where the request comes from and when.
func TestRequesterContextIsKept(t *testing.T) {
	st, rdb := newTestStore(t, Config{})
	before := redisNow(t, rdb)
	long := Requester{IP: "2001:db8::1", UserAgent: strings.Repeat("é", 400)} // 800 bytes
	sess, _, err := st.Create(ctx, long)
	if err != nil {
		t.Fatal(err)
	}
	forget(t, rdb, sess.ID)
	got, err := st.Scan(ctx, sess.ID, sess.ScanKey, newUID(), "u***r")
	if err != nil {
		t.Fatal(err)
	}
	if got.Requester.IP != long.IP || got.Requester.UserAgent != strings.Repeat("é", 256) {
		t.Fatalf("Requester = %q / %d bytes", got.Requester.IP, len(got.Requester.UserAgent))
	}
	if got.CreatedAt.Before(before.Truncate(time.Millisecond)) || got.CreatedAt.After(redisNow(t, rdb)) {
		t.Fatalf("CreatedAt %v not between %v and now", got.CreatedAt, before)
	}
}
