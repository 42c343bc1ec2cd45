package qrlogin

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// The QR carries a scan key beside the id, and only a phone that presents it scans: the id
// alone, which the browser's URLs, cookie paths and logs show, scans nothing, and every wrong
// key is answered exactly as an unknown id, whatever the session's state, without touching it.
func TestScanNeedsTheKeyOfTheQR(t *testing.T) {
	st, rdb := newTestStore(t, Config{})
	other, _ := create(t, st, rdb)
	wrongKeys := func(sess *Session) map[string]string {
		last := sess.ScanKey[len(sess.ScanKey)-1:]
		flip := map[string]string{"A": "B"}[last]
		if flip == "" {
			flip = "A"
		}
		return map[string]string{
			"no key":               "",
			"a fresh key":          newScanKey(),
			"another QR's key":     other.ScanKey,
			"one character off":    sess.ScanKey[:len(sess.ScanKey)-1] + flip,
			"the id as key":        sess.ID,
			"a malformed key":      "not a key",
			"the key and more":     sess.ScanKey + "AA",
			"the key in uppercase": strings.ToUpper(sess.ScanKey),
		}
	}
	refusedUntouched := func(t *testing.T, sess *Session) {
		t.Helper()
		before := rawState(t, rdb, sess.ID)
		n := len(events(t, rdb, sess.ID))
		for name, key := range wrongKeys(sess) {
			if key == sess.ScanKey {
				continue
			}
			got, err := st.Scan(ctx, sess.ID, key, newUID(), "u***r")
			if got != nil {
				t.Fatalf("%s: Scan returned a session", name)
			}
			wantErr(t, "Scan with "+name, err, ErrNotFound)
		}
		if s := rawState(t, rdb, sess.ID); s != before {
			t.Fatalf("state %s -> %s after scans with wrong keys", before, s)
		}
		if m := len(events(t, rdb, sess.ID)); m != n {
			t.Fatalf("%d events appended by scans with wrong keys", m-n)
		}
	}

	sess, secret := create(t, st, rdb)
	if !validScanKey(sess.ScanKey) || sess.ScanKey == other.ScanKey {
		t.Fatalf("scan keys %q, %q: want two distinct 128-bit keys", sess.ScanKey, other.ScanKey)
	}
	refusedUntouched(t, sess) // pending
	uid := newUID()
	scanned, err := st.Scan(ctx, sess.ID, sess.ScanKey, uid, "u***r")
	if err != nil || scanned.State != Scanned || scanned.ScannedBy != uid {
		t.Fatalf("Scan with the QR's key = %+v %v", scanned, err)
	}
	refusedUntouched(t, sess) // scanned: not a conflict, which would tell the state
	// The right key still meets the state rules.
	_, err = st.Scan(ctx, sess.ID, sess.ScanKey, newUID(), "u***r")
	wantErr(t, "second Scan with the key", err, ErrConflict)
	if _, err := st.CancelByBrowser(ctx, sess.ID, secret); err != nil {
		t.Fatal(err)
	}
	refusedUntouched(t, sess) // ended: not gone either
	_, err = st.Scan(ctx, sess.ID, sess.ScanKey, uid, "u***r")
	wantErr(t, "Scan of an ended session with its key", err, ErrGone)

	// A wrong key does not even settle an overdue session: it touches nothing at all.
	short, _ := newTestStore(t, Config{TTL: 200 * time.Millisecond})
	late, _ := create(t, short, rdb)
	waitPast(t, rdb, late.ExpiresAt)
	refusedUntouched(t, late)
	if s := rawState(t, rdb, late.ID); s != Pending {
		t.Fatalf("state %s: a wrong key moved an overdue session", s)
	}
	_, err = short.Scan(ctx, late.ID, late.ScanKey, uid, "u***r")
	wantErr(t, "Scan of an overdue session with its key", err, ErrGone)
}

// Scan keys have 128 bits from a CSPRNG (every bit takes both values across 64 keys), are
// kept with the session for the QR image, and never reach the session's events.
func TestScanKeysAre128RandomBitsAndStayOffTheStream(t *testing.T) {
	st, rdb := newTestStore(t, Config{})
	var ones, zeros [scanKeyBytes]byte
	seen := map[string]bool{}
	for i := 0; i < 64; i++ {
		sess, secret := create(t, st, rdb)
		raw, err := base64.RawURLEncoding.DecodeString(sess.ScanKey)
		if err != nil || len(raw) != 16 || seen[sess.ScanKey] || sess.ScanKey == secret {
			t.Fatalf("scan key %q: want 128 bits of base64url, fresh, not the secret (%v)", sess.ScanKey, err)
		}
		seen[sess.ScanKey] = true
		for j, b := range raw {
			ones[j] |= b
			zeros[j] |= ^b
		}
		if got, err := st.Get(ctx, sess.ID); err != nil || got.ScanKey != sess.ScanKey {
			t.Fatalf("Get = %+v %v, want the scan key kept", got, err)
		}
		if i > 0 {
			continue
		}
		uid := newUID()
		if _, err := st.Scan(ctx, sess.ID, sess.ScanKey, uid, "u***r"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Confirm(ctx, sess.ID, uid); err != nil {
			t.Fatal(err)
		}
		for _, e := range events(t, rdb, sess.ID) {
			if strings.Contains(e.Data, sess.ScanKey) {
				t.Fatalf("event %s data %q carries the scan key", e.Name, e.Data)
			}
		}
	}
	for j := range ones {
		if ones[j] != 0xff || zeros[j] != 0xff {
			t.Fatalf("byte %d of the scan keys has bits that never change", j)
		}
	}
}
