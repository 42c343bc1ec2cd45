// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package qr

import (
	"context"

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
	who, err := svc.User(l.ctx)
	if err != nil {
		return nil, err
	}
	uid := who.UID
	sess, err := l.svcCtx.QR.Confirm(l.ctx, req.Id, uid)
	if err != nil {
		return nil, fail(l.ctx, l.svcCtx, err)
	}
	return stateResp(sess), nil
}
