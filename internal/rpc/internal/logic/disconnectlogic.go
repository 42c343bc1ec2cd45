package logic

import (
	"context"

	"github.com/sseapi/sse-api/internal/rpc/internal/svc"
	"github.com/sseapi/sse-api/rpc/sseapi"

	"github.com/zeromicro/go-zero/core/logx"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type DisconnectLogic struct {
	ctx    context.Context
	svcCtx *svc.ServiceContext
	logx.Logger
}

func NewDisconnectLogic(ctx context.Context, svcCtx *svc.ServiceContext) *DisconnectLogic {
	return &DisconnectLogic{
		ctx:    ctx,
		svcCtx: svcCtx,
		Logger: logx.WithContext(ctx),
	}
}

// End every stream of a user on every instance.
func (l *DisconnectLogic) Disconnect(in *sseapi.DisconnectReq) (*sseapi.DisconnectResp, error) {
	return nil, status.Error(codes.Unimplemented, "Disconnect is not served yet")
}
