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
type Subscriber struct {
	hub      *Hub
	cursor   *eventid.Cursor
	joinedAt []eventid.ID
	queue    chan *Message

	kickOnce sync.Once
	kicked   chan struct{}
	kickErr  error

	idBuf []byte
}

// Subscribe joins the topics of cursor. Topics with no known position start at their current
// end. Events after each topic's position reach the subscriber: those already in Redis
// through Replay, later ones through C.
func (h *Hub) Subscribe(ctx context.Context, cursor *eventid.Cursor) (*Subscriber, error) {
	s := &Subscriber{
		hub:    h,
		cursor: cursor,
		queue:  make(chan *Message, h.opts.QueueSize),
		kicked: make(chan struct{}),
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

// C delivers live events. They may repeat what Replay sent; Send skips those.
func (s *Subscriber) C() <-chan *Message { return s.queue }

// Kicked is closed when the hub gave up on this subscriber; Err tells why.
func (s *Subscriber) Kicked() <-chan struct{} { return s.kicked }

// Err is the reason the subscriber was kicked.
func (s *Subscriber) Err() error { return s.kickErr }

// Cursor is the position reached in every topic.
func (s *Subscriber) Cursor() *eventid.Cursor { return s.cursor }

func (s *Subscriber) offer(m *Message) {
	select {
	case s.queue <- m:
	default:
		s.kick(ErrSlowConsumer)
	}
}

func (s *Subscriber) kick(err error) {
	s.kickOnce.Do(func() {
		s.kickErr = err
		if errors.Is(err, ErrSlowConsumer) {
			metrics.SlowDisconnects.Inc()
		}
		close(s.kicked)
	})
}

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
		for _, m := range p.messages {
			if err := s.write(w, m); err != nil {
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

// Send writes m and whatever else is already queued (up to a batch), then flushes once.
func (s *Subscriber) Send(w FrameWriter, m *Message) error {
	for n := 1; ; n++ {
		if err := s.write(w, m); err != nil {
			return err
		}
		if n == maxBatch {
			break
		}
		var more bool
		select {
		case m, more = <-s.queue:
		default:
		}
		if !more {
			break
		}
	}
	return w.Flush()
}

// write writes m unless the subscriber is already past it in m's topic.
func (s *Subscriber) write(w FrameWriter, m *Message) error {
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
	metrics.DeliveryLag.Observe(lagSeconds(m.ID))
	return nil
}

// idText renders the cursor into a buffer owned by s. The string aliases that buffer and is
// valid only until the next call; WriteFrame copies it before returning.
func (s *Subscriber) idText() string {
	s.idBuf = s.cursor.AppendTo(s.idBuf[:0])
	return unsafe.String(unsafe.SliceData(s.idBuf), len(s.idBuf))
}

func lagSeconds(id eventid.ID) float64 {
	lag := time.Now().UnixMilli() - int64(id.Ms)
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
	return true, s.write(w, m)
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
