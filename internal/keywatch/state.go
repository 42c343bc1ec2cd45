package keywatch

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/broker"
	"github.com/sseapi/sse-api/internal/eventid"
)

// Events of a state key.
const (
	StateEvent   = "state"   // data: the value
	DeletedEvent = "deleted" // data: {"reason": ...}
)

// Why a state key has no value (the reason of a DeletedEvent).
const (
	ReasonDeleted = "deleted" // deleted (DEL, UNLINK, RENAME away, evicted...)
	ReasonExpired = "expired" // its TTL ran out (told when Redis removes it)
	// ReasonAbsent: missing when the stream opened, or gone while the notifications were
	// not followed (a dropped link), so how it went is unknown.
	ReasonAbsent = "absent"
	// ReasonUnsupported: the key holds neither a string nor a hash (its type is in "type").
	ReasonUnsupported = "unsupported"
)

// State implements broker.Source: the key's value as an event whose id is a hash of what
// it sends, so that the same value has the same id on every instance and after restarts.
func (w *Watcher) State(ctx context.Context, topic string) (now, joined *broker.Message, err error) {
	key := strings.TrimPrefix(topic, TopicPrefix)
	stateReads.Inc()
	v, err := readValue(ctx, w.rdb, key)
	if err != nil {
		readErrors.Inc()
		return nil, nil, err
	}
	defer func() {
		if err == nil {
			w.noteState(key, now)
		}
	}()
	if v.data != nil {
		now, err = newEvent(topic, StateEvent, v.data)
		return now, nil, err
	}
	reason := ReasonAbsent
	switch last := w.lastEvent(key); {
	case v.typ != "":
		reason = ReasonUnsupported
	case last == "expired":
		reason = ReasonExpired
	case last != "":
		reason = ReasonDeleted
	}
	if now, err = goneEvent(topic, reason, v.typ); err != nil {
		return nil, nil, err
	}
	if reason == ReasonAbsent || reason == ReasonUnsupported {
		return now, nil, nil
	}
	joined, err = goneEvent(topic, ReasonAbsent, "")
	return now, joined, err
}

// noteState counts the event of a state key's read when it differs from the last one read:
// the hub sends it (to its subscribers, or to those joining after the first read).
func (w *Watcher) noteState(key string, now *broker.Message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := w.keys[key]
	if k == nil || k.read == now.ID {
		return
	}
	k.read = now.ID
	if now.Event == DeletedEvent {
		deletedEvents.Inc()
	} else {
		stateEvents.Inc()
	}
}

// value is what a state key holds, as sent.
type value struct {
	data []byte // JSON; nil when there is none
	typ  string // the key's type when it is neither a string nor a hash
}

// readValue reads a string with GET (one command, the common case), and a hash with
// HGETALL when GET finds one. The key may change type between the two: then again.
func readValue(ctx context.Context, rdb redis.Cmdable, key string) (value, error) {
	for range 3 {
		s, err := rdb.Get(ctx, key).Result()
		switch {
		case err == nil:
			return value{data: stringJSON(s)}, nil
		case errors.Is(err, redis.Nil):
			return value{}, nil
		case !wrongType(err):
			return value{}, err
		}
		fields, err := rdb.HGetAll(ctx, key).Result()
		switch {
		case err == nil && len(fields) == 0: // gone meanwhile
			return value{}, nil
		case err == nil:
			data, err := json.Marshal(fields) // an object, its fields sorted by name
			return value{data: data}, err
		case !wrongType(err):
			return value{}, err
		}
		typ, err := rdb.Type(ctx, key).Result()
		switch {
		case err != nil:
			return value{}, err
		case typ == "none":
			return value{}, nil
		case typ != "string" && typ != "hash":
			return value{typ: typ}, nil
		}
	}
	return value{}, errors.New("the key keeps changing type")
}

func wrongType(err error) bool { return strings.HasPrefix(err.Error(), "WRONGTYPE") }

// stringJSON is a string value as sent: as it is when it is valid JSON, else as a JSON
// string.
func stringJSON(s string) []byte {
	if json.Valid([]byte(s)) {
		return []byte(s)
	}
	b, _ := json.Marshal(s) // a string always marshals (bad UTF-8 becomes U+FFFD)
	return b
}

// goneEvent is a DeletedEvent. Every one has the id of "no value", whatever its reason,
// so a client that saw the key go is not told again that it is absent.
func goneEvent(topic, reason, typ string) (*broker.Message, error) {
	data, err := json.Marshal(struct {
		Reason string `json:"reason"`
		Type   string `json:"type,omitempty"`
	}{reason, typ})
	if err != nil {
		return nil, err
	}
	m, err := broker.NewMessage(topic, valueID(DeletedEvent, nil), DeletedEvent, data)
	return m, err
}

func newEvent(topic, event string, data []byte) (*broker.Message, error) {
	return broker.NewMessage(topic, valueID(event, data), event, data)
}

// valueID identifies a value: "0-<64 bits of SHA-256 of the event and its data>", in the
// syntax of every other id (a Redis Stream id), so cursors carry it unchanged. It is
// compared for equality only: a value is sent unless the client holds this very id.
func valueID(event string, data []byte) eventid.ID {
	h := sha256.New()
	h.Write([]byte(event))
	h.Write([]byte{'\n'})
	h.Write(data)
	var sum [sha256.Size]byte
	n := binary.BigEndian.Uint64(h.Sum(sum[:0]))
	if n == 0 {
		n = 1 // 0-0 is the position of a client that holds nothing
	}
	return eventid.ID{Seq: n}
}
