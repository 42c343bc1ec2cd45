package publish

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed batch.lua
	batchLua string

	batchScript = redis.NewScript(AppendLua + batchLua)
)

// Event is one event of a batch.
type Event struct {
	Topic string
	// Event is the event name; empty means DefaultEvent.
	Event string
	// Data is one valid JSON value, delivered as given.
	Data []byte
}

// InvalidEventError refuses a batch for one of its events; nothing was written.
type InvalidEventError struct {
	Index int // of the event in the batch
	Err   error
}

func (e *InvalidEventError) Error() string { return fmt.Sprintf("event %d: %v", e.Index, e.Err) }
func (e *InvalidEventError) Unwrap() error { return e.Err }

// PartialError is PublishBatch's error when, in a Redis Cluster, the events of some topics
// were written and those of others were not.
type PartialError struct {
	// IDs holds, in request order, the id of each event written and "" for each one not.
	IDs []string
	// Written and Failed are the topics whose events were all written, or none of them.
	Written, Failed []string
	Err             error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("batch written for topics %s, not for %s: %v",
		strings.Join(e.Written, ", "), strings.Join(e.Failed, ", "), e.Err)
}
func (e *PartialError) Unwrap() error { return e.Err }

// group is the events of one topic in a batch, in request order.
type group struct {
	topic string
	index []int // of its events in the batch
}

// PublishBatch appends events and returns their ids in request order. Every event is
// checked first (topic, event name, JSON data): a bad one refuses the whole batch with an
// *InvalidEventError naming it, and nothing is written. Events keep their order within their
// topic, and get the ids, history and announcements that Publish would give them.
//
// What is atomic:
//   - standalone and Sentinel: the whole batch is one script, so it is written whole or not
//     at all, and no other writer's event lands between its events;
//   - Cluster: each topic's events are one script on the topic's node, written whole or not
//     at all; topics on different nodes are written independently. When some topics are
//     written and others are not, the error is a *PartialError listing both, with each
//     written event's id.
//
// On an error, ids holds the ids of the events written before the first event that was not,
// in request order: empty when nothing was written. A batch on one topic is never written in
// part.
func (p *Publisher) PublishBatch(ctx context.Context, events []Event) ([]string, error) {
	if len(events) == 0 {
		return nil, nil
	}
	var groups []*group
	byTopic := map[string]*group{}
	for i, e := range events {
		if err := checkEvent(e); err != nil {
			return nil, &InvalidEventError{Index: i, Err: err}
		}
		g := byTopic[e.Topic]
		if g == nil {
			g = &group{topic: e.Topic}
			byTopic[e.Topic] = g
			groups = append(groups, g)
		}
		g.index = append(g.index, i)
	}
	b, err := p.bounds(ctx)
	if err != nil {
		return nil, fmt.Errorf("publish batch: %w", err)
	}
	ids := make([]string, len(events))
	if !Sharded(p.rdb) {
		keys, args := p.batchCall(b, events, groups)
		got, err := batchScript.Run(ctx, p.rdb, keys, args...).StringSlice()
		if err == nil {
			err = placeIDs(ids, groups, got)
		}
		if err != nil {
			return nil, fmt.Errorf("publish batch: %w", err)
		}
		return ids, nil
	}
	return p.publishGroups(ctx, b, events, groups, ids)
}

// publishGroups writes each group as a script of its own, all in one pipeline (go-redis
// sends each node its part): the Cluster path.
func (p *Publisher) publishGroups(ctx context.Context, b bounds, events []Event, groups []*group, ids []string) ([]string, error) {
	cmds := make([]*redis.Cmd, len(groups))
	_, _ = p.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i := range groups {
			keys, args := p.batchCall(b, events, groups[i:i+1])
			cmds[i] = batchScript.EvalSha(ctx, pipe, keys, args...)
		}
		return nil
	})
	var written, failed []string
	var firstErr error
	for i, g := range groups {
		got, err := cmds[i].StringSlice()
		if err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			// The node lost its scripts (a restart, a failover); nothing was written.
			keys, args := p.batchCall(b, events, groups[i:i+1])
			got, err = batchScript.Run(ctx, p.rdb, keys, args...).StringSlice()
		}
		if err == nil {
			err = placeIDs(ids, groups[i:i+1], got)
		}
		if err != nil {
			failed = append(failed, g.topic)
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		written = append(written, g.topic)
	}
	switch {
	case firstErr == nil:
		return ids, nil
	case len(written) == 0:
		return nil, fmt.Errorf("publish batch: %w", firstErr)
	}
	partial := &PartialError{IDs: ids, Written: written, Failed: failed, Err: firstErr}
	n := 0
	for n < len(ids) && ids[n] != "" {
		n++
	}
	if n == 0 {
		return nil, partial
	}
	return slices.Clone(ids[:n]), partial
}

// batchCall is the keys and arguments of batch.lua for groups.
func (p *Publisher) batchCall(b bounds, events []Event, groups []*group) ([]string, []any) {
	keys := make([]string, 0, 2*len(groups))
	args := make([]any, 0, 3+2*len(groups)+2*len(events))
	args = append(args, p.announce, b.size, b.ttlMs)
	for _, g := range groups {
		keys = append(keys, StreamKey(g.topic), MetaKey(g.topic))
		args = append(args, Channel(g.topic), len(g.index))
		for _, i := range g.index {
			e := events[i]
			if e.Event == "" {
				e.Event = DefaultEvent
			}
			args = append(args, e.Event, e.Data)
		}
	}
	return keys, args
}

// placeIDs puts the ids batch.lua returned for groups at their events' places.
func placeIDs(ids []string, groups []*group, got []string) error {
	n := 0
	for _, g := range groups {
		n += len(g.index)
	}
	if len(got) != n {
		return fmt.Errorf("%d ids for %d events", len(got), n)
	}
	k := 0
	for _, g := range groups {
		for _, i := range g.index {
			ids[i] = got[k]
			k++
		}
	}
	return nil
}

// checkEvent is what Publish checks of its arguments.
func checkEvent(e Event) error {
	switch {
	case !ValidTopic(e.Topic):
		return ErrInvalidTopic
	case e.Event != "" && !ValidEvent(e.Event):
		return ErrInvalidEvent
	case !json.Valid(e.Data):
		return ErrInvalidData
	}
	return nil
}
