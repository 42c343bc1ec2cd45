// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package qr

import (
	"context"

	"github.com/skip2/go-qrcode"
	"github.com/sseapi/sse-api/internal/apierr"

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

func (l *SessionImageLogic) SessionImage(req *types.QrImageReq) (*types.Image, error) {
	// Only sessions that exist get an image, so guessing ids counts as misses.
	sess, err := l.svcCtx.QR.Get(l.ctx, req.Id)
	if err != nil {
		return nil, fail(l.ctx, l.svcCtx, err)
	}
	content := l.svcCtx.Config.QRLogin.ContentFor(sess.ID)
	png, err := qrcode.Encode(content, qrcode.Medium, 256)
	if err != nil {
		return nil, apierr.Internal(err)
	}
	return &types.Image{ContentType: "image/png", Body: png}, nil
}
