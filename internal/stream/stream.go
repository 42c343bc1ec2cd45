package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/zeromicro/go-zero/core/logc"
	"github.com/zeromicro/go-zero/rest/httpx"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/broker"
	"github.com/sseapi/sse-api/internal/eventid"
	"github.com/sseapi/sse-api/internal/metrics"
	"github.com/sseapi/sse-api/internal/middleware"
	"github.com/sseapi/sse-api/internal/ssewire"
)

// Why a stream ended, besides its logic's own errors (see context.Cause of its context).
var (
	ErrClientGone        = errors.New("client went away")
	ErrCredentialExpired = errors.New("credential expired")
	errEnded             = errors.New("stream ended")
	errPanic             = errors.New("panic")
)

// ErrDisconnected and ErrRevoked end the streams of a user an admin disconnected, the second
// when the user's tokens were revoked as well (see Runtime.EndUser).
var (
	ErrDisconnected = errors.New("disconnected")
	ErrRevoked      = errors.New("revoked")
)

// endGrace is how long a stream that must end (shutdown, its deadline) still waits for a
// client to take what is being written to it.
const endGrace = time.Second

// Stream is one SSE request, from the handler's call to Serve until it ends.
type Stream struct {
	rt    *Runtime
	route string
	req   *http.Request // nil once detached
	rw    http.ResponseWriter
	ctx   context.Context
	end   context.CancelCauseFunc
	span  trace.Span
	start time.Time

	w                    atomic.Pointer[ssewire.Writer]
	stopFollowingRequest func() bool
	handedOff            chan struct{} // closed once detached, or ended undetached: the handler may return
	setup                chan func()   // work for the handler's goroutine (see onHandler), until detached
	planning             bool          // Subscribe's plan is running (on the handler's goroutine)
	detached             bool          // set on the handler's goroutine, read after onHandler
	finishAccessLog      func(context.Context, int)

	opened   bool
	admitted *admission // once admitted
	leave    func()     // the presence, once open
	sub      *Subscription
	timers   []*time.Timer
}

// Context is the stream's context: it keeps the request's values and ends when the stream
// must end (see ErrClientGone, ErrCredentialExpired, ErrShuttingDown, context.Cause).
func (s *Stream) Context() context.Context { return s.ctx }

// Request is the stream's request, for reading its headers, cookies and query before
// Subscribe. It is not to be kept: a detached stream lets it go.
func (s *Stream) Request() *http.Request { return s.req }

// LastEventID is where the client asks to resume: the Last-Event-ID header an EventSource
// sends when it reconnects, or the lastEventId query parameter of a first connection.
func (s *Stream) LastEventID() string {
	if id := s.req.Header.Get("Last-Event-ID"); id != "" {
		return id
	}
	return s.req.FormValue("lastEventId") // the query, parsed once per request
}

// Subscribe runs plan, which authorizes the request and says what the stream carries, then
// admits the stream under the instance's limits, subscribes it to the plan's topics from
// where it resumes, and opens it: status 200, the event-stream headers, the retry delay and
// the stream's position, then whatever the topics hold after it (see Subscription.Send).
// An error (plan's, a bad Last-Event-ID 400, over a limit 429, shutting down or Redis not
// ready 503, or the plan's Commit's) means nothing was sent: return it, and the client gets
// it as JSON.
//
// plan and the opening run on the handler's goroutine, which waits until the stream is
// detached: setup work (token checks, Redis reads, net/http's writes) grows the stack of the
// goroutine it runs on, Go shrinks a stack only at a collection, and the stream's own
// goroutine lives as long as the stream.
func (s *Stream) Subscribe(plan func() (Plan, error)) (sub *Subscription, err error) {
	if s.planning {
		return nil, apierr.Internal(errors.New("stream: Subscribe called from its own plan"))
	}
	s.onHandler(func() {
		s.planning = true
		defer func() { s.planning = false }()
		var p Plan
		if p, err = plan(); err == nil {
			sub, err = s.subscribe(p)
		}
	})
	return sub, err
}

// setupPanic carries a panic of work done on the handler's goroutine to the stream's, with
// the stack where it happened.
type setupPanic struct {
	value any
	stack []byte
}

// onHandler runs work on the handler's goroutine (see Serve) and returns when it is done; a
// panic in work is raised again here, for run to recover.
func (s *Stream) onHandler(work func()) {
	done := make(chan *setupPanic, 1)
	job := func() {
		completed := false
		defer func() {
			p := recover()
			switch {
			case p != nil:
				done <- &setupPanic{p, debug.Stack()}
			case !completed: // runtime.Goexit: the stream's goroutine must not go on as if set up
				done <- &setupPanic{"runtime.Goexit in a stream's setup", debug.Stack()}
			default:
				done <- nil
			}
		}()
		work()
		completed = true
	}
	select {
	case s.setup <- job:
	case <-s.handedOff: // nothing waits there any more
		job()
	}
	if p := <-done; p != nil {
		panic(p)
	}
}

func (s *Stream) subscribe(p Plan) (*Subscription, error) {
	if s.sub != nil || s.admitted != nil {
		return nil, apierr.Internal(errors.New("stream: Subscribe called twice"))
	}
	if len(p.Topics) == 0 {
		return nil, apierr.BadRequest("name at least one topic")
	}
	from := p.From
	if from == "" {
		from = s.LastEventID()
	}
	cursor, err := eventid.ParseCursor(p.Topics, from)
	if err != nil {
		return nil, apierr.BadRequest(err.Error())
	}
	holder := p.Holder
	if holder == "" {
		holder = p.UID
	}
	if holder == "" {
		holder = "address:" + middleware.ClientAddr(s.ctx)
	}
	if s.admitted, err = s.rt.reg.admit(holder, p.UID, s.start, s.end); err != nil {
		if errors.Is(err, ErrShuttingDown) {
			return nil, apierr.Unavailable(err.Error())
		}
		return nil, apierr.TooManyRequests(err.Error())
	}
	sub, err := s.rt.hub.Subscribe(s.ctx, cursor)
	if err != nil {
		return nil, apierr.Unavailable("event source not ready: " + err.Error())
	}
	s.sub = &Subscription{sub: sub}
	if p.Commit != nil {
		if err := p.Commit(s.ctx); err != nil {
			return nil, err
		}
	}
	for _, c := range p.Cookies {
		if c.Path == "" {
			c.Path = s.req.URL.Path
		}
		http.SetCookie(s.rw, c)
	}
	// Counted present before the client can see its stream open (finish uncounts it, if
	// the opening fails): a client that has its position is in the presence.
	if s.rt.conf.Presence != nil {
		s.leave = s.rt.conf.Presence.Join(p.UID, p.Topics)
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	if !p.Until.IsZero() {
		// The client reconnects, with a fresh credential, and resumes.
		s.timers = append(s.timers, time.AfterFunc(time.Until(p.Until), func() { s.end(ErrCredentialExpired) }))
	}
	s.sub.w, s.sub.ctx = s.writer(), s.ctx // final now that it is open (and detached, if it can be)
	s.sub.startBeat(s.rt.conf.Heartbeat)
	return s.sub, nil
}

// open sends the stream's headers and position, then detaches it from net/http if it can.
func (s *Stream) open() error {
	w := s.writer()
	s.opened = true
	if err := w.Start(); err != nil { // the headers leave with the position, in one write
		return err
	}
	if err := s.sub.sub.WritePosition(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	dw, ok := w.Detach(func() { s.end(ErrClientGone) })
	if ok {
		s.setWriter(dw)
	}
	// A stream that must end stops waiting for a client that stopped reading; registered
	// once the writer is final, so that an end already due reaches the writer in use.
	context.AfterFunc(s.ctx, func() { s.writer().EndBy(time.Now().Add(endGrace)) })
	if !ok {
		return nil
	}
	// From here on the connection's closing, which Detach watches, ends the stream, not the
	// request's end. If the request already ended, so did the stream.
	s.stopFollowingRequest()
	s.stopFollowingRequest = func() bool { return false } // lets the request's context go
	s.finishAccessLog = middleware.DeferAccessLog(s.req.Context())
	s.req, s.rw = nil, nil
	s.detached, s.setup = true, nil
	close(s.handedOff)
	return nil
}

func (s *Stream) writer() *ssewire.Writer     { return s.w.Load() }
func (s *Stream) setWriter(w *ssewire.Writer) { s.w.Store(w) }

// run runs logic and ends the stream, whatever logic did, panics included.
func (s *Stream) run(logic func(*Stream) error) {
	var err error
	defer func() {
		if p := recover(); p != nil {
			stack := debug.Stack()
			if sp, ok := p.(*setupPanic); ok {
				p, stack = sp.value, sp.stack
			}
			err = fmt.Errorf("%w: %v", errPanic, p)
			logc.Errorf(s.ctx, "stream %s: panic: %v\n%s", s.route, p, stack)
			metrics.StreamPanics.Inc()
			if !s.opened {
				err = apierr.Internal(err)
			}
		}
		s.finish(err)
	}()
	err = logic(s)
}

// finish ends the stream: before it opened, err is the client's answer; after, the stream
// says goodbye where that helps the client, closes, and logs why it ended.
func (s *Stream) finish(err error) {
	s.stopFollowingRequest()
	for _, t := range s.timers {
		t.Stop()
	}
	if s.sub != nil {
		s.sub.close()
	}
	if s.leave != nil {
		s.leave()
	}
	if s.admitted != nil {
		s.admitted.release()
	}
	reason := err
	if reason == nil {
		reason = context.Cause(s.ctx)
	}
	if reason == nil {
		reason = errEnded
	}
	s.end(reason)
	w := s.writer()
	defer s.span.End()
	if !s.opened {
		s.span.SetAttributes(attribute.Bool("sse.opened", false))
		defer w.Close()
		var refusal *apierr.Error
		switch {
		case err == nil:
			// The logic chose not to stream: 204 tells an EventSource not to reconnect.
			s.rw.WriteHeader(http.StatusNoContent)
		case errors.As(err, &refusal) && passing(refusal) && wantsEventStream(s.req):
			s.refuse(w, refusal)
		default:
			httpx.ErrorCtx(s.ctx, s.rw, err)
		}
		return
	}
	kind := endKind(reason)
	s.span.SetAttributes(attribute.Bool("sse.opened", true), attribute.String("sse.end", kind))
	if kind == "error" || kind == "panic" {
		s.span.SetStatus(codes.Error, reason.Error())
	}
	switch kind {
	case "shutdown":
		// Reconnect elsewhere, not all in the same moment.
		_ = w.Retry(s.rt.conf.Retry + rand.N(max(s.rt.conf.Retry, time.Second)))
		_ = w.Flush()
	case "error":
		// A failure of ours (a history read): the client resumes from its last id.
		_ = w.Retry(s.rt.conf.Retry)
		_ = w.Flush()
	case "disconnected", "revoked":
		// Told why, as a refusal is; a revoked client's reconnect is refused (401).
		_ = w.Retry(s.rt.conf.Retry + rand.N(max(s.rt.conf.Retry, time.Second)))
		data, _ := json.Marshal(struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}{kind, endMessages[kind]})
		if body, err := ssewire.AppendBody(nil, ErrorEvent, data); err == nil {
			_ = w.WriteFrame("", body)
		}
		_ = w.Flush()
	}
	w.Close()
	metrics.StreamsEnded.WithLabelValues(kind).Inc()
	logc.Infow(s.ctx, "stream ended",
		logc.Field("route", s.route),
		logc.Field("end", kind),
		logc.Field("reason", reason.Error()),
		logc.Field("duration", time.Since(s.start).String()))
	if s.finishAccessLog != nil {
		s.finishAccessLog(s.ctx, http.StatusOK)
	}
}

// endKind sorts why a stream ended, for metrics.
func endKind(reason error) string {
	var ne net.Error
	switch {
	case errors.Is(reason, ErrClientGone), errors.Is(reason, syscall.EPIPE),
		errors.Is(reason, syscall.ECONNRESET), errors.Is(reason, net.ErrClosed):
		return "client_gone"
	case errors.Is(reason, ErrShuttingDown):
		return "shutdown"
	case errors.Is(reason, ErrCredentialExpired):
		return "credential_expired"
	case errors.Is(reason, ErrRevoked):
		return "revoked"
	case errors.Is(reason, ErrDisconnected):
		return "disconnected"
	case errors.Is(reason, broker.ErrSlowConsumer):
		return "slow_consumer"
	case errors.Is(reason, context.DeadlineExceeded):
		// A Redis read that ran out of time (redisconn.ErrTimeout wraps it), which also
		// reads as a net.Error's timeout: ours, not the client's.
		return "error"
	case errors.As(reason, &ne) && ne.Timeout():
		return "write_timeout"
	case errors.Is(reason, errEnded):
		return "done"
	case errors.Is(reason, errPanic):
		return "panic"
	}
	return "error"
}

// endMessages tell a client why its stream was ended.
var endMessages = map[string]string{
	"disconnected": "an administrator ended the streams of this user",
	"revoked":      "an administrator revoked the credentials of this user",
}

// passing reports whether a refusal may not hold a moment later: a limit, the instance
// shutting down, Redis not ready.
func passing(e *apierr.Error) bool {
	return e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable
}

// wantsEventStream reports whether the client asked for an event stream, as a browser's
// EventSource does.
func wantsEventStream(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(v, "text/event-stream") {
			return true
		}
	}
	return false
}

// refuse answers a passing refusal so that an EventSource tries again by itself: it treats
// any status but 200 as final. The stream opens, tells the client to come back after a
// jittered delay, sends an "error" event with the code, message and the status the refusal
// would have had, and ends. Other clients get the JSON error with that status.
func (s *Stream) refuse(w *ssewire.Writer, e *apierr.Error) {
	metrics.Refusals.WithLabelValues(e.Code).Inc()
	data, _ := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Status  int    `json:"status"`
	}{e.Code, e.Message, e.Status})
	body, _ := ssewire.AppendBody(nil, ErrorEvent, data)
	s.rw.Header().Set("X-Refusal-Status", strconv.Itoa(e.Status))
	retry := s.rt.conf.RefusalRetry
	if w.Start() != nil || w.Retry(retry+rand.N(retry)) != nil || w.WriteFrame("", body) != nil {
		return
	}
	_ = w.Flush()
}

// ErrorEvent is the event that tells a client why its stream was refused, or ended.
const ErrorEvent = "error"

// Batch is one wake-up of a stream's loop (see Subscription.Events).
type Batch = broker.Batch

// Event is one event of a topic, as Subscription.Take gives it.
type Event = broker.Message
