// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package qr

import (
	"context"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/middleware"
	"github.com/sseapi/sse-api/internal/qrlogin"
	"github.com/sseapi/sse-api/internal/respond"

	"github.com/sseapi/sse-api/internal/svc"
	"github.com/sseapi/sse-api/internal/types"

	"github.com/zeromicro/go-zero/core/logx"
)

type CreateSessionLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Start a QR-login session (browser); sets the HttpOnly cookie that binds it to this browser
func NewCreateSessionLogic(ctx context.Context, svcCtx *svc.ServiceContext) *CreateSessionLogic {
	return &CreateSessionLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *CreateSessionLogic) CreateSession(req *types.QrCreateReq) (*types.QrSessionResp, error) {
	ip := middleware.ClientAddr(l.ctx)
	ok, err := l.svcCtx.QRCreates.Allow(l.ctx, ip)
	if err != nil {
		return nil, apierr.Internal(err)
	}
	if !ok {
		return nil, apierr.TooManyRequests("too many QR-login sessions from this address")
	}
	sess, secret, err := l.svcCtx.QR.Create(l.ctx, qrlogin.Requester{IP: ip, UserAgent: req.UserAgent})
	if err != nil {
		return nil, apierr.Internal(err)
	}
	respond.SetCookie(l.ctx, newBindingCookie(l.svcCtx, sess.ID, secret))
	base := sessionPath(l.svcCtx, sess.ID)
	return &types.QrSessionResp{
		Id:           sess.ID,
		Content:      l.svcCtx.Config.QRLogin.ContentFor(sess.ID, sess.ScanKey),
		ScanKey:      sess.ScanKey,
		ExpiresAt:    timestamp(sess.ExpiresAt),
		EventsUrl:    base + "/events",
		ImageUrl:     base + "/image.png",
		AutoExchange: l.svcCtx.Config.QRLogin.AutoExchange,
	}, nil
}
