package logic

import (
	"context"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/rpc/internal/svc"
	"github.com/sseapi/sse-api/rpc/sseapi"

	"github.com/zeromicro/go-zero/core/logx"
)

type PresenceLogic struct {
	ctx    context.Context
	svcCtx *svc.ServiceContext
	logx.Logger
}

func NewPresenceLogic(ctx context.Context, svcCtx *svc.ServiceContext) *PresenceLogic {
	return &PresenceLogic{
		ctx:    ctx,
		svcCtx: svcCtx,
		Logger: logx.WithContext(ctx),
	}
}

// Count the streams following a topic.
func (l *PresenceLogic) Presence(in *sseapi.PresenceReq) (*sseapi.PresenceResp, error) {
	topics, err := l.svcCtx.Access.Topics([]string{in.Topic})
	if err != nil {
		return nil, err
	}
	topic := topics[0]
	if err := l.svcCtx.Access.MayRead(l.svcCtx.Caller, topic); err != nil {
		return nil, err
	}
	if l.svcCtx.Presence == nil {
		return nil, apierr.NotFound("presence is not counted here (Presence.Enabled is off)")
	}
	snap, err := l.svcCtx.Presence.Count(l.ctx, topic)
	if err != nil {
		return nil, apierr.Internal(err)
	}
	resp := &sseapi.PresenceResp{Streams: int64(snap.Streams)}
	if l.svcCtx.Caller.CanSeePresence(topic) {
		resp.Uids = snap.UIDs
	}
	return resp, nil
}
