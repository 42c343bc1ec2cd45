// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package handler

import (
	"net/http"

	"github.com/sseapi/sse-api/examples/chat-relay/internal/logic"
	"github.com/sseapi/sse-api/examples/chat-relay/internal/svc"
	"github.com/sseapi/sse-api/examples/chat-relay/internal/types"
	"github.com/zeromicro/go-zero/rest/httpx"
)

// Start an answer to a question; its tokens go to the topic returned
func AskHandler(svcCtx *svc.ServiceContext) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req types.AskReq
		if err := httpx.Parse(r, &req); err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
			return
		}

		l := logic.NewAskLogic(r.Context(), svcCtx)
		resp, err := l.Ask(&req)
		if err != nil {
			httpx.ErrorCtx(r.Context(), w, err)
		} else {
			httpx.OkJsonCtx(r.Context(), w, resp)
		}
	}
}
