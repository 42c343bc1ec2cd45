// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package middleware

import (
	"errors"
	"net/http"

	"github.com/zeromicro/go-zero/rest/httpx"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/auth"
)

// AuthorizeMiddleware admits requests that carry a valid access token in a Bearer header,
// not revoked since it was issued: the same check (auth.Authenticator) that streams use, in
// place of go-zero's JWT middleware, which accepts any HMAC algorithm and tokens without
// exp, and logs refused requests with their whole body (read into memory, gunzipped) and
// their credentials.
type AuthorizeMiddleware struct {
	auth *auth.Authenticator
}

func NewAuthorizeMiddleware(a *auth.Authenticator) *AuthorizeMiddleware {
	return &AuthorizeMiddleware{auth: a}
}

func (m *AuthorizeMiddleware) Handle(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := m.auth.Bearer(r.Context(), r.Header.Get("Authorization"))
		switch {
		case errors.Is(err, auth.ErrNoCredentials):
			httpx.ErrorCtx(r.Context(), w, apierr.Unauthorized("missing bearer token"))
			return
		case errors.Is(err, auth.ErrRevoked):
			httpx.ErrorCtx(r.Context(), w, apierr.Unauthorized("bearer token revoked"))
			return
		case errors.Is(err, auth.ErrRevocationUnknown):
			httpx.ErrorCtx(r.Context(), w, apierr.Unavailable(err.Error()))
			return
		case err != nil:
			httpx.ErrorCtx(r.Context(), w, apierr.Unauthorized("invalid or expired bearer token"))
			return
		}
		next(w, r.WithContext(auth.WithIdentity(r.Context(), id)))
	}
}
