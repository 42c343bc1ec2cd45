// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package users

import (
	"context"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/svc"
	"github.com/sseapi/sse-api/internal/types"
)

type DisconnectUserLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// End a user's streams on every instance; with revoke, refuse the user's tokens issued until now (needs claim admin)
func NewDisconnectUserLogic(ctx context.Context, svcCtx *svc.ServiceContext) *DisconnectUserLogic {
	return &DisconnectUserLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

// maxUID bounds the uid of the path, as a uid claim could hardly be longer.
const maxUID = 256

// DisconnectUser ends uid's streams here at once and on the other instances within a
// second; with revoke, their reconnects, and every request with a credential of uid issued
// until now, are refused from then on.
func (l *DisconnectUserLogic) DisconnectUser(req *types.DisconnectReq) (*types.DisconnectResp, error) {
	who, err := svc.User(l.ctx)
	if err != nil {
		return nil, err
	}
	if !who.Admin {
		return nil, apierr.Forbidden("disconnecting users needs the admin claim")
	}
	if req.Uid == "" || len(req.Uid) > maxUID {
		return nil, apierr.BadRequest("malformed uid: want 1 to 256 bytes")
	}
	n, err := l.svcCtx.Revoker.Disconnect(l.ctx, req.Uid, req.Revoke)
	if err != nil {
		return nil, apierr.Internal(err)
	}
	l.Infof("disconnected user %s (revoke %t) on behalf of %s: %d streams here", req.Uid, req.Revoke, who.UID, n)
	return &types.DisconnectResp{Streams: n}, nil
}
