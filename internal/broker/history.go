package broker

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/eventid"
	"github.com/sseapi/sse-api/publish"
)

//go:embed range.lua
var rangeLua string

var rangeScript = redis.NewScript(rangeLua)

// page is a slice of a topic's history and the topic's position when it was read.
type page struct {
	messages []*Message
	last     eventid.ID // newest id ever appended; zero when the topic is unknown
	floor    eventid.ID // newest id dropped from the history; zero when none was
	known    bool       // the topic's position is still kept in Redis
	stored   bool       // the topic's history still exists
}

func readPage(ctx context.Context, rdb redis.Scripter, topic string, from eventid.ID, count int) (page, error) {
	raw, err := rangeScript.Run(ctx, rdb,
		[]string{publish.StreamKey(topic), publish.MetaKey(topic)},
		from.String(), count,
	).Slice()
	if err != nil {
		return page{}, fmt.Errorf("read history of %s: %w", topic, err)
	}
	if len(raw) != 4 {
		return page{}, fmt.Errorf("read history of %s: unexpected reply %v", topic, raw)
	}
	var p page
	entries, _ := raw[0].([]any)
	for _, e := range entries {
		m, err := entryMessage(topic, e)
		if err != nil {
			return page{}, fmt.Errorf("read history of %s: %w", topic, err)
		}
		p.messages = append(p.messages, m)
	}
	if s, _ := raw[1].(string); s != "" {
		p.last, p.known = eventid.MustParse(s), true
	}
	if s, _ := raw[2].(string); s != "" {
		p.floor = eventid.MustParse(s)
	}
	p.stored = raw[3] == int64(1)
	return p, nil
}

// entryMessage reads one XRANGE entry: {id, {"e", event, "d", data}}.
func entryMessage(topic string, e any) (*Message, error) {
	pair, ok := e.([]any)
	if !ok || len(pair) != 2 {
		return nil, errBadAnnouncement
	}
	id, _ := pair[0].(string)
	fields, _ := pair[1].([]any)
	var event, data string
	for i := 0; i+1 < len(fields); i += 2 {
		name, _ := fields[i].(string)
		value, _ := fields[i+1].(string)
		switch name {
		case "e":
			event = value
		case "d":
			data = value
		}
	}
	return newMessage(topic, id, event, []byte(data))
}
