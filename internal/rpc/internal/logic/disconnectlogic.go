package logic

import (
	"context"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/rpc/internal/svc"
	"github.com/sseapi/sse-api/rpc/sseapi"

	"github.com/zeromicro/go-zero/core/logx"
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

// maxUID bounds a uid, as the HTTP route does.
const maxUID = 256

// End every stream of a user on every instance.
func (l *DisconnectLogic) Disconnect(in *sseapi.DisconnectReq) (*sseapi.DisconnectResp, error) {
	if !l.svcCtx.Caller.Admin {
		return nil, apierr.Forbidden("disconnecting users needs the admin claim")
	}
	if in.Uid == "" || len(in.Uid) > maxUID {
		return nil, apierr.BadRequest("malformed uid: want 1 to 256 bytes")
	}
	n, err := l.svcCtx.Revoker.Disconnect(l.ctx, in.Uid, in.Revoke)
	if err != nil {
		return nil, apierr.Internal(err)
	}
	l.Infof("disconnected user %s (revoke %t) over zRPC: %d streams here", in.Uid, in.Revoke, n)
	return &sseapi.DisconnectResp{Streams: int64(n)}, nil
}
