package qrlogin

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sseapi/sse-api/internal/eventid"
	"github.com/sseapi/sse-api/publish"
)

// Invariants 6 and 8 (F6): every transition appends one event, in order, named after the new
// state, whose data holds the state and never the uid, the secret or a token; and Pos is
// always the id of the last event, so a snapshot and the stream agree.
func TestTransitionsAppendEventsInOrder(t *testing.T) {
	st, rdb := newTestStore(t, Config{})
	sess, secret := create(t, st, rdb)
	uid := newUID()
	steps := []func() (*Session, error){
		func() (*Session, error) { return st.Get(ctx, sess.ID) },
		func() (*Session, error) { return st.Scan(ctx, sess.ID, sess.ScanKey, uid, "u***r") },
		func() (*Session, error) { return st.Confirm(ctx, sess.ID, uid) },
		func() (*Session, error) { _, s, err := st.Consume(ctx, sess.ID, secret); return s, err },
	}
	want := []string{"pending", "scanned", "confirmed", "consumed"}
	for i, step := range steps {
		got, err := step()
		if err != nil {
			t.Fatalf("step %s: %v", want[i], err)
		}
		evs := events(t, rdb, sess.ID)
		if len(evs) != i+1 {
			t.Fatalf("after %s: %d events, want %d", want[i], len(evs), i+1)
		}
		if got.State != State(want[i]) || got.Pos != evs[i].ID {
			t.Fatalf("after %s: state %s pos %s, want pos %s", want[i], got.State, got.Pos, evs[i].ID)
		}
		if raw := rdb.HGet(ctx, sessionKey(sess.ID), "pos").Val(); raw != evs[i].ID {
			t.Fatalf("stored pos %s, want %s", raw, evs[i].ID)
		}
	}

	evs := events(t, rdb, sess.ID)
	var prev eventid.ID
	for i, e := range evs {
		if e.Name != want[i] {
			t.Fatalf("event %d is %q, want %q", i, e.Name, want[i])
		}
		id := eventid.MustParse(e.ID)
		if !prev.Less(id) {
			t.Fatalf("event ids out of order: %v then %v", prev, id)
		}
		prev = id
		var data map[string]any
		if err := json.Unmarshal([]byte(e.Data), &data); err != nil {
			t.Fatalf("event %s data %q is not a JSON object: %v", e.Name, e.Data, err)
		}
		if data["state"] != e.Name {
			t.Fatalf("event %s data state = %v", e.Name, data["state"])
		}
		for _, secretish := range []string{uid, secret, secretDigest(secret), sess.ScanKey, "eyJ"} {
			if strings.Contains(e.Data, secretish) {
				t.Fatalf("event %s data %q leaks %q", e.Name, e.Data, secretish)
			}
		}
	}
	var scannedData struct {
		Hint      string `json:"hint"`
		ExpiresAt int64  `json:"expires_at"`
	}
	_ = json.Unmarshal([]byte(evs[1].Data), &scannedData)
	if scannedData.Hint != "u***r" || scannedData.ExpiresAt == 0 {
		t.Fatalf("scanned data = %s, want the hint and the deadline", evs[1].Data)
	}
	// The confirmed state shows the browser whom it is about to be signed in as.
	if evs[2].Data != `{"state":"confirmed","hint":"u***r"}` {
		t.Fatalf("confirmed data = %s, want the state and the hint", evs[2].Data)
	}
}

// Invariant 9: each transition is also announced on the topic's pub/sub channel, which is how
// it reaches a stream held by another instance.
func TestTransitionsAreAnnounced(t *testing.T) {
	st, rdb := newTestStore(t, Config{})
	sess, secret := create(t, st, rdb)
	sub := rdb.Subscribe(ctx, publish.Channel(Topic(sess.ID)))
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription confirmation
		t.Fatal(err)
	}
	uid := newUID()
	if _, err := st.Scan(ctx, sess.ID, sess.ScanKey, uid, "u***r"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Confirm(ctx, sess.ID, uid); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Consume(ctx, sess.ID, secret); err != nil {
		t.Fatal(err)
	}
	evs := events(t, rdb, sess.ID)
	ch := sub.Channel()
	for i, name := range []string{"scanned", "confirmed", "consumed"} {
		select {
		case m := <-ch:
			// "<prev> <id> <event>\n<data>", see publish/append.lua.
			head, data, _ := strings.Cut(m.Payload, "\n")
			if want := evs[i].ID + " " + evs[i+1].ID + " " + name; head != want || data != evs[i+1].Data {
				t.Fatalf("announcement %q, want %q", m.Payload, want+"\n"+evs[i+1].Data)
			}
			if strings.Contains(m.Payload, uid) || strings.Contains(m.Payload, secret) {
				t.Fatalf("announcement %q leaks the uid or the secret", m.Payload)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no announcement of %s", name)
		}
	}
}
