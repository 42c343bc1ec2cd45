package middleware

import (
	"net/http"

	"github.com/zeromicro/go-zero/rest"

	"github.com/zeromicro/go-zero/rest/httpx"

	"github.com/sseapi/sse-api/internal/apierr"
)

// BodyLimit refuses bodies over max bytes, with an answer in the service's JSON error shape
// (go-zero's own MaxBytes middleware answers a bare 413): at once when Content-Length says
// so, otherwise when reading passes the limit (the parse error then maps to 413).
func BodyLimit(max int64) func(http.HandlerFunc) http.HandlerFunc {
	return func(next http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > max {
				httpx.ErrorCtx(r.Context(), w, apierr.TooLarge("request body is larger than the limit"))
				return
			}
			if r.Body != nil {
				r.Body = http.MaxBytesReader(w, r.Body, max)
			}
			next(w, r)
		}
	}
}

// MaxBytes bounds every request body by the server's MaxBytes setting, as go-zero's own
// middleware would, but in front of everything (go-zero's chain included) and with the
// service's JSON answer. Turned off by Middlewares.MaxBytes: false or MaxBytes <= 0, as
// go-zero's is.
func MaxBytes(c rest.RestConf) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if !c.Middlewares.MaxBytes || c.MaxBytes <= 0 {
			return next
		}
		limit := BodyLimit(c.MaxBytes)
		return limit(next.ServeHTTP)
	}
}
