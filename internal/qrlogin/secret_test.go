package qrlogin

import (
	"strings"
	"testing"
)

// Invariant 2: the browser secret is stored only as its SHA-256; nothing in Redis equals or
// contains it, and VerifyBrowser accepts it and nothing else.
func TestSecretIsStoredOnlyAsItsHash(t *testing.T) {
	st, rdb := newTestStore(t, Config{})
	sess, secret := create(t, st, rdb)
	raw, err := rdb.HGetAll(ctx, sessionKey(sess.ID)).Result()
	if err != nil || len(raw) == 0 {
		t.Fatalf("HGETALL: %v %v", raw, err)
	}
	for k, v := range raw {
		if strings.Contains(v, secret) || strings.Contains(k, secret) {
			t.Fatalf("field %s holds the secret", k)
		}
	}
	if raw["secret_sha256"] != secretDigest(secret) {
		t.Fatalf("secret_sha256 = %q, want the digest of the secret", raw["secret_sha256"])
	}
	for _, e := range events(t, rdb, sess.ID) {
		if strings.Contains(e.Data, secret) || strings.Contains(e.Data, raw["secret_sha256"]) {
			t.Fatalf("event %s carries the secret or its digest", e.Name)
		}
	}
	got, err := st.Get(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !st.VerifyBrowser(got, secret) {
		t.Fatal("VerifyBrowser refused the right secret")
	}
	for _, bad := range []string{"", secret[:len(secret)-1], secret + "x", strings.ToUpper(secret), raw["secret_sha256"]} {
		if st.VerifyBrowser(got, bad) {
			t.Fatalf("VerifyBrowser accepted %q", bad)
		}
	}
	if st.VerifyBrowser(nil, secret) || st.VerifyBrowser(&Session{ID: sess.ID}, secret) {
		t.Fatal("VerifyBrowser accepted a session without a digest")
	}
}

// Invariant 2 (F1): knowing the id is not enough to exchange or cancel; the wrong secret is
// refused and changes nothing, and the right one still works afterwards.
func TestWrongSecretIsRefused(t *testing.T) {
	st, rdb := newTestStore(t, Config{})
	sess, secret, uid := confirmed(t, st, rdb)
	_, otherSecret := create(t, st, rdb) // a real secret, of another session
	for _, bad := range []string{"", "x", otherSecret, secretDigest(secret)} {
		_, _, err := st.Consume(ctx, sess.ID, bad)
		wantErr(t, "Consume with a wrong secret", err, ErrForbidden)
		_, err = st.CancelByBrowser(ctx, sess.ID, bad)
		wantErr(t, "CancelByBrowser with a wrong secret", err, ErrForbidden)
	}
	if s := rawState(t, rdb, sess.ID); s != Confirmed {
		t.Fatalf("state after refused calls = %s, want confirmed", s)
	}
	if n := len(events(t, rdb, sess.ID)); n != 3 {
		t.Fatalf("refused calls appended events: %d in the topic, want 3", n)
	}
	got, _, err := st.Consume(ctx, sess.ID, secret)
	if err != nil || got != uid {
		t.Fatalf("Consume with the right secret = %q, %v; want %q", got, err, uid)
	}

	// A wrong secret is refused even on a finished session: it learns nothing of the state.
	_, _, err = st.Consume(ctx, sess.ID, otherSecret)
	wantErr(t, "Consume of a consumed session with a wrong secret", err, ErrForbidden)
}
