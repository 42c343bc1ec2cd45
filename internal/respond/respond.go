// Package respond writes successful answers for the generated handlers. A response type may
// say its own status (a StatusCode method: 201 for what a request created) and its own
// encoding (a Raw method: an image, say), and logic may set cookies on the answer through
// the request context (Middleware puts the response headers there).
package respond

import (
	"context"
	"net/http"
	"sync/atomic"

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

// Middleware lets the logic of a request reach its response headers while the request is
// handled. A stream's context outlives its handler (internal/stream): the headers are let
// go when the handler returns, so that a stream does not keep them.
func Middleware(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ref := new(atomic.Pointer[http.Header])
		h := w.Header()
		ref.Store(&h)
		defer ref.Store(nil)
		next(w, r.WithContext(context.WithValue(r.Context(), headerKey{}, ref)))
	}
}

// header returns the response headers of the request ctx belongs to, while it is handled.
func header(ctx context.Context) http.Header {
	if ref, ok := ctx.Value(headerKey{}).(*atomic.Pointer[http.Header]); ok {
		if h := ref.Load(); h != nil {
			return *h
		}
	}
	return nil
}

// SetHeader sets a header of the answer of the request ctx belongs to, as SetCookie does.
func SetHeader(ctx context.Context, key, value string) {
	if h := header(ctx); h != nil {
		h.Set(key, value)
	}
}

// SetCookie adds c to the answer of the request ctx belongs to. The generated handlers
// write headers only after the logic returns, so any logic may call it; a stream's, before
// it opens (its plan's Cookies are the way).
func SetCookie(ctx context.Context, c *http.Cookie) {
	if h := header(ctx); h != nil {
		h.Add("Set-Cookie", c.String())
	}
}
