// Code scaffolded by goctl from tpl/api/sse_logic.tpl. Safe to edit.
// goctl 1.10.2

package qr

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/eventid"
	"github.com/sseapi/sse-api/internal/qrlogin"
	"github.com/sseapi/sse-api/internal/stream"
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
// every transition after it, and ends right after the one terminal event. At the session's
// deadline it expires the session, so expiry is pushed on time, not when Redis evicts the key.
// Redis's clock decides the deadline, and this instance's may be off from it: ahead, the
// timer fires early and re-checks until Redis agrees; behind, it would fire late by as much,
// so while it is behind a sweep every QRLogin.ExpirySweep re-checks as well.
func (l *QrEventsLogic) QrEvents(req *types.QrEventsReq, s *stream.Stream) error {
	var sess *qrlogin.Session
	sub, err := s.Subscribe(func() (plan stream.Plan, err error) {
		sess, plan, err = l.plan(req)
		return plan, err
	})
	if err != nil {
		return err
	}
	deadline := time.NewTimer(until(sess.ExpiresAt))
	defer deadline.Stop()
	sweep := newSweep(l.svcCtx.Config.QRLogin.Sweep())
	defer sweep.timer.Stop()
	sweep.follow(sess)
	for {
		select {
		case <-l.ctx.Done():
			return nil
		case <-deadline.C:
			// Redis's clock decides; if it is behind this instance's, look again when Redis's
			// clock says the deadline is due. The expired event comes back through the
			// subscription, like any other.
			now, err := l.svcCtx.QR.Expire(l.ctx, sess.ID)
			if err != nil {
				return err
			}
			if !now.State.Terminal() {
				deadline.Reset(max(dueIn(now), recheckExpiry))
				sweep.follow(now)
			}
		case <-sweep.timer.C:
			sweep.armed = false
			now, err := l.svcCtx.QR.Expire(l.ctx, sess.ID)
			if err != nil {
				return err
			}
			if !now.State.Terminal() {
				sweep.follow(now)
			}
		case batch := <-sub.Events():
			events, err := sub.Take(batch)
			if err != nil {
				return err
			}
			for _, ev := range events {
				written, err := sub.Write(ev)
				switch {
				case err != nil:
					return err
				case !written:
					continue
				case qrlogin.State(ev.Event).Terminal():
					return sub.Flush()
				}
				if at, ok := expiresAt(ev.Data); ok {
					deadline.Reset(until(at)) // a scan shortens it to the confirm window
				}
			}
			if err := sub.Flush(); err != nil {
				return err
			}
		}
	}
}

// recheckExpiry is how soon a session that Redis did not expire yet is looked at again.
const recheckExpiry = 200 * time.Millisecond

// clockSkew is added to this instance's clock where QR streams read it, in nanoseconds:
// zero but in tests, which play an instance whose clock is off from Redis's.
var clockSkew atomic.Int64

// plan finds the browser's session and streams its topic from just before the current
// state's event, so the stream begins with it.
func (l *QrEventsLogic) plan(req *types.QrEventsReq) (*qrlogin.Session, stream.Plan, error) {
	sess, err := browserSession(l.ctx, l.svcCtx, req.Id, req.Cookie)
	if err != nil {
		return nil, stream.Plan{}, err
	}
	pos, ok := eventid.Parse(sess.Pos)
	if !ok {
		return nil, stream.Plan{}, apierr.Internal(errors.New("session " + sess.ID + " has no event position"))
	}
	return sess, stream.Plan{Topics: []string{qrlogin.Topic(sess.ID)}, From: pos.Prev().String()}, nil
}

// clock is this instance's clock as QR streams read it.
func clock() time.Time { return time.Now().Add(time.Duration(clockSkew.Load())) }

// until is how long until t (a Redis-clock instant) by this instance's clock.
func until(t time.Time) time.Duration { return t.Sub(clock()) }

// dueIn is how long snapshot s had left by the Redis clock when it was taken.
func dueIn(s *qrlogin.Session) time.Duration {
	if s.AsOf.IsZero() {
		return until(s.ExpiresAt)
	}
	return s.ExpiresAt.Sub(s.AsOf)
}

// sweep re-checks expiry every interval while this instance's clock is behind Redis's, as
// measured by the Redis time each snapshot carries: the deadline timer then fires late by
// as much. While the clocks agree it stays off, so a waiting session costs Redis nothing.
type sweep struct {
	timer        *time.Timer
	every, delay time.Duration
	armed        bool
}

func newSweep(every time.Duration) *sweep {
	t := time.NewTimer(every)
	t.Stop()
	// The first sweep at a random phase: streams opened together do not sweep together.
	return &sweep{timer: t, every: every, delay: time.Duration(rand.Int64N(int64(every))) + 1}
}

// follow arms the sweep when snapshot s shows this instance's clock behind Redis's (by more
// than a re-check's worth), and disarms it when the clocks agree again.
func (w *sweep) follow(s *qrlogin.Session) {
	behind := !s.AsOf.IsZero() && s.AsOf.Sub(clock()) > recheckExpiry
	if behind == w.armed {
		return
	}
	w.armed = behind
	if !behind {
		w.timer.Stop()
		return
	}
	w.timer.Reset(w.delay)
	w.delay = w.every
}

// expiresAt reads the deadline a state event carries (milliseconds, by the Redis clock).
func expiresAt(data []byte) (time.Time, bool) {
	var ev struct {
		ExpiresAt int64 `json:"expires_at"`
	}
	if json.Unmarshal(data, &ev) != nil || ev.ExpiresAt == 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(ev.ExpiresAt), true
}
