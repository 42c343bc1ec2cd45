// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package topic

import (
	"context"
	"errors"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/access"
	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/metrics"
	"github.com/sseapi/sse-api/internal/middleware"
	"github.com/sseapi/sse-api/internal/svc"
	"github.com/sseapi/sse-api/internal/types"
	"github.com/sseapi/sse-api/publish"
)

type PublishLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Publish an event to a topic (needs the publish claim for it)
func NewPublishLogic(ctx context.Context, svcCtx *svc.ServiceContext) *PublishLogic {
	return &PublishLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *PublishLogic) Publish(req *types.PublishReq) (*types.PublishResp, error) {
	who, err := svc.User(l.ctx)
	if err != nil {
		return nil, err
	}
	body, ok := middleware.PublishBodyFrom(l.ctx)
	if !ok {
		return nil, apierr.Internal(errors.New("publish body middleware did not run"))
	}
	if !publish.ValidTopic(req.Topic) {
		return nil, apierr.BadRequest("malformed topic: want [A-Za-z0-9_.:-]{1,128}")
	}
	if body.Event != "" && !publish.ValidEvent(body.Event) {
		return nil, apierr.BadRequest("malformed event name: want [A-Za-z0-9_.:-]{1,64}, not reset or error (the service's own)")
	}
	if publish.KeyTopic(req.Topic) {
		// As a reserved topic is answered: a topic nobody may write, whatever the claims.
		return nil, apierr.Forbidden(publish.ErrKeyTopic.Error())
	}
	if !access.Publishable(req.Topic) || !who.CanPublish(req.Topic) {
		return nil, apierr.Forbidden("not allowed to publish to this topic")
	}
	id, err := l.svcCtx.Publisher.Publish(l.ctx, req.Topic, body.Event, body.Data)
	if err != nil {
		return nil, apierr.Internal(err)
	}
	metrics.Published.Inc()
	return &types.PublishResp{Id: id}, nil
}
