// Code scaffolded by goctl from tpl/api/sse_logic.tpl. Safe to edit.
// goctl 1.10.2

package topic

import (
	"context"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/stream"
	"github.com/sseapi/sse-api/internal/svc"
	"github.com/sseapi/sse-api/internal/types"
)

type EventsLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Subscribe to topics: ?topic=a&topic=b, resume with Last-Event-ID or ?lastEventId=
func NewEventsLogic(ctx context.Context, svcCtx *svc.ServiceContext) *EventsLogic {
	return &EventsLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

// Events streams the topics the request names (a ticket's own topics when it names none)
// to whoever may read them all.
func (l *EventsLogic) Events(req *types.EventsReq, s *stream.Stream) error {
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
func (l *EventsLogic) plan(req *types.EventsReq, s *stream.Stream) (stream.Plan, error) {
	grant, err := l.svcCtx.Access.Grant(l.ctx, s.Request())
	if err != nil {
		return stream.Plan{}, err
	}
	topics := req.Topics
	if len(topics) == 0 {
		topics = grant.Topics
	}
	return l.svcCtx.Access.Plan(l.ctx, grant, topics)
}
