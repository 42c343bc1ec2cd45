// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package logic

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/examples/chat-relay/internal/answer"
	"github.com/sseapi/sse-api/examples/chat-relay/internal/errs"
	"github.com/sseapi/sse-api/examples/chat-relay/internal/svc"
	"github.com/sseapi/sse-api/examples/chat-relay/internal/types"
)

type AskLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Start an answer to a question; its tokens go to the topic returned
func NewAskLogic(ctx context.Context, svcCtx *svc.ServiceContext) *AskLogic {
	return &AskLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *AskLogic) Ask(req *types.AskReq) (resp *types.AskResp, err error) {
	q := strings.TrimSpace(req.Question)
	if q == "" || !utf8.ValidString(q) {
		return nil, errs.BadRequest("question: ask something, in UTF-8")
	}
	if max := l.svcCtx.Config.Answers.MaxQuestion; utf8.RuneCountInString(q) > max {
		return nil, errs.BadRequest(fmt.Sprintf("question: at most %d characters", max))
	}
	topic, err := l.svcCtx.Answers.Start(l.ctx, q)
	switch {
	case errors.Is(err, answer.ErrBusy), errors.Is(err, answer.ErrStopped):
		return nil, errs.Unavailable(err.Error())
	case err != nil:
		// Not err's text: it names the topic, which is the answer's secret.
		l.Errorf("store the question: %v", errors.Unwrap(err))
		return nil, errs.Unavailable("the answer could not be stored; try again")
	}
	base := strings.TrimSuffix(l.svcCtx.Config.EventsBase, "/")
	return &types.AskResp{
		Topic: topic,
		// From the first event: the question, then the answer.
		EventsUrl: base + "/v1/events?topic=" + url.QueryEscape(topic) + "&lastEventId=0",
	}, nil
}
