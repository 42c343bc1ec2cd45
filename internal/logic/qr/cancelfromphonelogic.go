// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package qr

import (
	"context"

	"github.com/sseapi/sse-api/internal/svc"
	"github.com/sseapi/sse-api/internal/types"

	"github.com/zeromicro/go-zero/core/logx"
)

type CancelFromPhoneLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// The user who scanned refuses the login
func NewCancelFromPhoneLogic(ctx context.Context, svcCtx *svc.ServiceContext) *CancelFromPhoneLogic {
	return &CancelFromPhoneLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *CancelFromPhoneLogic) CancelFromPhone(req *types.QrPhoneReq) (*types.QrStateResp, error) {
	who, err := svc.User(l.ctx)
	if err != nil {
		return nil, err
	}
	uid := who.UID
	sess, err := l.svcCtx.QR.CancelByPhone(l.ctx, req.Id, uid)
	if err != nil {
		return nil, fail(l.ctx, l.svcCtx, err)
	}
	return stateResp(sess), nil
}
