package broker

import (
	"context"
	"fmt"

	"github.com/sseapi/sse-api/internal/eventid"
	"github.com/sseapi/sse-api/internal/ssewire"
)

// A Source feeds topics whose events do not come from sse-api's own streams, such as Redis
// keys written by other services (internal/keywatch). The hub keeps their subscribers,
// cursors and fan-out as for its own topics, and reads them on its readers (coalesced,
// retried, never on the goroutine that tells of a change); the source says which topics are
// its own, reads them, and tells the hub when a watched one may have changed.
type Source interface {
	// Kind says how the source feeds topic: KindOwn for a topic that is not the source's.
	Kind(topic string) Kind
	// Watch starts watching topic, as its first subscriber on this instance joins: the
	// source calls changed, from any goroutine and as often as it likes, whenever the topic
	// may have changed, until Unwatch (the last subscriber left). The hub calls both with
	// its own lock held, one topic's calls one after the other: they must not block or call
	// into the hub.
	Watch(topic string, changed func())
	Unwatch(topic string)
	// State reads a KindState topic: now is the event its subscribers get when it changes to
	// what it holds; joined, with the same id, what a subscriber joining now gets (nil: now).
	// They differ where a change is told otherwise than a state: a key deleted, or absent.
	State(ctx context.Context, topic string) (now, joined *Message, err error)
	// Page reads a KindStream topic: up to count entries after the position after, oldest
	// first, and where the stream stands. With count 0 it reads only where it stands.
	Page(ctx context.Context, topic string, after eventid.ID, count int) (StreamPage, error)
}

// Kind is how a topic's events behave.
type Kind uint8

const (
	// KindOwn is sse-api's own topic: a history stream, and announcements on pub/sub.
	KindOwn Kind = iota
	// KindStream is a sequence of events whose ids grow, resumed as sse-api's own topics
	// are: by replaying what follows a position, with a reset where that is gone.
	KindStream
	// KindState is one value. Each event replaces the last and its id identifies the value:
	// a subscriber gets the current value first, unless it has it already (the same id),
	// then the changes. Values in between may be skipped, never the last one.
	KindState
)

// StreamPage is what a KindStream topic holds after a position, and where it stands.
type StreamPage struct {
	Messages []*Message // oldest first
	// Last is the newest id the stream ever had; Floor the newest id whose entry may be
	// gone (trimmed or deleted): a position before it may have missed events.
	Last, Floor eventid.ID
	Exists      bool // the stream exists
}

// NewMessage is an event of topic with the given id, for a Source: its frame is rendered
// once here, for every subscriber. The event name must be valid on the wire (no CR, LF or
// NUL); an empty one is the default "message".
func NewMessage(topic string, id eventid.ID, event string, data []byte) (*Message, error) {
	body, err := ssewire.AppendBody(nil, event, data)
	if err != nil {
		return nil, err
	}
	return &Message{Topic: topic, ID: id, IDText: id.String(), Event: event, Data: data, Body: body}, nil
}

// watchSourced makes the topic name, if a Source feeds it, and starts watching it; nil for
// sse-api's own topics. The shard's lock is held.
func (h *Hub) watchSourced(sh *shard, name string) *topic {
	if h.opts.Source == nil {
		return nil
	}
	kind := h.opts.Source.Kind(name)
	if kind == KindOwn {
		return nil
	}
	t := newTopic(name)
	t.kind = kind
	sh.topics[name] = t
	// Busy before the source may call back: its first read, which learns where the topic
	// stands (what pub/sub's confirmation starts for sse-api's own topics), is queued below
	// and covers any change told meanwhile. Nobody else has t yet, so no lock is needed.
	t.busy = true
	h.opts.Source.Watch(name, func() { h.changed(t) })
	h.enqueue(t)
	return t
}

// changed has a Source's topic read again. A burst of changes costs one read under way and
// one more after it: the last value is always read.
func (h *Hub) changed(t *topic) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.gone.Load():
	case t.busy:
		t.again = true // the read under way may have begun before this change
	default:
		h.startRecovery(t)
	}
}

// readState reads a KindState topic and forwards its value if it changed. The first read
// forwards nothing: joining subscribers are offered the value themselves (offerState).
func (h *Hub) readState(ctx context.Context, t *topic) error {
	now, joined, err := h.opts.Source.State(ctx, t.name)
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	if joined == nil {
		joined = now
	}
	now.State, joined.State = true, true
	t.mu.Lock()
	defer t.mu.Unlock()
	t.value = joined
	switch {
	case !t.init:
		t.last, t.init = now.ID, true
		close(t.ready)
	case now.ID != t.last:
		t.forward(now)
	}
	return nil
}

// readStreamPosition learns where a new KindStream topic stands: entries after it reach
// its subscribers.
func (h *Hub) readStreamPosition(ctx context.Context, t *topic) error {
	p, err := h.opts.Source.Page(ctx, t.name, eventid.Zero, 0)
	if err != nil {
		return fmt.Errorf("read position: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last, t.init = p.Last, true
	close(t.ready)
	return nil
}

// page reads a page of a topic's history from from on: sse-api's own from its stream and
// meta, a Source's KindStream topic through the source.
func (h *Hub) page(ctx context.Context, topic string, from eventid.ID, count int) (page, error) {
	if h.opts.Source == nil || h.opts.Source.Kind(topic) != KindStream {
		return readPage(ctx, h.rdb, topic, from, count)
	}
	sp, err := h.opts.Source.Page(ctx, topic, from.Prev(), count)
	if err != nil {
		return page{}, fmt.Errorf("read %s: %w", topic, err)
	}
	return page{
		messages: sp.Messages, last: sp.Last, floor: sp.Floor, known: sp.Exists, stored: sp.Exists,
	}, nil
}

// offerState queues the value of the cursor's topic i for s, if it is a KindState topic,
// and reports whether it is. Under the topic's lock, so that every change after the value
// reaches the queue after it.
func (h *Hub) offerState(s *Subscriber, i int) bool {
	if h.opts.Source == nil {
		return false
	}
	t := h.lookup(s.cursor.Topics[i])
	if t == nil || t.kind != KindState {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s.offer(t.value)
	return true
}
