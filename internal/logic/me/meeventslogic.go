// Code scaffolded by goctl from tpl/api/sse_logic.tpl. Safe to edit.
// goctl 1.10.2

package me

import (
	"context"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/internal/stream"
	"github.com/sseapi/sse-api/internal/svc"
	"github.com/sseapi/sse-api/internal/types"
)

type MeEventsLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// The signed-in user's own stream: topic user:<uid>, plus any ?topic= the user may read
func NewMeEventsLogic(ctx context.Context, svcCtx *svc.ServiceContext) *MeEventsLogic {
	return &MeEventsLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

// MeEvents streams the user's own topic first, then the topics the request adds.
func (l *MeEventsLogic) MeEvents(req *types.MeEventsReq, s *stream.Stream) error {
	sub, err := l.subscribe(req, s)
	if err != nil {
		return err
	}
	for {
		select {
		case <-l.ctx.Done():
			return nil
		case batch := <-sub.Events():
			if err := sub.Send(batch); err != nil {
				return err
			}
		}
	}
}

// subscribe is the stream's setup, kept out of MeEvents: the loop's goroutine lives as long
// as the stream, and a frame that held the setup's values would keep them as long.
func (l *MeEventsLogic) subscribe(req *types.MeEventsReq, s *stream.Stream) (*stream.Subscription, error) {
	grant, err := l.svcCtx.Access.Grant(l.ctx, s.Request())
	if err != nil {
		return nil, err
	}
	if !grant.Authenticated() {
		return nil, apierr.Unauthorized("your own stream needs credentials")
	}
	plan, err := l.svcCtx.Access.Plan(l.ctx, grant, append([]string{auth.UserTopic(grant.UID)}, req.Topics...))
	if err != nil {
		return nil, err
	}
	return s.Subscribe(plan)
}
