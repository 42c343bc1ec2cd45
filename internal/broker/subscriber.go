package broker

import (
	"context"
	"errors"
	"sync"
	"time"
	"unsafe"

	"github.com/sseapi/sse-api/internal/eventid"
	"github.com/sseapi/sse-api/internal/metrics"
)

// ErrSlowConsumer ends a stream whose subscriber fell a whole queue behind. The client
// resumes from its last id; nobody else waited for it.
var ErrSlowConsumer = errors.New("slow consumer: queue full")

// maxBatch bounds how many queued events one flush carries, so a busy stream still flushes
// regularly.
const maxBatch = 64

// FrameWriter is where a subscriber writes; *ssewire.Writer is one.
type FrameWriter interface {
	WriteFrame(id string, body []byte) error
	Flush() error
}

// Batch is one wake-up of a stream's loop: events wait to be taken (Next or Send), the
// subscription was dropped (they then return why), or the stream has reasons of its own to
// wake (Wake). It carries nothing: the events stay in the subscriber until taken, so a
// stream that falls behind gets all of them in one batch.
type Batch struct{}

// Subscriber is one stream's subscription to one or more topics. Its queue is filled by the
// hub and drained by the stream's own goroutine, which is the only user of its other methods.
//
// What the topics hold after the subscriber's positions comes first (read from Redis page by
// page by Next, so a long replay neither blocks the stream's opening nor holds the queue),
// then the live events queued meanwhile, the ones already replayed skipped by id.
//
// The queue is a slice that exists only while events wait in it: an idle stream's
// subscription costs no queue memory, whatever Options.QueueSize is.
type Subscriber struct {
	hub      *Hub
	cursor   *eventid.Cursor
	joinedAt []eventid.ID
	replay   []replay // topics whose history is still to be read, in cursor order

	mu       sync.Mutex
	queue    []*Message // offered, not yet taken
	inflight []*Message // taken by Next, maybe not written yet: they count as queued
	spare    []*Message // a written batch's array, reused for the next queue
	kickErr  error
	ready    chan Batch // one token: something to take, or a reason to wake

	idBuf []byte

	// deliveries are noted here and added to the service's metrics at most once a second
	// (see metrics.Deliveries), at a wake-up with nothing to send, and at Close; addedAt is
	// when they were last added (unix ns). The stream's goroutine alone touches them.
	deliveries *metrics.Deliveries
	addedAt    int64
}

// replay is a topic's history still to be read: everything after from.
type replay struct {
	topic   int
	from    eventid.ID
	started bool // the first page, which checks the position against the history, was read
}

// Subscribe joins the topics of cursor. Topics with no known position start at their current
// end; the others replay what their history holds after their position (see Next).
func (h *Hub) Subscribe(ctx context.Context, cursor *eventid.Cursor) (*Subscriber, error) {
	s := &Subscriber{
		hub:    h,
		cursor: cursor,
		ready:  make(chan Batch, 1),
	}
	at, err := h.join(ctx, s)
	if err != nil {
		h.leave(s)
		return nil, err
	}
	s.joinedAt = at
	for i := range cursor.Topics {
		switch {
		case h.offerState(s, i):
			// A value, not a history: it is queued, and written unless the client has it.
			if !cursor.Known[i] {
				cursor.Set(i, eventid.Zero)
			}
		case !cursor.Known[i]:
			cursor.Set(i, at[i])
		case cursor.Positions[i] != at[i]:
			// Behind the topic: replay. Ahead of what this instance has seen: Redis decides
			// whether the position exists (the announcement may still be on its way) or is
			// unknown, as after a failover that lost writes.
			s.replay = append(s.replay, replay{topic: i, from: cursor.Positions[i]})
		}
	}
	if len(s.replay) > 0 {
		s.signal()
	}
	return s, nil
}

// Close leaves every topic.
func (s *Subscriber) Close() {
	s.addDeliveries()
	s.hub.leave(s)
}

// Ready receives a Batch when there is something to take: replayed or live events, or the
// reason the subscriber was dropped. It may fire when there is nothing left to take.
func (s *Subscriber) Ready() <-chan Batch { return s.ready }

// Wake makes Ready fire, for a stream with reasons of its own to wake its loop (a heartbeat
// falling due). Any goroutine may call it.
func (s *Subscriber) Wake() { s.signal() }

// Cursor is the position reached in every topic.
func (s *Subscriber) Cursor() *eventid.Cursor { return s.cursor }

// offer queues m, or drops the subscriber when QueueSize events already wait for it.
func (s *Subscriber) offer(m *Message) {
	s.mu.Lock()
	if s.kickErr != nil {
		s.mu.Unlock()
		return
	}
	if len(s.queue)+len(s.inflight) >= s.hub.opts.QueueSize {
		s.mu.Unlock()
		s.kick(ErrSlowConsumer)
		return
	}
	if s.queue == nil && s.spare != nil {
		s.queue, s.spare = s.spare, nil
	}
	s.queue = append(s.queue, m)
	first := len(s.queue) == 1
	s.mu.Unlock()
	if first {
		s.signal()
	}
}

func (s *Subscriber) signal() {
	select {
	case s.ready <- Batch{}:
	default:
	}
}

func (s *Subscriber) kick(err error) {
	s.mu.Lock()
	if s.kickErr != nil {
		s.mu.Unlock()
		return
	}
	s.kickErr = err
	s.mu.Unlock()
	if errors.Is(err, ErrSlowConsumer) {
		metrics.SlowDisconnects.Inc()
	}
	s.signal()
}

// Next takes the next events: a page of a topic's history while any is left to replay
// (with a reset first where the position could not be honoured), then every queued live
// event. It returns why the subscriber was dropped, if it was, and the error of a history
// read. The slice is valid until the next call; taken live events still count against
// QueueSize until then, so a stream that cannot write them falls behind as before.
func (s *Subscriber) Next(ctx context.Context) ([]*Message, error) {
	s.mu.Lock()
	err := s.kickErr
	s.recycle()
	if err != nil || len(s.replay) > 0 {
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		msgs, err := s.replayPage(ctx)
		// More history, or the live events queued meanwhile: come back for them.
		s.signal()
		return msgs, err
	}
	s.inflight, s.queue = s.queue, nil
	s.mu.Unlock()
	return s.inflight, nil
}

// recycle lets the events of the batch in flight go and keeps its array, if small, for the
// next queue: an idle stream keeps at most spareCap pointers. s.mu is held.
func (s *Subscriber) recycle() {
	if s.inflight == nil {
		return
	}
	clear(s.inflight)
	if s.spare == nil && cap(s.inflight) <= spareCap {
		s.spare = s.inflight[:0]
	}
	s.inflight = nil
}

// spareCap bounds the queue array a subscriber keeps between batches.
const spareCap = 16

// replayPage reads the next page of the first topic still to replay. The first page of a
// topic also tells whether the position is still in the history: if not, a reset leads.
func (s *Subscriber) replayPage(ctx context.Context) ([]*Message, error) {
	r := &s.replay[0]
	name := s.cursor.Topics[r.topic]
	p, err := s.hub.page(ctx, name, r.from.Next(), s.hub.opts.PageSize)
	if err != nil {
		return nil, err
	}
	var out []*Message
	if !r.started {
		r.started = true
		pos := r.from
		switch {
		case !p.known:
			return s.endReplay(newReset(name, ResetUnknown, pos, s.joinedAt[r.topic])), nil
		case p.last.Less(pos) && !s.cursor.Instant:
			// A position past the topic's newest event was never handed out by it: continue
			// from the newest one. (A bare id given for several topics is an instant: being
			// past a topic's newest event only means that nothing happened there since.)
			return s.endReplay(newReset(name, ResetUnknown, pos, p.last)), nil
		case !p.stored:
			return s.endReplay(newReset(name, ResetExpired, pos, p.last)), nil
		case pos.Less(p.floor):
			out = append(out, newReset(name, ResetTrimmed, pos, p.floor))
		}
	}
	out = append(out, p.messages...)
	if len(p.messages) < s.hub.opts.PageSize {
		s.replay = s.replay[1:]
	} else {
		r.from = p.messages[len(p.messages)-1].ID
	}
	return out, nil
}

// endReplay ends the replay of the first topic still to replay with m, its only event.
func (s *Subscriber) endReplay(m *Message) []*Message {
	s.replay = s.replay[1:]
	return []*Message{m}
}

// Reset reasons: why a resume position could not be honoured exactly.
const (
	ResetTrimmed = "history_trimmed"  // events after the position were dropped to keep the history bounded
	ResetExpired = "history_expired"  // the topic's history expired
	ResetUnknown = "unknown_position" // the position is not one the topic knows, events may be gone
)

// ResetEvent is the event name that tells a client it missed events it cannot get back.
const ResetEvent = "reset"

// newReset is the reset event of topic for this subscriber, which was at from: its
// position moves to to, whether that is ahead of from or not.
func newReset(topic, reason string, from, to eventid.ID) *Message {
	m, err := resetMessage(topic, reason, from, to)
	if err != nil {
		panic("broker: reset event: " + err.Error()) // a fixed event name and JSON data
	}
	m.Rewind = true
	return m
}

// Send writes every event Next takes, flushing after each maxBatch of them and at the end,
// so queued events share a flush (one system call). It returns how many it wrote, and the
// reason the subscriber was dropped, if it was. Events the subscriber is already past are
// skipped.
func (s *Subscriber) Send(ctx context.Context, w FrameWriter) (int, error) {
	batch, err := s.Next(ctx)
	if err != nil || len(batch) == 0 {
		s.addDeliveries() // a heartbeat's wake-up, say: the stream may be idle from now on
		return 0, err
	}
	now := time.Now()
	n := 0
	for _, m := range batch {
		ok, err := s.write(w, m, now)
		if err != nil {
			return n, err
		}
		if ok {
			if n++; n%maxBatch == 0 {
				if err := w.Flush(); err != nil {
					return n, err
				}
			}
		}
	}
	if n%maxBatch == 0 {
		return n, nil
	}
	return n, w.Flush()
}

// Write writes m unless the subscriber is already past it, without flushing, and reports
// whether it did: for streams that act on particular events.
func (s *Subscriber) Write(w FrameWriter, m *Message) (bool, error) {
	return s.write(w, m, time.Now())
}

// WritePosition writes the stream's position as an event-less id line, so a client that
// reconnects before any event resumes from the right place.
func (s *Subscriber) WritePosition(w FrameWriter) error {
	return w.WriteFrame(s.idText(), nil)
}

// write writes m unless the subscriber is already past it in m's topic; a reset is always
// written and moves the position wherever it says.
func (s *Subscriber) write(w FrameWriter, m *Message, now time.Time) (bool, error) {
	i := s.cursor.Index(m.Topic)
	if i < 0 || !s.unseen(i, m) {
		return false, nil
	}
	s.cursor.Set(i, m.ID)
	id := m.IDText
	if len(s.cursor.Topics) > 1 {
		id = s.idText()
	}
	if err := w.WriteFrame(id, m.Body); err != nil {
		return false, err
	}
	if m.Reset != "" {
		metrics.Resets.WithLabelValues(m.Reset).Inc()
		return true, nil
	}
	if s.deliveries == nil {
		s.deliveries = new(metrics.Deliveries)
	}
	s.deliveries.Delivered(lagSeconds(m.ID, now), !m.State) // a value's id is a hash, not a time
	if t := now.UnixNano(); t-s.addedAt >= int64(time.Second) {
		s.addedAt = t
		s.deliveries.Add()
	}
	return true, nil
}

// addDeliveries adds the deliveries noted to the metrics and lets their notes go.
func (s *Subscriber) addDeliveries() {
	if s.deliveries != nil {
		s.deliveries.Add()
		s.deliveries = nil
	}
}

// unseen reports whether m is new to s in the cursor's topic i: one after the position, a
// value other than the one held, or a reset, which moves the position wherever it says.
func (s *Subscriber) unseen(i int, m *Message) bool {
	switch {
	case m.Rewind:
		return true
	case m.State:
		return s.cursor.Positions[i] != m.ID
	}
	return s.cursor.Positions[i].Less(m.ID)
}

// idText renders the cursor into a buffer owned by s. The string aliases that buffer and is
// valid only until the next call; WriteFrame copies it before returning.
func (s *Subscriber) idText() string {
	s.idBuf = s.cursor.AppendTo(s.idBuf[:0])
	return unsafe.String(unsafe.SliceData(s.idBuf), len(s.idBuf))
}

func lagSeconds(id eventid.ID, now time.Time) float64 {
	lag := now.UnixMilli() - int64(id.Ms)
	if lag < 0 {
		lag = 0
	}
	return float64(lag) / 1000
}
