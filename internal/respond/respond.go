// Package respond writes successful answers for the generated handlers. A response type may
// say its own status (a StatusCode method: 201 for what a request created) and its own
// encoding (a Raw method: an image, say), and logic may set cookies on the answer through
// the request context (Middleware puts the response headers there).
package respond

import (
	"context"
	"net/http"

	"github.com/zeromicro/go-zero/rest/httpx"
)

// StatusCoder is a response that is not a plain 200.
type StatusCoder interface {
	StatusCode() int
}

// Rawer is a response written as raw bytes rather than JSON.
type Rawer interface {
	Raw() (contentType string, body []byte)
}

// JSON writes v with its status, as JSON unless v is a Rawer.
func JSON(ctx context.Context, w http.ResponseWriter, v any) {
	status := http.StatusOK
	if sc, ok := v.(StatusCoder); ok {
		status = sc.StatusCode()
	}
	if raw, ok := v.(Rawer); ok {
		contentType, body := raw.Raw()
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	}
	httpx.WriteJsonCtx(ctx, w, status, v)
}

type headerKey struct{}

// Middleware lets the logic of a request reach its response headers.
func Middleware(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		next(w, r.WithContext(context.WithValue(r.Context(), headerKey{}, w.Header())))
	}
}

// SetHeader sets a header of the answer of the request ctx belongs to, as SetCookie does.
func SetHeader(ctx context.Context, key, value string) {
	if h, ok := ctx.Value(headerKey{}).(http.Header); ok {
		h.Set(key, value)
	}
}

// SetCookie adds c to the answer of the request ctx belongs to. The generated handlers
// write headers only after the logic returns, so any logic may call it.
func SetCookie(ctx context.Context, c *http.Cookie) {
	if h, ok := ctx.Value(headerKey{}).(http.Header); ok {
		h.Add("Set-Cookie", c.String())
	}
}
