// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package qr

import (
	"context"

	"github.com/sseapi/sse-api/internal/svc"
	"github.com/sseapi/sse-api/internal/types"

	"github.com/zeromicro/go-zero/core/logx"
)

type CancelSessionLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Cancel the session from the browser (browser cookie)
func NewCancelSessionLogic(ctx context.Context, svcCtx *svc.ServiceContext) *CancelSessionLogic {
	return &CancelSessionLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *CancelSessionLogic) CancelSession(req *types.QrBrowserReq) (*types.QrStateResp, error) {
	sess, err := l.svcCtx.QR.CancelByBrowser(l.ctx, req.Id, browserSecret(req.Cookie))
	if err != nil {
		return nil, fail(l.ctx, l.svcCtx, err)
	}
	return stateResp(sess), nil
}
