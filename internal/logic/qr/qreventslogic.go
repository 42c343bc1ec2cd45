// Code scaffolded by goctl from tpl/api/sse_logic.tpl. Safe to edit.
// goctl 1.10.2

package qr

import (
	"context"
	"encoding/json"
	"errors"
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
func (l *QrEventsLogic) QrEvents(req *types.QrEventsReq, s *stream.Stream) error {
	sess, err := browserSession(l.ctx, l.svcCtx, req.Id, req.Cookie)
	if err != nil {
		return err
	}
	pos, ok := eventid.Parse(sess.Pos)
	if !ok {
		return apierr.Internal(errors.New("session " + sess.ID + " has no event position"))
	}
	// From just before the current state's event: the stream begins with it.
	sub, err := s.Subscribe(stream.Plan{Topics: []string{qrlogin.Topic(sess.ID)}, From: pos.Prev().String()})
	if err != nil {
		return err
	}
	deadline := time.NewTimer(time.Until(sess.ExpiresAt))
	defer deadline.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return nil
		case <-deadline.C:
			// Redis's clock decides; if it is behind this instance's, look again shortly.
			// The expired event comes back through the subscription, like any other.
			now, err := l.svcCtx.QR.Expire(l.ctx, sess.ID)
			if err != nil {
				return err
			}
			if !now.State.Terminal() {
				deadline.Reset(max(time.Until(now.ExpiresAt), recheckExpiry))
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
					deadline.Reset(time.Until(at)) // a scan shortens it to the confirm window
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
