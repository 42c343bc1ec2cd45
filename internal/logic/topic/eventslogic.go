// Code scaffolded by goctl from tpl/api/sse_logic.tpl. Safe to edit.
// goctl 1.10.2

package topic

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/internal/broker"
	"github.com/sseapi/sse-api/internal/clientip"
	"github.com/sseapi/sse-api/internal/eventid"
	"github.com/sseapi/sse-api/internal/respond"
	"github.com/sseapi/sse-api/internal/ssewire"
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

// Events validates and authorizes first: an error returned before w.Open() reaches the
// client as a JSON error. Once open, it loops until the client leaves, the server shuts
// down, the credential ends, or the subscriber falls a whole queue behind.
func (l *EventsLogic) Events(req *types.EventsReq, w *ssewire.Writer) error {
	grant, err := l.authenticate(req)
	if err != nil {
		return err
	}
	topics := req.Topics
	if len(topics) == 0 && grant.Topics != nil {
		topics = grant.Topics // a ticket names its topics
	}
	if topics, err = cleanTopics(topics, l.svcCtx.Config.Limits.MaxTopicsPerStream); err != nil {
		return err
	}
	for _, t := range topics {
		if grant.Allows(t, l.svcCtx.Public) {
			continue
		}
		if !grant.Authenticated() {
			return apierr.Unauthorized("topic " + t + " needs credentials")
		}
		return apierr.Forbidden("not allowed to subscribe to " + t)
	}
	lastID := req.LastEventIdHd
	if lastID == "" {
		lastID = req.LastEventId
	}
	cursor, err := eventid.ParseCursor(topics, lastID)
	if err != nil {
		return apierr.BadRequest(err.Error())
	}

	// Anonymous clients are told apart by address, so they do not share one budget.
	holder := grant.UID
	if !grant.Authenticated() {
		holder = "address:" + clientip.FromContext(l.ctx)
	}
	st, err := l.svcCtx.StartStream(l.ctx, holder)
	if err != nil {
		return err
	}
	defer st.End()
	l.ctx = st.Context() // from here on, shutting the server down ends the stream too

	sub, err := l.svcCtx.Hub.Subscribe(l.ctx, cursor)
	if err != nil {
		return apierr.Unavailable("event source not ready: " + err.Error())
	}
	st.Defer(sub.Close)

	until, err := l.lifetime(grant)
	if err != nil {
		return apierr.Internal(err)
	}
	if until > 0 {
		// The client reconnects, with a fresh credential, and resumes.
		st.EndAfter(until)
	}
	if err := w.Open(); err != nil {
		return err
	}
	if err := sub.Replay(l.ctx, w); err != nil {
		return err
	}
	return st.Run(w, "EventsHandler", func(w *ssewire.Writer) error { return l.loop(w, sub) })
}

// loop forwards events until the client leaves, the server shuts down, the credential
// ends (the stream's context then ends), or the subscriber falls a whole queue behind.
//
// It waits on the subscriber's channel alone: the context's end and heartbeats wake it
// through that channel too. A select over several channels costs more for every event, and
// at ten thousand streams an event is ten thousand wake-ups (see BENCHMARKS.md).
func (l *EventsLogic) loop(w *ssewire.Writer, sub *broker.Subscriber) error {
	stop := context.AfterFunc(l.ctx, sub.Wake)
	defer stop()
	w.NotifyHeartbeats(sub.Wake)
	for {
		<-sub.Ready()
		if l.ctx.Err() != nil {
			return nil
		}
		if w.HeartbeatDue() {
			if err := w.Heartbeat(); err != nil {
				return err
			}
		}
		// Everything queued goes out with one flush; a kicked subscriber gets its reason.
		if err := sub.Send(w); err != nil {
			return err
		}
	}
}

// authenticate resolves the request's credentials. Requests without a token are rate
// limited per client address before anything else, ticket guesses included.
func (l *EventsLogic) authenticate(req *types.EventsReq) (auth.Grant, error) {
	cookies := (&http.Request{Header: http.Header{"Cookie": {req.Cookie}}}).Cookies()
	creds := auth.Credentials{Authorization: req.Authorization, Cookies: cookies, Ticket: req.Ticket}
	if !creds.HasToken() {
		ok, err := l.svcCtx.AllowAnonymous(l.ctx, clientip.FromContext(l.ctx))
		if err != nil {
			return auth.Grant{}, apierr.Internal(err)
		}
		if !ok {
			return auth.Grant{}, apierr.TooManyRequests("too many requests without a token from this address")
		}
	}
	grant, err := l.svcCtx.Auth.Subscriber(l.ctx, creds)
	switch {
	case errors.Is(err, auth.ErrBadToken), errors.Is(err, auth.ErrBadTicket), errors.Is(err, auth.ErrNoCredentials):
		return auth.Grant{}, apierr.Unauthorized(err.Error())
	case err != nil:
		return auth.Grant{}, apierr.Internal(err)
	}
	return grant, nil
}

// lifetime returns how long the stream may last (0: no bound): until its token expires, or,
// for a ticket's stream, half its resume cookie's life, whose renewal it sets here.
func (l *EventsLogic) lifetime(grant auth.Grant) (time.Duration, error) {
	var until time.Duration
	switch grant.Via {
	case auth.ViaTicket, auth.ViaResume:
		a := l.svcCtx.Config.Auth
		cookie, err := l.svcCtx.Tokens.ResumeCookie(grant.UID, grant.Topics, grant.TicketHash, a.ResumeCookiePath, a.ResumeTTL)
		if err != nil {
			return 0, err
		}
		respond.SetCookie(l.ctx, cookie)
		until = a.ResumeTTL / 2
	case auth.ViaBearer, auth.ViaCookie:
		if grant.Expires.IsZero() {
			return 0, nil
		}
		until = time.Until(grant.Expires)
	default:
		return 0, nil
	}
	return max(until, time.Nanosecond), nil
}
