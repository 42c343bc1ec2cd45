// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package qr

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/auth"

	"github.com/sseapi/sse-api/internal/svc"
	"github.com/sseapi/sse-api/internal/types"

	"github.com/zeromicro/go-zero/core/logx"
)

type ExchangeSessionLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Exchange a confirmed session for an access token, once (browser cookie)
func NewExchangeSessionLogic(ctx context.Context, svcCtx *svc.ServiceContext) *ExchangeSessionLogic {
	return &ExchangeSessionLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *ExchangeSessionLogic) ExchangeSession(req *types.QrBrowserReq) (*types.QrExchangeResp, error) {
	uid, _, err := l.svcCtx.QR.Consume(l.ctx, req.Id, browserSecret(req.Cookie))
	if err != nil {
		return nil, fail(l.ctx, l.svcCtx, err)
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return nil, apierr.Internal(err)
	}
	expires := time.Now().Add(time.Duration(l.svcCtx.Config.Auth.AccessExpire) * time.Second)
	token, err := l.svcCtx.Tokens.Sign(map[string]any{
		auth.ClaimUID: uid,
		"jti":         hex.EncodeToString(jti),
	}, expires)
	if err != nil {
		return nil, apierr.Internal(err)
	}
	return &types.QrExchangeResp{AccessToken: token, ExpiresAt: timestamp(expires)}, nil
}
