// Package bodylimit bounds request bodies with an answer in the service's JSON error shape
// (go-zero's own MaxBytes middleware answers a bare 413).
package bodylimit

import (
	"net/http"

	"github.com/zeromicro/go-zero/rest/httpx"

	"github.com/sseapi/sse-api/internal/apierr"
)

// Middleware refuses bodies over max bytes: at once when Content-Length says so, otherwise
// when reading passes the limit (the parse error then maps to 413).
func Middleware(max int64) func(http.HandlerFunc) http.HandlerFunc {
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
