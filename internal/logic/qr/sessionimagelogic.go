// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package qr

import (
	"context"

	"github.com/skip2/go-qrcode"
	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/respond"

	"github.com/sseapi/sse-api/internal/svc"
	"github.com/sseapi/sse-api/internal/types"

	"github.com/zeromicro/go-zero/core/logx"
)

type SessionImageLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// The QR image of a session
func NewSessionImageLogic(ctx context.Context, svcCtx *svc.ServiceContext) *SessionImageLogic {
	return &SessionImageLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *SessionImageLogic) SessionImage(req *types.QrBrowserReq) (*types.Image, error) {
	// The image shows the scan key, so only the browser that created the session gets it:
	// whoever has just the id must not be able to scan. Guessing ids counts as misses.
	sess, err := browserSession(l.ctx, l.svcCtx, req.Id, req.Cookie)
	if err != nil {
		return nil, err
	}
	content := l.svcCtx.Config.QRLogin.ContentFor(sess.ID, sess.ScanKey)
	png, err := qrcode.Encode(content, qrcode.Medium, 256)
	if err != nil {
		return nil, apierr.Internal(err)
	}
	// Answered to one browser's cookie: no shared cache may keep it for others.
	respond.SetHeader(l.ctx, "Cache-Control", "private, no-store")
	return &types.Image{ContentType: "image/png", Body: png}, nil
}
