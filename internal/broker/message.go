// Package broker carries events from Redis to the subscribers of one instance. Each instance
// holds one pub/sub connection however many subscribers it serves; a topic's announcements
// are chained by the id of the previous event, so a gap left by pub/sub (which is
// at-most-once) is noticed and filled from the topic's stream. History reads go through the
// shared connection pool.
package broker

import (
	"errors"
	"strings"

	"github.com/sseapi/sse-api/internal/eventid"
	"github.com/sseapi/sse-api/internal/ssewire"
)

// Message is one event of one topic, rendered once and shared by every subscriber.
type Message struct {
	Topic  string
	ID     eventid.ID
	IDText string // ID as sent on the wire by single-topic streams
	Event  string
	Data   []byte
	// Body is the event's SSE frame without its id line, rendered once for all subscribers.
	Body []byte
	// Reset is the reason of a reset event (see resetMessage); "" for every other event.
	Reset string
	// Rewind marks a reset made for one subscriber's own position: it moves that position
	// wherever its id says, backwards included (a position the topic never had).
	Rewind bool
	// State marks a value of a KindState topic: it replaces the one before, and is written
	// to a subscriber whose position is any other id (see Source).
	State bool
}

var errBadAnnouncement = errors.New("broker: malformed announcement")

func newMessage(topic, idText, event string, data []byte) (*Message, error) {
	id, ok := eventid.Parse(idText)
	if !ok {
		return nil, errBadAnnouncement
	}
	body, err := ssewire.AppendBody(nil, event, data)
	if err != nil {
		return nil, err
	}
	return &Message{Topic: topic, ID: id, IDText: idText, Event: event, Data: data, Body: body}, nil
}

// parseAnnouncement reads "<prev> <id> <event>\n<data>" (see publish/append.lua).
func parseAnnouncement(topic, payload string) (prev eventid.ID, m *Message, err error) {
	head, data, ok := strings.Cut(payload, "\n")
	if !ok {
		return prev, nil, errBadAnnouncement
	}
	fields := strings.SplitN(head, " ", 3)
	if len(fields) != 3 {
		return prev, nil, errBadAnnouncement
	}
	if prev, ok = eventid.Parse(fields[0]); !ok {
		return prev, nil, errBadAnnouncement
	}
	m, err = newMessage(topic, fields[1], fields[2], []byte(data))
	return prev, m, err
}
