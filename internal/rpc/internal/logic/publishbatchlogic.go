package logic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/rpc/internal/svc"
	"github.com/sseapi/sse-api/publish"
	"github.com/sseapi/sse-api/rpc/sseapi"

	"github.com/zeromicro/go-zero/core/logx"
)

type PublishBatchLogic struct {
	ctx    context.Context
	svcCtx *svc.ServiceContext
	logx.Logger
}

func NewPublishBatchLogic(ctx context.Context, svcCtx *svc.ServiceContext) *PublishBatchLogic {
	return &PublishBatchLogic{
		ctx:    ctx,
		svcCtx: svcCtx,
		Logger: logx.WithContext(ctx),
	}
}

// Publish several events at once, all or none.
func (l *PublishBatchLogic) PublishBatch(in *sseapi.PublishBatchReq) (*sseapi.PublishBatchResp, error) {
	events := make([]publish.Event, len(in.Events))
	for i, e := range in.Events {
		events[i] = publish.Event{Topic: e.Topic, Event: e.Event}
		if len(e.Data) == 0 {
			continue // access.CheckBatch names it
		}
		// Compacted, as HTTP delivers it.
		var data bytes.Buffer
		if err := json.Compact(&data, e.Data); err != nil {
			return nil, apierr.BadRequest(fmt.Sprintf("event %d: data is not valid JSON", i))
		}
		events[i].Data = data.Bytes()
	}
	// Every event is checked before any is written, as over HTTP.
	ids, err := l.svcCtx.Access.PublishBatch(l.ctx, l.svcCtx.Publisher, l.svcCtx.Caller, events, l.svcCtx.Config.Stream.MaxBatch)
	if err != nil {
		return nil, err
	}
	return &sseapi.PublishBatchResp{Ids: ids}, nil
}
