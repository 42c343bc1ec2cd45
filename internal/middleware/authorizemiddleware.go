// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package middleware

import (
	"net/http"

	"github.com/zeromicro/go-zero/rest/httpx"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/auth"
)

// AuthorizeMiddleware admits requests that carry a valid access token in a Bearer header:
// the same check (auth.Tokens) that streams use, in place of go-zero's JWT middleware, which
// accepts any HMAC algorithm and tokens without exp, and logs refused requests with their
// whole body (read into memory, gunzipped) and their credentials.
type AuthorizeMiddleware struct {
	tokens *auth.Tokens
}

func NewAuthorizeMiddleware(tokens *auth.Tokens) *AuthorizeMiddleware {
	return &AuthorizeMiddleware{tokens: tokens}
}

func (m *AuthorizeMiddleware) Handle(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := auth.BearerToken(r.Header.Get("Authorization"))
		if !ok {
			httpx.ErrorCtx(r.Context(), w, apierr.Unauthorized("missing bearer token"))
			return
		}
		id, err := m.tokens.Identity(token)
		if err != nil {
			httpx.ErrorCtx(r.Context(), w, apierr.Unauthorized("invalid or expired bearer token"))
			return
		}
		next(w, r.WithContext(auth.WithIdentity(r.Context(), id)))
	}
}
