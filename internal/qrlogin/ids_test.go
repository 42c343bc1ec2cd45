package qrlogin

import (
	"encoding/base64"
	"encoding/hex"
	"testing"

	"github.com/sseapi/sse-api/publish"
)

// Invariant 1 (F3): ids have at least 128 bits from a CSPRNG. Every one of the 128 bits must
// take both values across 64 ids; a constant prefix, a counter or a timestamp fails this,
// while 128 truly random bits fail it with probability about 2^-56.
func TestIDsAreServerMadeWith128RandomBits(t *testing.T) {
	st, rdb := newTestStore(t, Config{})
	const n = 64
	seen := map[string]bool{}
	secrets := map[string]bool{}
	var ones, zeros [16]byte
	for i := 0; i < n; i++ {
		sess, secret := create(t, st, rdb)
		if !ValidID(sess.ID) || len(sess.ID) != 32 {
			t.Fatalf("id %q is not 32 lowercase hex characters", sess.ID)
		}
		if seen[sess.ID] || secrets[secret] {
			t.Fatalf("repeated id or secret after %d sessions", i)
		}
		seen[sess.ID], secrets[secret] = true, true
		raw, _ := hex.DecodeString(sess.ID)
		for j, b := range raw {
			ones[j] |= b
			zeros[j] |= ^b
		}
		if b, err := base64.RawURLEncoding.DecodeString(secret); err != nil || len(b) != 32 {
			t.Fatalf("secret %q is not 256 bits of base64url (%v)", secret, err)
		}
		if !publish.ValidTopic(Topic(sess.ID)) {
			t.Fatalf("Topic(%q) is not a valid topic", sess.ID)
		}
	}
	for j := range ones {
		if ones[j] != 0xff || zeros[j] != 0xff {
			t.Fatalf("byte %d of the ids has bits that never change: ones %08b zeros %08b", j, ones[j], ^zeros[j])
		}
	}
}

// Invariant 1 (F4): only Create makes ids (it takes none), and an id the server did not make
// names nothing: every call answers ErrNotFound and no key springs into existence.
func TestClientChosenIDIsNotFound(t *testing.T) {
	st, rdb := newTestStore(t, Config{})
	uid := newUID()
	for _, id := range []string{newID(), "", "1", "qr:x", "00000000000000000000000000000000", "ABCDEF0123456789ABCDEF0123456789", newID() + "0"} {
		_, err := st.Get(ctx, id)
		wantErr(t, "Get", err, ErrNotFound)
		_, err = st.Expire(ctx, id)
		wantErr(t, "Expire", err, ErrNotFound)
		_, err = st.Scan(ctx, id, newScanKey(), uid, "u***r")
		wantErr(t, "Scan", err, ErrNotFound)
		_, err = st.Confirm(ctx, id, uid)
		wantErr(t, "Confirm", err, ErrNotFound)
		_, err = st.CancelByPhone(ctx, id, uid)
		wantErr(t, "CancelByPhone", err, ErrNotFound)
		_, err = st.CancelByBrowser(ctx, id, "secret")
		wantErr(t, "CancelByBrowser", err, ErrNotFound)
		_, _, err = st.Consume(ctx, id, "secret")
		wantErr(t, "Consume", err, ErrNotFound)
		topic := Topic(id)
		if n := rdb.Exists(ctx, sessionKey(id), publish.StreamKey(topic), publish.MetaKey(topic)).Val(); n != 0 {
			t.Fatalf("calls on unknown id %q created %d keys", id, n)
		}
	}
}
