// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package topic

import (
	"context"
	"errors"
	"strings"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/access"
	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/history"
	"github.com/sseapi/sse-api/internal/svc"
	"github.com/sseapi/sse-api/internal/types"
)

type HistoryLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Page through a topic's kept events (needs the subscribe claim for it)
func NewHistoryLogic(ctx context.Context, svcCtx *svc.ServiceContext) *HistoryLogic {
	return &HistoryLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *HistoryLogic) History(req *types.HistoryReq) (*types.HistoryResp, error) {
	who, err := svc.User(l.ctx)
	if err != nil {
		return nil, err
	}
	// Well formed and not reserved (qr:), as for a stream.
	if _, err := l.svcCtx.Access.Topics([]string{req.Topic}); err != nil {
		return nil, err
	}
	if strings.HasPrefix(req.Topic, access.KeyPrefix) {
		return nil, apierr.BadRequest("a key:<name> topic follows a watched Redis key and keeps no history " +
			"here: subscribe to it, or read the key")
	}
	if err := l.svcCtx.Access.MayRead(who, req.Topic); err != nil {
		return nil, err
	}
	page, err := l.svcCtx.History.Page(l.ctx, req.Topic, req.After, req.Limit)
	switch {
	case errors.Is(err, history.ErrInvalidAfter), errors.Is(err, history.ErrInvalidLimit):
		return nil, apierr.BadRequest(err.Error())
	case err != nil:
		return nil, apierr.Internal(err)
	}
	resp := &types.HistoryResp{
		Events: make([]types.Event, len(page.Events)),
		Next:   page.Next, More: page.More, Truncated: page.Truncated,
	}
	for i, e := range page.Events {
		resp.Events[i] = types.Event{Id: e.Id, Event: e.Event, Data: e.Data}
	}
	return resp, nil
}
