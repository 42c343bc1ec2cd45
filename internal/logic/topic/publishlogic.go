// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package topic

import (
	"context"
	"errors"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/metrics"
	"github.com/sseapi/sse-api/internal/middleware"
	"github.com/sseapi/sse-api/internal/svc"
	"github.com/sseapi/sse-api/internal/types"
)

type PublishLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Publish an event to a topic (needs the publish claim for it)
func NewPublishLogic(ctx context.Context, svcCtx *svc.ServiceContext) *PublishLogic {
	return &PublishLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *PublishLogic) Publish(req *types.PublishReq) (*types.PublishResp, error) {
	who, err := svc.User(l.ctx)
	if err != nil {
		return nil, err
	}
	body, ok := middleware.PublishBodyFrom(l.ctx)
	if !ok {
		return nil, apierr.Internal(errors.New("publish body middleware did not run"))
	}
	if err := l.svcCtx.Access.CheckPublish(who, req.Topic, body.Event); err != nil {
		return nil, err
	}
	id, err := l.svcCtx.Publisher.Publish(l.ctx, req.Topic, body.Event, body.Data)
	if err != nil {
		return nil, apierr.Internal(err)
	}
	metrics.Published.Inc()
	return &types.PublishResp{Id: id}, nil
}
