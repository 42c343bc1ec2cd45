// Package history reads a topic's kept events page by page, for callers that fetch rather
// than stream: what a subscriber resuming would be sent, and whether events it asks for were
// already dropped (trimmed to the history's size, or expired).
package history

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/eventid"
	"github.com/sseapi/sse-api/publish"
)

// DefaultLimit and MaxLimit bound the events of a page.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// DefaultMaxBytes bounds a page in bytes when New is given no bound: MaxLimit events of
// Stream.MaxPayload each would otherwise make one page of tens of MiB.
const DefaultMaxBytes = 1 << 20

var (
	ErrInvalidTopic = publish.ErrInvalidTopic
	ErrInvalidAfter = errors.New("after must be an event id, <ms>-<seq>")
	ErrInvalidLimit = fmt.Errorf("limit must be from 1 to %d", MaxLimit)
)

//go:embed page.lua
var pageLua string

var pageScript = redis.NewScript(pageLua)

// Event is one kept event, as it was published.
type Event struct {
	Id    string          `json:"id"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

// Page is a slice of a topic's history.
type Page struct {
	Events []Event
	// Next is the after of the following page: the last event's id; with no event, the
	// after asked for (or, from the start, the topic's newest id, so that polling from it
	// gets only what comes next).
	Next string
	// More says that more events are kept after Next: the page held limit events, or the
	// next one would have taken it past the Reader's byte bound.
	More bool
	// Truncated says that events after the given after were dropped before they were
	// read: the page does not follow on from after.
	Truncated bool
}

// Reader reads histories from Redis.
type Reader struct {
	rdb      redis.UniversalClient
	maxBytes int64
}

// New returns a Reader on rdb (standalone, Sentinel or Cluster) whose pages hold at most
// maxBytes of events (their ids, names and data; DefaultMaxBytes when not positive).
func New(rdb redis.UniversalClient, maxBytes int64) *Reader {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return &Reader{rdb: rdb, maxBytes: maxBytes}
}

// Page returns up to limit events of topic that come after the id after, oldest first;
// after empty means from the oldest kept. Redis stops the page before the event that would
// take it past the Reader's byte bound, but always gives the first, however large, so that
// paging on from Next moves on.
func (r *Reader) Page(ctx context.Context, topic, after string, limit int) (Page, error) {
	if !publish.ValidTopic(topic) {
		return Page{}, ErrInvalidTopic
	}
	if limit < 1 || limit > MaxLimit {
		return Page{}, ErrInvalidLimit
	}
	from, start := eventid.Zero, "-"
	if after != "" {
		id, ok := eventid.Parse(after)
		if !ok {
			return Page{}, ErrInvalidAfter
		}
		from, start = id, id.Next().String()
	}
	raw, err := pageScript.Run(ctx, r.rdb,
		[]string{publish.StreamKey(topic), publish.MetaKey(topic)}, start, limit, r.maxBytes).Slice()
	if err != nil {
		return Page{}, fmt.Errorf("read history of %s: %w", topic, err)
	}
	if len(raw) != 5 {
		return Page{}, fmt.Errorf("read history of %s: unexpected reply %v", topic, raw)
	}
	entries, _ := raw[0].([]any)
	last, _ := raw[1].(string)
	floor, _ := raw[2].(string)
	stored := raw[3] == int64(1)

	p := Page{Events: make([]Event, 0, len(entries)), Next: after, More: raw[4] == int64(1)}
	for _, e := range entries {
		ev, err := entryEvent(e)
		if err != nil {
			return Page{}, fmt.Errorf("read history of %s: %w", topic, err)
		}
		p.Events = append(p.Events, ev)
	}
	switch {
	case len(p.Events) > 0:
		p.Next = p.Events[len(p.Events)-1].Id
	case after == "":
		p.Next = last
	}
	if after != "" {
		// As a resuming subscriber is told (internal/broker): the newest id dropped is the
		// floor while the history exists, and every id up to the last once it has expired.
		gone := floor
		if !stored {
			gone = last
		}
		if id, ok := eventid.Parse(gone); ok && from.Less(id) {
			p.Truncated = true
		}
	}
	return p, nil
}

// entryEvent reads one XRANGE entry: {id, {"e", event, "d", data}}.
func entryEvent(e any) (Event, error) {
	pair, ok := e.([]any)
	if !ok || len(pair) != 2 {
		return Event{}, fmt.Errorf("unexpected entry %v", e)
	}
	var ev Event
	ev.Id, _ = pair[0].(string)
	fields, _ := pair[1].([]any)
	for i := 0; i+1 < len(fields); i += 2 {
		name, _ := fields[i].(string)
		value, _ := fields[i+1].(string)
		switch name {
		case "e":
			ev.Event = value
		case "d":
			ev.Data = json.RawMessage(value)
		}
	}
	if !json.Valid(ev.Data) {
		// Not written by a publisher of sse-api (which checks it): passed on as a string
		// rather than breaking the page.
		quoted, _ := json.Marshal(string(ev.Data))
		ev.Data = quoted
	}
	return ev, nil
}
