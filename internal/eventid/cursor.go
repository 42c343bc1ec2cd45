package eventid

import (
	"errors"
	"strings"
)

// ErrMalformed is returned for a Last-Event-ID that is neither an id nor a cursor.
var ErrMalformed = errors.New("malformed last event id: want <ms>-<seq> or topic=<ms>-<seq>,...")

// Cursor is a connection's position in each of its topics, in the connection's topic order.
//
// On the wire a connection with one topic uses the bare id of its last event, which is also
// the id the publisher got back. A connection with several topics uses
// "topicA=<id>,topicB=<id>": topic names never contain '=' or ',' (see publish.ValidTopic).
type Cursor struct {
	Topics    []string
	Positions []ID
	// Known tells whether a position was given for the topic; an unknown one starts at the
	// topic's current end.
	Known []bool
	// Instant tells that the positions came from one bare id given for several topics: a
	// moment in time rather than ids each topic handed out.
	Instant bool
}

// NewCursor returns a cursor over topics with no known position.
func NewCursor(topics []string) *Cursor {
	return &Cursor{
		Topics:    topics,
		Positions: make([]ID, len(topics)),
		Known:     make([]bool, len(topics)),
	}
}

// ParseCursor reads a Last-Event-ID for a connection over topics. A bare id applies to every
// topic: ids are append times, so it means "everything published after that instant". Topics
// the value does not name stay unknown; names that are not among topics are ignored.
func ParseCursor(topics []string, s string) (*Cursor, error) {
	c := NewCursor(topics)
	s = strings.TrimSpace(s)
	if s == "" {
		return c, nil
	}
	if !strings.Contains(s, "=") {
		id, ok := Parse(s)
		if !ok {
			return nil, ErrMalformed
		}
		for i := range topics {
			c.Positions[i], c.Known[i] = id, true
		}
		c.Instant = len(topics) > 1
		return c, nil
	}
	for _, part := range strings.Split(s, ",") {
		topic, idText, ok := strings.Cut(part, "=")
		if !ok {
			return nil, ErrMalformed
		}
		id, ok := Parse(idText)
		if !ok {
			return nil, ErrMalformed
		}
		if i := c.Index(topic); i >= 0 {
			c.Positions[i], c.Known[i] = id, true
		}
	}
	return c, nil
}

// Index returns the position of topic in the cursor, or -1.
func (c *Cursor) Index(topic string) int {
	for i, t := range c.Topics {
		if t == topic {
			return i
		}
	}
	return -1
}

// Set moves topic i to id.
func (c *Cursor) Set(i int, id ID) {
	c.Positions[i], c.Known[i] = id, true
}

// AppendTo appends the wire form of the cursor to dst (see Cursor).
func (c *Cursor) AppendTo(dst []byte) []byte {
	if len(c.Topics) == 1 {
		return c.Positions[0].AppendTo(dst)
	}
	for i, t := range c.Topics {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, t...)
		dst = append(dst, '=')
		dst = c.Positions[i].AppendTo(dst)
	}
	return dst
}

func (c *Cursor) String() string { return string(c.AppendTo(nil)) }
