package logic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/metrics"
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
	if err := l.svcCtx.Access.CheckBatch(l.svcCtx.Caller, events, l.svcCtx.Config.Stream.MaxBatch); err != nil {
		return nil, err
	}
	ids, err := l.svcCtx.Publisher.PublishBatch(l.ctx, events)
	var partial *publish.PartialError
	switch {
	case errors.As(err, &partial):
		metrics.Published.Add(float64(countWritten(partial.IDs)))
		// Only in a Redis Cluster, with a node out of reach: the caller must learn which
		// topics to publish again.
		l.Errorf("batch publish written in part: %v", err)
		return nil, apierr.Unavailable(fmt.Sprintf("only part of the batch was written: the events of %s were, "+
			"those of %s were not; publish those again", strings.Join(partial.Written, ", "), strings.Join(partial.Failed, ", ")))
	case err != nil:
		return nil, apierr.Internal(err)
	}
	metrics.Published.Add(float64(len(ids)))
	return &sseapi.PublishBatchResp{Ids: ids}, nil
}

func countWritten(ids []string) int {
	n := 0
	for _, id := range ids {
		if id != "" {
			n++
		}
	}
	return n
}
