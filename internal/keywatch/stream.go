package keywatch

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/broker"
	"github.com/sseapi/sse-api/internal/eventid"
	"github.com/sseapi/sse-api/publish"
)

// Page implements broker.Source for a stream key: its entries after the position after,
// each an event with the entry's id, and the newest id that may be gone before them.
//
// An outside stream has no record of what was dropped, as sse-api's own topics have, so it
// is worked out from XINFO STREAM, read with the entries in one MULTI:
//   - the position's own entry is still there: nothing after it was trimmed (trimming drops
//     the oldest first), and entries deleted after it show in max-deleted-entry-id;
//   - it is gone, and the position's ordinal is known (it was the newest entry when last
//     read here, entries-added then): entries after it were trimmed exactly when more than
//     that many entries were removed (entries-added minus length);
//   - otherwise entries after it may be gone: the floor is just before the oldest entry
//     left, and a client there gets a reset (Redis before 7.0 and the embedded Redis,
//     which lack these fields, always take this way, but from the position 0-0).
func (w *Watcher) Page(ctx context.Context, topic string, after eventid.ID, count int) (broker.StreamPage, error) {
	key := strings.TrimPrefix(topic, TopicPrefix)
	streamReads.Inc()
	page, err := w.page(ctx, topic, key, after, count)
	if err != nil {
		readErrors.Inc()
		return page, err
	}
	entryEvents.Add(float64(len(page.Messages)))
	if count > 0 && after.Less(page.Floor) {
		resetEvents.Inc() // the hub sends a reset to the floor before the entries
	}
	return page, nil
}

// page is Page's read, counted by Page.
func (w *Watcher) page(ctx context.Context, topic, key string, after eventid.ID, count int) (broker.StreamPage, error) {
	var info *redis.XInfoStreamCmd
	var entries *redis.XMessageSliceCmd
	_, err := w.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		info = p.XInfoStream(ctx, key)
		if count > 0 {
			// From after itself, inclusive: whether its entry is still there matters.
			entries = p.XRangeN(ctx, key, after.String(), "+", int64(count)+1)
		}
		return nil
	})
	if err != nil && !noStream(info.Err()) {
		return broker.StreamPage{}, err
	}
	if noStream(info.Err()) {
		return broker.StreamPage{}, nil
	}
	in := info.Val()
	var page broker.StreamPage
	page.Exists = true
	page.Last, _ = eventid.Parse(in.LastGeneratedID)
	page.Floor, _ = eventid.Parse(in.MaxDeletedEntryID)
	ordinal, ordinalKnown := w.ordinal(key, after)
	w.remember(key, page.Last, in.EntriesAdded)
	if count == 0 {
		return page, nil
	}
	afterPresent := false
	for _, e := range entries.Val() {
		id, ok := eventid.Parse(e.ID)
		if !ok {
			continue
		}
		if id == after {
			afterPresent = true
			continue
		}
		if len(page.Messages) == count {
			break
		}
		m, err := entryEvent(topic, id, e.Values)
		if err != nil {
			return broker.StreamPage{}, err
		}
		page.Messages = append(page.Messages, m)
	}
	v7 := in.RecordedFirstEntryID != "" // Redis 7 counts the entries ever added
	removed := in.EntriesAdded - in.Length
	switch {
	case afterPresent || after.Less(page.Floor):
		// Nothing after it was trimmed; or what was deleted after it shows already.
	case v7 && ordinalKnown && removed <= ordinal:
	case v7 && removed == 0:
	case !v7 && after.IsZero():
		// From the start of a stream that did not exist yet: trimmed before it was first
		// read, if at all; without the counts, a reset here would come with every new stream.
	case len(page.Messages) > 0:
		page.Floor = maxID(page.Floor, page.Messages[0].ID.Prev())
	case after.Less(page.Last):
		page.Floor = maxID(page.Floor, page.Last) // nothing after it is left
	}
	return page, nil
}

// ordinal is how many entries the stream had had when after was its newest, if known.
func (w *Watcher) ordinal(key string, after eventid.ID) (int64, bool) {
	if after.IsZero() {
		return 0, true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	k := w.keys[key]
	if k == nil || k.added == 0 || k.newest != after {
		return 0, false
	}
	return k.added, true
}

// remember notes a watched stream's newest id and its ordinal (entries-added, Redis 7).
func (w *Watcher) remember(key string, newest eventid.ID, added int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if k := w.keys[key]; k != nil {
		k.newest, k.added = newest, added
	}
}

// noStream reports whether err says there is no stream to read: no such key, or a key of
// another type (a stream rule matching it cannot send it).
func noStream(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "no such key") || wrongType(err))
}

// entryEvent is a stream entry as an event: a field "event" names it (when it is a valid
// event name), and the other fields are its data: a single field "data" as its value (as
// it is when it is JSON, else as a JSON string), any others as a JSON object.
func entryEvent(topic string, id eventid.ID, values map[string]any) (*broker.Message, error) {
	fields := make(map[string]string, len(values))
	for name, v := range values {
		s, _ := v.(string)
		fields[name] = s
	}
	event := fields["event"]
	if publish.ValidEvent(event) {
		delete(fields, "event")
	} else {
		event = ""
	}
	var data []byte
	if d, ok := fields["data"]; ok && len(fields) == 1 {
		data = stringJSON(d)
	} else {
		var err error
		if data, err = json.Marshal(fields); err != nil {
			return nil, errors.New("entry " + id.String() + ": " + err.Error())
		}
	}
	return broker.NewMessage(topic, id, event, data)
}

func maxID(a, b eventid.ID) eventid.ID {
	if a.Less(b) {
		return b
	}
	return a
}
