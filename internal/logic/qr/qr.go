package qr

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/middleware"
	"github.com/sseapi/sse-api/internal/qrlogin"
	"github.com/sseapi/sse-api/internal/svc"
	"github.com/sseapi/sse-api/internal/types"
)

// bindingCookie holds the secret that binds a session to the browser that created it. It is
// scoped to the session's own path, so each session has its own and no other route sees it.
const bindingCookie = "qr_binding"

func newBindingCookie(svcCtx *svc.ServiceContext, id, secret string) *http.Cookie {
	c := svcCtx.Config.QRLogin
	life := c.TTL + c.Retention
	return &http.Cookie{
		Name:     bindingCookie,
		Value:    secret,
		Path:     sessionPath(svcCtx, id),
		MaxAge:   int(life.Seconds()),
		Expires:  time.Now().Add(life),
		HttpOnly: true,
		Secure:   svcCtx.Config.Auth.SecureCookies,
		SameSite: http.SameSiteStrictMode,
	}
}

func sessionPath(svcCtx *svc.ServiceContext, id string) string {
	return svcCtx.Config.QRLogin.BasePath + "/" + id
}

// browserSecret reads the binding cookie out of a Cookie header.
func browserSecret(cookieHeader string) string {
	cookies, err := http.ParseCookie(cookieHeader)
	if err != nil {
		return ""
	}
	for _, c := range cookies {
		if c.Name == bindingCookie {
			return c.Value
		}
	}
	return ""
}

// fail maps the store's errors to answers.
func fail(ctx context.Context, svcCtx *svc.ServiceContext, err error) error {
	switch {
	case errors.Is(err, qrlogin.ErrNotFound):
		return miss(ctx, svcCtx, "no such QR-login session")
	case errors.Is(err, qrlogin.ErrForbidden):
		return apierr.Forbidden("this session belongs to another browser or user")
	case errors.Is(err, qrlogin.ErrConflict):
		return apierr.Conflict("the session is not in a state that allows this")
	case errors.Is(err, qrlogin.ErrGone):
		return apierr.Gone("the session has expired or is finished")
	case errors.Is(err, qrlogin.ErrInvalidHint):
		return apierr.BadRequest(err.Error())
	default:
		return apierr.Internal(err)
	}
}

// miss answers a lookup that named no session with 404 and message. It counts against the
// caller's address: past its budget, guessing gets 429 and learns nothing more.
func miss(ctx context.Context, svcCtx *svc.ServiceContext, message string) error {
	ok, err := svcCtx.QRMisses.Allow(ctx, middleware.ClientAddr(ctx))
	if err != nil {
		return apierr.Internal(err)
	}
	if !ok {
		return apierr.TooManyRequests("too many lookups of unknown sessions from this address")
	}
	return apierr.NotFound(message)
}

// browserSession loads a session for the browser that owns it.
func browserSession(ctx context.Context, svcCtx *svc.ServiceContext, id, cookieHeader string) (*qrlogin.Session, error) {
	sess, err := svcCtx.QR.Get(ctx, id)
	if err != nil {
		return nil, fail(ctx, svcCtx, err)
	}
	if !svcCtx.QR.VerifyBrowser(sess, browserSecret(cookieHeader)) {
		return nil, fail(ctx, svcCtx, qrlogin.ErrForbidden)
	}
	return sess, nil
}

func stateResp(sess *qrlogin.Session) *types.QrStateResp {
	resp := &types.QrStateResp{Id: sess.ID, State: string(sess.State), ExpiresAt: timestamp(sess.ExpiresAt)}
	// The hint after the confirm too: the browser shows whom it is about to sign in as.
	if sess.State == qrlogin.Scanned || sess.State == qrlogin.Confirmed {
		resp.Hint = sess.Hint
		resp.ConfirmBefore = timestamp(sess.ConfirmBefore)
	}
	return resp
}

func timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// maskedHint shows who scanned without showing it: the first and last character of the uid.
func maskedHint(uid string) string {
	r := []rune(uid)
	switch {
	case len(r) <= 1:
		return "*"
	case len(r) == 2:
		return string(r[0]) + "*"
	default:
		return string(r[0]) + "***" + string(r[len(r)-1])
	}
}
