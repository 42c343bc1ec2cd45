// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package qr

import (
	"context"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/auth"

	"github.com/sseapi/sse-api/internal/svc"
	"github.com/sseapi/sse-api/internal/types"

	"github.com/zeromicro/go-zero/core/logx"
)

type ConfirmSessionLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// The user who scanned confirms the login
func NewConfirmSessionLogic(ctx context.Context, svcCtx *svc.ServiceContext) *ConfirmSessionLogic {
	return &ConfirmSessionLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *ConfirmSessionLogic) ConfirmSession(req *types.QrPhoneReq) (*types.QrStateResp, error) {
	who, ok := auth.FromContext(l.ctx)
	if !ok {
		return nil, apierr.Unauthorized("the token has no uid claim")
	}
	sess, err := l.svcCtx.QR.Confirm(l.ctx, req.Id, who.UID)
	if err != nil {
		return nil, fail(l.ctx, l.svcCtx, err)
	}
	return stateResp(sess), nil
}
