// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package topic

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/metrics"
	"github.com/sseapi/sse-api/internal/middleware"
	"github.com/sseapi/sse-api/internal/svc"
	"github.com/sseapi/sse-api/internal/types"
	"github.com/sseapi/sse-api/publish"
)

type PublishBatchLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Publish a batch of events, all or none (needs the publish claim for every topic)
func NewPublishBatchLogic(ctx context.Context, svcCtx *svc.ServiceContext) *PublishBatchLogic {
	return &PublishBatchLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *PublishBatchLogic) PublishBatch() (*types.PublishBatchResp, error) {
	who, err := svc.User(l.ctx)
	if err != nil {
		return nil, err
	}
	events, ok := middleware.BatchBodyFrom(l.ctx)
	if !ok {
		return nil, apierr.Internal(errors.New("batch body middleware did not run"))
	}
	if err := l.svcCtx.Access.CheckBatch(who, events, l.svcCtx.Config.Stream.MaxBatch); err != nil {
		return nil, err
	}
	ids, err := l.svcCtx.Publisher.PublishBatch(l.ctx, events)
	metrics.Published.Add(float64(written(ids, err)))
	var partial *publish.PartialError
	switch {
	case errors.As(err, &partial):
		// Only in a Redis Cluster, with a node out of reach: the client must learn which
		// topics it should publish again.
		l.Errorf("batch publish written in part: %v", err)
		return nil, apierr.Unavailable(fmt.Sprintf("only part of the batch was written: the events of %s were, "+
			"those of %s were not; publish those again", strings.Join(partial.Written, ", "), strings.Join(partial.Failed, ", ")))
	case err != nil:
		return nil, apierr.Internal(err)
	}
	return &types.PublishBatchResp{Ids: ids}, nil
}

// written counts the events PublishBatch wrote.
func written(ids []string, err error) int {
	var partial *publish.PartialError
	if !errors.As(err, &partial) {
		return len(ids)
	}
	n := 0
	for _, id := range partial.IDs {
		if id != "" {
			n++
		}
	}
	return n
}
