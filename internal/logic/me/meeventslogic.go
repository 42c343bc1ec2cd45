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
	sub, err := s.Subscribe(func() (stream.Plan, error) { return l.plan(req, s) })
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

// plan authorizes the request and says what the stream reads.
func (l *MeEventsLogic) plan(req *types.MeEventsReq, s *stream.Stream) (stream.Plan, error) {
	grant, err := l.svcCtx.Access.Grant(l.ctx, s.Request())
	if err != nil {
		return stream.Plan{}, err
	}
	if !grant.Authenticated() {
		return stream.Plan{}, apierr.Unauthorized("your own stream needs credentials")
	}
	return l.svcCtx.Access.Plan(l.ctx, grant, append([]string{auth.UserTopic(grant.UID)}, req.Topics...))
}
