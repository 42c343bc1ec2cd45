// Package respond writes successful JSON answers for the generated handlers. A response type
// may say its own status (201 for what a request created) by having a StatusCode method.
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

// JSON writes v with its status.
func JSON(ctx context.Context, w http.ResponseWriter, v any) {
	status := http.StatusOK
	if sc, ok := v.(StatusCoder); ok {
		status = sc.StatusCode()
	}
	httpx.WriteJsonCtx(ctx, w, status, v)
}
