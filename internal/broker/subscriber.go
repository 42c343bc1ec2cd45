package broker

import (
	"context"
	"encoding/json"
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

// Subscriber is one stream's subscription to one or more topics. Its queue is filled by the
// hub and drained by the stream's own goroutine, which is the only user of its other methods.
//
// The queue is a slice that exists only while events wait in it: an idle stream's
// subscription costs no queue memory, whatever Options.QueueSize is.
type Subscriber struct {
	hub      *Hub
	cursor   *eventid.Cursor
	joinedAt []eventid.ID

	mu       sync.Mutex
	queue    []*Message // offered, not yet taken
	inflight []*Message // taken by Next, maybe not written yet: they count as queued
	spare    []*Message // a written batch's array, reused for the next queue
	kickErr  error
	kicked   chan struct{} // made by Kicked, closed by kick
	ready    chan struct{} // one token: events were queued, or the subscriber was kicked

	idBuf []byte
}

// Subscribe joins the topics of cursor. Topics with no known position start at their current
// end. Events after each topic's position reach the subscriber: those already in Redis
// through Replay, later ones through Send (or Next) whenever Ready fires.
func (h *Hub) Subscribe(ctx context.Context, cursor *eventid.Cursor) (*Subscriber, error) {
	s := &Subscriber{
		hub:    h,
		cursor: cursor,
		ready:  make(chan struct{}, 1),
	}
	at, err := h.join(ctx, s)
	if err != nil {
		h.leave(s)
		return nil, err
	}
	s.joinedAt = at
	for i := range cursor.Topics {
		if !cursor.Known[i] {
			cursor.Set(i, at[i])
		}
	}
	return s, nil
}

// Close leaves every topic.
func (s *Subscriber) Close() { s.hub.leave(s) }

// Ready fires when live events were queued or the subscriber was kicked: call Send (or
// Next). It may fire when there is nothing left to take.
func (s *Subscriber) Ready() <-chan struct{} { return s.ready }

// Wake makes Ready fire, for a stream loop that waits on Ready alone and has other reasons
// to wake up (its context ending, a heartbeat falling due). Any goroutine may call it.
func (s *Subscriber) Wake() { s.signal() }

// Kicked is closed when the hub gave up on this subscriber; Err tells why. Stream loops need
// not watch it: Send and Next return the reason once it happened.
func (s *Subscriber) Kicked() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kicked == nil {
		s.kicked = make(chan struct{})
		if s.kickErr != nil {
			close(s.kicked)
		}
	}
	return s.kicked
}

// Err is the reason the subscriber was kicked, nil while it was not.
func (s *Subscriber) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kickErr
}

// Cursor is the position reached in every topic.
func (s *Subscriber) Cursor() *eventid.Cursor { return s.cursor }

// offer queues m, or kicks the subscriber when QueueSize events already wait for it.
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
	case s.ready <- struct{}{}:
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
	if s.kicked != nil {
		close(s.kicked)
	}
	s.mu.Unlock()
	if errors.Is(err, ErrSlowConsumer) {
		metrics.SlowDisconnects.Inc()
	}
	s.signal()
}

// Next takes every queued event, or returns why the subscriber was kicked. The slice is
// valid until the next call. Taken events still count against QueueSize until then, so a
// stream that cannot write them falls behind as before.
func (s *Subscriber) Next() ([]*Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kickErr != nil {
		return nil, s.kickErr
	}
	s.recycle()
	s.inflight, s.queue = s.queue, nil
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

// Reset reasons: why a resume position could not be honoured exactly.
const (
	ResetTrimmed = "history_trimmed"  // events after the position were dropped to keep the history bounded
	ResetExpired = "history_expired"  // the topic's history expired
	ResetUnknown = "unknown_position" // the topic's position is no longer known, events may be gone
)

// ResetEvent is the event name that tells a client it missed events it cannot get back.
const ResetEvent = "reset"

// Replay writes the stream's position, then everything each topic holds after the cursor,
// with a reset event for every topic whose position is older than its history, and flushes.
// Clients that reconnect right away thus resume from the right place even if no event came.
func (s *Subscriber) Replay(ctx context.Context, w FrameWriter) error {
	if err := w.WriteFrame(s.idText(), nil); err != nil {
		return err
	}
	for i := range s.cursor.Topics {
		pos, at := s.cursor.Positions[i], s.joinedAt[i]
		if !pos.Less(at) {
			if at.IsZero() && !pos.IsZero() {
				// The client knew a position, Redis no longer knows the topic at all.
				if err := s.writeReset(w, i, ResetUnknown, at); err != nil {
					return err
				}
			}
			continue
		}
		if err := s.replayTopic(ctx, w, i); err != nil {
			return err
		}
	}
	return w.Flush()
}

func (s *Subscriber) replayTopic(ctx context.Context, w FrameWriter, i int) error {
	name := s.cursor.Topics[i]
	for first := true; ; first = false {
		p, err := readPage(ctx, s.hub.rdb, name, s.cursor.Positions[i].Next(), s.hub.opts.PageSize)
		if err != nil {
			return err
		}
		if first {
			pos := s.cursor.Positions[i]
			switch {
			case !p.known:
				return s.writeReset(w, i, ResetUnknown, s.joinedAt[i])
			case !p.stored:
				return s.writeReset(w, i, ResetExpired, p.last)
			case pos.Less(p.floor):
				if err := s.writeReset(w, i, ResetTrimmed, p.floor); err != nil {
					return err
				}
			}
		}
		now := time.Now()
		for _, m := range p.messages {
			if err := s.write(w, m, now); err != nil {
				return err
			}
		}
		if len(p.messages) < s.hub.opts.PageSize {
			return nil
		}
	}
}

func (s *Subscriber) writeReset(w FrameWriter, i int, reason string, to eventid.ID) error {
	metrics.Resets.WithLabelValues(reason).Inc()
	data, _ := json.Marshal(struct {
		Topic       string `json:"topic"`
		Reason      string `json:"reason"`
		LastEventID string `json:"lastEventId"`
	}{s.cursor.Topics[i], reason, s.cursor.Positions[i].String()})
	m, err := newMessage(s.cursor.Topics[i], to.String(), ResetEvent, data)
	if err != nil {
		return err
	}
	s.cursor.Set(i, to)
	return w.WriteFrame(s.idText(), m.Body)
}

// Send writes every queued event, flushing after each maxBatch of them and at the end, so
// queued events share a flush (one system call). It returns the reason the subscriber was
// kicked, if it was. Events the subscriber is already past (Replay sent them) are skipped.
func (s *Subscriber) Send(w FrameWriter) error {
	batch, err := s.Next()
	if err != nil || len(batch) == 0 {
		return err
	}
	now := time.Now()
	for i, m := range batch {
		if err := s.write(w, m, now); err != nil {
			return err
		}
		if (i+1)%maxBatch == 0 && i+1 < len(batch) {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
	err = w.Flush()
	s.mu.Lock()
	s.recycle()
	s.mu.Unlock()
	return err
}

// write writes m unless the subscriber is already past it in m's topic.
func (s *Subscriber) write(w FrameWriter, m *Message, now time.Time) error {
	i := s.cursor.Index(m.Topic)
	if i < 0 || !s.cursor.Positions[i].Less(m.ID) {
		return nil
	}
	s.cursor.Set(i, m.ID)
	id := m.IDText
	if len(s.cursor.Topics) > 1 {
		id = s.idText()
	}
	if err := w.WriteFrame(id, m.Body); err != nil {
		return err
	}
	metrics.Delivered.Inc()
	metrics.DeliveryLag.Observe(lagSeconds(m.ID, now))
	return nil
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

// Write writes m unless the subscriber is already past it, without flushing, and reports
// whether it did: for streams that act on particular events.
func (s *Subscriber) Write(w FrameWriter, m *Message) (bool, error) {
	i := s.cursor.Index(m.Topic)
	if i < 0 || !s.cursor.Positions[i].Less(m.ID) {
		return false, nil
	}
	return true, s.write(w, m, time.Now())
}

// Missed returns the events each topic holds after the cursor, for streams that handle
// events one by one instead of letting Replay write them. Resets are not detected: such
// streams start from a position they have just read.
func (s *Subscriber) Missed(ctx context.Context) ([]*Message, error) {
	var missed []*Message
	for i, name := range s.cursor.Topics {
		if !s.cursor.Positions[i].Less(s.joinedAt[i]) {
			continue
		}
		msgs, err := readAfter(ctx, s.hub.rdb, name, s.cursor.Positions[i], s.hub.opts.PageSize)
		if err != nil {
			return nil, err
		}
		missed = append(missed, msgs...)
	}
	return missed, nil
}
