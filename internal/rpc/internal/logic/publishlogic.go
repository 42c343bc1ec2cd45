package logic

import (
	"context"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/metrics"
	"github.com/sseapi/sse-api/internal/rpc/internal/svc"
	"github.com/sseapi/sse-api/rpc/sseapi"

	"github.com/zeromicro/go-zero/core/logx"
)

type PublishLogic struct {
	ctx    context.Context
	svcCtx *svc.ServiceContext
	logx.Logger
}

func NewPublishLogic(ctx context.Context, svcCtx *svc.ServiceContext) *PublishLogic {
	return &PublishLogic{
		ctx:    ctx,
		svcCtx: svcCtx,
		Logger: logx.WithContext(ctx),
	}
}

// Publish one event.
func (l *PublishLogic) Publish(in *sseapi.PublishReq) (*sseapi.PublishResp, error) {
	data, err := checkEvent(l.svcCtx.Access, l.svcCtx.Caller, in.Topic, in.Event, in.Data, l.svcCtx.Config.Stream.MaxPayload)
	if err != nil {
		return nil, err
	}
	id, err := l.svcCtx.Publisher.Publish(l.ctx, in.Topic, in.Event, data)
	if err != nil {
		return nil, apierr.Internal(err)
	}
	metrics.Published.Inc()
	return &sseapi.PublishResp{Id: id}, nil
}
