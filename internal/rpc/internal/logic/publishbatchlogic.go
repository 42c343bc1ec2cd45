package logic

import (
	"context"

	"github.com/sseapi/sse-api/internal/rpc/internal/svc"
	"github.com/sseapi/sse-api/rpc/sseapi"

	"github.com/zeromicro/go-zero/core/logx"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type PublishBatchLogic struct {
	ctx    context.Context
	svcCtx *svc.ServiceContext
	logx.Logger
}

func NewPublishBatchLogic(ctx context.Context, svcCtx *svc.ServiceContext) *PublishBatchLogic {
	return &PublishBatchLogic{
		ctx:    ctx,
		svcCtx: svcCtx,
		Logger: logx.WithContext(ctx),
	}
}

// Publish several events at once, all or none.
func (l *PublishBatchLogic) PublishBatch(in *sseapi.PublishBatchReq) (*sseapi.PublishBatchResp, error) {
	return nil, status.Error(codes.Unimplemented, "PublishBatch is not served yet")
}
