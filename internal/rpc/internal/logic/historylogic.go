package logic

import (
	"context"
	"errors"
	"strings"

	"github.com/sseapi/sse-api/internal/access"
	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/history"
	"github.com/sseapi/sse-api/internal/rpc/internal/svc"
	"github.com/sseapi/sse-api/rpc/sseapi"

	"github.com/zeromicro/go-zero/core/logx"
)

type HistoryLogic struct {
	ctx    context.Context
	svcCtx *svc.ServiceContext
	logx.Logger
}

func NewHistoryLogic(ctx context.Context, svcCtx *svc.ServiceContext) *HistoryLogic {
	return &HistoryLogic{
		ctx:    ctx,
		svcCtx: svcCtx,
		Logger: logx.WithContext(ctx),
	}
}

// Read a page of a topic's history.
func (l *HistoryLogic) History(in *sseapi.HistoryReq) (*sseapi.HistoryResp, error) {
	// Well formed and not reserved (qr:), as for a stream.
	if _, err := l.svcCtx.Access.Topics([]string{in.Topic}); err != nil {
		return nil, err
	}
	if strings.HasPrefix(in.Topic, access.KeyPrefix) {
		return nil, apierr.BadRequest("a key:<name> topic follows a watched Redis key and keeps no history " +
			"here: subscribe to it, or read the key")
	}
	if err := l.svcCtx.Access.MayRead(l.svcCtx.Caller, in.Topic); err != nil {
		return nil, err
	}
	limit := int(in.Limit)
	if limit == 0 {
		limit = history.DefaultLimit
	}
	page, err := l.svcCtx.History.Page(l.ctx, in.Topic, in.After, limit)
	switch {
	case errors.Is(err, history.ErrInvalidAfter), errors.Is(err, history.ErrInvalidLimit):
		return nil, apierr.BadRequest(err.Error())
	case err != nil:
		return nil, apierr.Internal(err)
	}
	resp := &sseapi.HistoryResp{
		Events: make([]*sseapi.HistoryEvent, len(page.Events)),
		Next:   page.Next, More: page.More, Truncated: page.Truncated,
	}
	for i, e := range page.Events {
		resp.Events[i] = &sseapi.HistoryEvent{Id: e.Id, Event: e.Event, Data: e.Data}
	}
	return resp, nil
}
