package middleware

import (
	"net/http"
	"time"

	"github.com/zeromicro/go-zero/rest"

	"github.com/zeromicro/go-zero/rest/httpx"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/logredact"
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

// BodyLimitByPath is BodyLimit(max) on every route but those whose path is in other, which
// get their own bound (the batch publish reads more than a single one).
func BodyLimitByPath(max int64, other map[string]int64) func(http.HandlerFunc) http.HandlerFunc {
	return func(next http.HandlerFunc) http.HandlerFunc {
		def := BodyLimit(max)(next)
		byPath := make(map[string]http.HandlerFunc, len(other))
		for path, m := range other {
			byPath[path] = BodyLimit(m)(next)
		}
		return func(w http.ResponseWriter, r *http.Request) {
			if h, ok := byPath[r.URL.Path]; ok {
				h(w, r)
				return
			}
			def(w, r)
		}
	}
}

// Edge is what every request gets before go-zero's chain, with the service's JSON answers:
//   - its body bounded in size by the server's MaxBytes setting, as go-zero's own middleware
//     would (turned off by Middlewares.MaxBytes: false or MaxBytes <= 0, as go-zero's is);
//   - and in time by Timeout: a body that trickles in is cut off instead of holding its
//     connection (the stream groups' timeout of 0 clears the server's ReadTimeout). Requests
//     without a body (streams are GETs) get no read deadline, which would end a stream;
//   - its RequestURI with credentials redacted (?ticket=): go-zero's tracing records it in
//     every span, and its logs of refused requests print it. Routing reads r.URL.
func Edge(c rest.RestConf) func(http.Handler) http.Handler {
	timeout := time.Duration(c.Timeout) * time.Millisecond
	return func(next http.Handler) http.Handler {
		if c.Middlewares.MaxBytes && c.MaxBytes > 0 {
			next = BodyLimit(c.MaxBytes)(next.ServeHTTP)
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.RequestURI = logredact.URI(r.RequestURI)
			if timeout > 0 && (r.ContentLength != 0 || len(r.TransferEncoding) > 0) {
				_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout))
			}
			next.ServeHTTP(w, r)
		})
	}
}
