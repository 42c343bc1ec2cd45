package logic

import (
	"context"

	"github.com/sseapi/sse-api/internal/rpc/internal/svc"
	"github.com/sseapi/sse-api/rpc/sseapi"

	"github.com/zeromicro/go-zero/core/logx"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
	return nil, status.Error(codes.Unimplemented, "Presence is not served yet")
}
