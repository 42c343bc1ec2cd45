// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package qr

import (
	"context"
	"errors"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/qrlogin"

	"github.com/sseapi/sse-api/internal/svc"
	"github.com/sseapi/sse-api/internal/types"

	"github.com/zeromicro/go-zero/core/logx"
)

type ScanSessionLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// The app scanned the code: shows where the login request comes from
func NewScanSessionLogic(ctx context.Context, svcCtx *svc.ServiceContext) *ScanSessionLogic {
	return &ScanSessionLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *ScanSessionLogic) ScanSession(req *types.QrScanReq) (*types.QrScanResp, error) {
	who, err := svc.User(l.ctx)
	if err != nil {
		return nil, err
	}
	uid := who.UID
	// Every scan counts, refused ones too: one account cannot sweep up codes, nor try keys.
	ok, err := l.svcCtx.QRScans.Allow(l.ctx, uid)
	if err != nil {
		return nil, apierr.Internal(err)
	}
	if !ok {
		return nil, apierr.TooManyRequests("too many QR codes scanned by this user")
	}
	sess, err := l.svcCtx.QR.Scan(l.ctx, req.Id, req.Key, uid, maskedHint(uid))
	if errors.Is(err, qrlogin.ErrNotFound) {
		// A wrong key and an unknown id get the same answer, and both count as misses.
		return nil, miss(l.ctx, l.svcCtx, "no QR-login session with this id and scan key")
	}
	if err != nil {
		return nil, fail(l.ctx, l.svcCtx, err)
	}
	return &types.QrScanResp{
		Requester: types.QrRequester{
			Ip:        sess.Requester.IP,
			UserAgent: sess.Requester.UserAgent,
			CreatedAt: timestamp(sess.CreatedAt),
		},
		ConfirmBefore: timestamp(sess.ConfirmBefore),
	}, nil
}
