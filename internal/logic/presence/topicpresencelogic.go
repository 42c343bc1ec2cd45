// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package presence

import (
	"context"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/svc"
	"github.com/sseapi/sse-api/internal/types"
)

type TopicPresenceLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// The open streams of a topic across instances (needs the subscribe grant); their uids with the presence claim
func NewTopicPresenceLogic(ctx context.Context, svcCtx *svc.ServiceContext) *TopicPresenceLogic {
	return &TopicPresenceLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

// TopicPresence counts the topic's streams for whoever may read the topic; who holds them
// only for a token whose presence claim covers it.
func (l *TopicPresenceLogic) TopicPresence(req *types.PresenceReq) (*types.PresenceResp, error) {
	who, err := svc.User(l.ctx)
	if err != nil {
		return nil, err
	}
	topics, err := l.svcCtx.Access.Topics([]string{req.Topic})
	if err != nil {
		return nil, err
	}
	topic := topics[0]
	if err := l.svcCtx.Access.MayRead(who, topic); err != nil {
		return nil, err
	}
	if l.svcCtx.Presence == nil {
		return nil, apierr.NotFound("presence is not counted here (Presence.Enabled is off)")
	}
	snap, err := l.svcCtx.Presence.Count(l.ctx, topic)
	if err != nil {
		return nil, apierr.Internal(err)
	}
	resp := &types.PresenceResp{Streams: snap.Streams}
	if who.CanSeePresence(topic) {
		resp.Uids = snap.UIDs
	}
	return resp, nil
}
