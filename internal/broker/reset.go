package broker

import (
	"encoding/json"

	"github.com/sseapi/sse-api/internal/eventid"
)

// resetData is the data of a reset event.
type resetData struct {
	Topic       string `json:"topic"`
	Reason      string `json:"reason"`
	LastEventID string `json:"lastEventId"`
}

// resetMessage is the reset event telling readers of topic that the events after from, up to
// to, are gone for the given reason. Its id is to: a reader at from that writes it moves to
// to, and a reader already past to skips it like any event it has seen. Streams build it for
// their own position when they resume (Replay); the hub builds it once for every subscriber
// of a topic when pub/sub lost events that Redis no longer keeps.
func resetMessage(topic, reason string, from, to eventid.ID) (*Message, error) {
	data, err := json.Marshal(resetData{Topic: topic, Reason: reason, LastEventID: from.String()})
	if err != nil {
		return nil, err
	}
	m, err := newMessage(topic, to.String(), ResetEvent, data)
	if err != nil {
		return nil, err
	}
	m.Reset = reason
	return m, nil
}
