// Code scaffolded by goctl from tpl/api/sse_logic.tpl. Safe to edit.
// goctl 1.10.2

package qr

import (
	"context"
	"errors"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/broker"
	"github.com/sseapi/sse-api/internal/clientip"
	"github.com/sseapi/sse-api/internal/eventid"
	"github.com/sseapi/sse-api/internal/qrlogin"
	"github.com/sseapi/sse-api/internal/ssewire"
	"github.com/sseapi/sse-api/internal/svc"
	"github.com/sseapi/sse-api/internal/types"
)

type QrEventsLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// The session's state, then every transition, then one terminal event (browser cookie)
func NewQrEventsLogic(ctx context.Context, svcCtx *svc.ServiceContext) *QrEventsLogic {
	return &QrEventsLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

// QrEvents sends the session's current state first (its event as it was appended), then
// every transition after it, and ends right after the one terminal event. A timer at the
// session's deadline expires it, so expiry is pushed on time, not when Redis evicts the key.
func (l *QrEventsLogic) QrEvents(req *types.QrEventsReq, w *ssewire.Writer) error {
	sess, err := browserSession(l.ctx, l.svcCtx, req.Id, req.Cookie)
	if err != nil {
		return err
	}
	topic := qrlogin.Topic(sess.ID)
	pos, ok := eventid.Parse(sess.Pos)
	if !ok {
		return apierr.Internal(errors.New("session " + sess.ID + " has no event position"))
	}
	current, err := l.svcCtx.Hub.Event(l.ctx, topic, pos)
	if err != nil {
		return apierr.Internal(err)
	}

	st, err := l.svcCtx.StartStream(l.ctx, "address:"+clientip.FromContext(l.ctx))
	if err != nil {
		return err
	}
	defer st.End()
	l.ctx = st.Context() // from here on, shutting the server down ends the stream too

	cursor := eventid.NewCursor([]string{topic})
	cursor.Set(0, pos)
	sub, err := l.svcCtx.Hub.Subscribe(l.ctx, cursor)
	if err != nil {
		return apierr.Unavailable("event source not ready: " + err.Error())
	}
	st.Defer(sub.Close)

	// Transitions made between reading the session and subscribing.
	missed, err := sub.Missed(l.ctx)
	if err != nil {
		return apierr.Internal(err)
	}

	if err := w.Open(); err != nil {
		return err
	}
	if current != nil {
		if err := w.WriteFrame(current.IDText, current.Body); err != nil {
			return err
		}
	}
	if sess.State.Terminal() {
		return w.Flush()
	}
	s := &qrStream{l: l, sub: sub, sess: sess, deadline: time.NewTimer(time.Until(sess.ExpiresAt))}
	st.Defer(func() { s.deadline.Stop() })
	for _, m := range missed {
		if done, err := s.send(w, m); done || err != nil {
			_ = w.Flush()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return st.Run(w, "QrEventsHandler", s.loop)
}

// qrStream is the state of one browser's QR stream after it opened.
type qrStream struct {
	l        *QrEventsLogic
	sub      *broker.Subscriber
	sess     *qrlogin.Session
	deadline *time.Timer
}

// send writes one transition; done is true after the terminal one.
func (s *qrStream) send(w *ssewire.Writer, m *broker.Message) (done bool, err error) {
	written, err := s.sub.Write(w, m)
	if err != nil || !written {
		return false, err
	}
	state := qrlogin.State(m.Event)
	if state == qrlogin.Scanned {
		// A scan shortens the deadline to the confirm window.
		if s.sess, err = s.l.svcCtx.QR.Get(s.l.ctx, s.sess.ID); err != nil {
			return false, err
		}
		s.deadline.Reset(time.Until(s.sess.ExpiresAt))
	}
	return state.Terminal(), nil
}

// loop forwards transitions until the terminal one, the client leaves or the server shuts
// down; at the session's deadline it expires the session.
func (s *qrStream) loop(w *ssewire.Writer) error {
	l := s.l
	for {
		select {
		case <-l.ctx.Done():
			return nil
		case <-w.Heartbeats():
			if err := w.Heartbeat(); err != nil {
				return err
			}
		case <-s.deadline.C:
			// The expired event comes back through the subscription, like any other.
			if _, err := l.svcCtx.QR.Expire(l.ctx, s.sess.ID); err != nil {
				return err
			}
		case <-s.sub.Ready():
			batch, err := s.sub.Next() // a kicked subscriber gets its reason
			if err != nil {
				return err
			}
			done := false
			for _, m := range batch {
				if done, err = s.send(w, m); done || err != nil {
					break
				}
			}
			if ferr := w.Flush(); err == nil {
				err = ferr
			}
			if done || err != nil {
				return err
			}
		}
	}
}
