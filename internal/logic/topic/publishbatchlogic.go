// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package topic

import (
	"context"
	"errors"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/middleware"
	"github.com/sseapi/sse-api/internal/svc"
	"github.com/sseapi/sse-api/internal/types"
)

type PublishBatchLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Publish a batch of events, all or none (needs the publish claim for every topic)
func NewPublishBatchLogic(ctx context.Context, svcCtx *svc.ServiceContext) *PublishBatchLogic {
	return &PublishBatchLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *PublishBatchLogic) PublishBatch() (*types.PublishBatchResp, error) {
	who, err := svc.User(l.ctx)
	if err != nil {
		return nil, err
	}
	events, ok := middleware.BatchBodyFrom(l.ctx)
	if !ok {
		return nil, apierr.Internal(errors.New("batch body middleware did not run"))
	}
	ids, err := l.svcCtx.Access.PublishBatch(l.ctx, l.svcCtx.Publisher, who, events, l.svcCtx.Config.Stream.MaxBatch)
	if err != nil {
		return nil, err
	}
	return &types.PublishBatchResp{Ids: ids}, nil
}
