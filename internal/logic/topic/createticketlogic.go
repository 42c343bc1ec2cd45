// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package topic

import (
	"context"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/internal/svc"
	"github.com/sseapi/sse-api/internal/types"
)

type CreateTicketLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Get a single-use, 60 s ticket that lets an EventSource open a stream on given topics
func NewCreateTicketLogic(ctx context.Context, svcCtx *svc.ServiceContext) *CreateTicketLogic {
	return &CreateTicketLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *CreateTicketLogic) CreateTicket(req *types.TicketReq) (*types.TicketResp, error) {
	who, err := svc.User(l.ctx)
	if err != nil {
		return nil, err
	}
	topics, err := l.svcCtx.Access.Topics(req.Topics)
	if err != nil {
		return nil, err
	}
	for _, t := range topics {
		if err := l.svcCtx.Access.MayRead(who, t); err != nil {
			return nil, err
		}
	}
	// Streams and resume cookies the ticket opens end when the token does.
	ticket, expires, err := l.svcCtx.Auth.Tickets.Issue(l.ctx, auth.TicketGrant{
		UID: who.UID, Topics: topics, CredentialExpires: who.Expires, CredentialIssued: who.IssuedAt,
	})
	if err != nil {
		return nil, apierr.Internal(err)
	}
	return &types.TicketResp{Ticket: ticket, ExpiresAt: expires.UTC().Format(time.RFC3339)}, nil
}
