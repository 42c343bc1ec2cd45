// Package stream runs the Server-Sent Events streams of sse-api: the lifecycle every SSE
// route shares, so that a route's logic only authorizes the request, says what it
// subscribes to, and forwards events in a loop.
//
// The handler goctl generates for an `sse: true` route (tpl/api/sse_handler.tpl) calls
// Runtime.Serve with its logic. From then on the runtime owns: the stream's context (the
// logic's l.ctx from the start), admission under the instance's limits, opening the
// response, replay from Last-Event-ID, heartbeats, detaching the connection from net/http,
// the end at shutdown, at the credential's deadline, when the client leaves or stops
// reading, the answer to errors (JSON before the stream opens), panics, and the closing log
// line.
package stream

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/sseapi/sse-api/internal/broker"
	"github.com/sseapi/sse-api/internal/ssewire"
)

// tracer makes the streams' spans, through the provider go-zero's Telemetry sets up.
var tracer = otel.Tracer("github.com/sseapi/sse-api/internal/stream")

// Config is what every stream of an instance shares.
type Config struct {
	// Retry is the reconnection delay told to clients when a stream opens.
	Retry time.Duration
	// Heartbeat is the interval of comment lines that keep idle streams open through proxies.
	Heartbeat time.Duration
	// WriteTimeout bounds each write to a client; one that stops reading is disconnected.
	WriteTimeout time.Duration
	// MaxStreams and MaxStreamsPerUser bound the streams of this instance (0: no bound).
	MaxStreams, MaxStreamsPerUser int
	// RefusalRetry is how long a browser refused for a passing reason (over a limit, the
	// instance shutting down, Redis not ready) waits before it tries again: between it and
	// twice it, at random, so refused clients do not come back together.
	RefusalRetry time.Duration
	// DrainWindow spreads the end of the streams over this long at shutdown, so their
	// clients do not all reconnect to the other instances in the same moment.
	DrainWindow time.Duration
	// Presence, when set, is told of every stream while it is open (internal/presence).
	Presence Presence
}

// Presence counts the open streams of every topic.
type Presence interface {
	// Join counts a stream of user uid ("": anonymous) on topics, as it opens; leave is
	// called once, as it ends. Neither may block.
	Join(uid string, topics []string) (leave func())
}

// Runtime runs the streams of one instance.
type Runtime struct {
	hub  *broker.Hub
	reg  *registry
	conf Config
	opts ssewire.Options
}

// New returns the runtime of streams fed by hub.
func New(hub *broker.Hub, c Config) *Runtime {
	if c.Heartbeat <= 0 {
		c.Heartbeat = 15 * time.Second // what the WHATWG spec suggests
	}
	if c.RefusalRetry <= 0 {
		c.RefusalRetry = 5 * time.Second
	}
	return &Runtime{
		hub:  hub,
		reg:  newRegistry(c.MaxStreams, c.MaxStreamsPerUser),
		conf: c,
		opts: ssewire.Options{Retry: c.Retry, WriteTimeout: c.WriteTimeout, Detachable: true},
	}
}

// Serve runs one stream request: logic gets the Stream, whose context it keeps as l.ctx,
// and runs until the stream should end. route names the handler in logs.
//
// logic runs in a goroutine of its own, while the handler's waits, running the setup
// Subscribe hands it: once the stream is open and its connection detached from net/http
// (see ssewire.Writer.Detach), the handler returns and the stream goes on without the
// handler's deep stack, net/http's buffers and the request's objects. Where the connection
// cannot be detached (HTTP/2), the handler waits until the stream ends.
func (rt *Runtime) Serve(w http.ResponseWriter, r *http.Request, route string, logic func(*Stream) error) {
	s := rt.newStream(w, r, route)
	go func() {
		s.run(logic)
		if !s.detached {
			close(s.handedOff) // the response is the handler's to end
		}
	}()
	for {
		select {
		case <-s.handedOff:
			return
		case work := <-s.setup:
			work()
		}
	}
}

// Shutdown refuses new streams, ends every open one at a random moment of DrainWindow, and
// returns a channel closed once all of them have ended. Each is told to reconnect after a
// jittered delay: its client resumes on another instance.
func (rt *Runtime) Shutdown() <-chan struct{} { return rt.reg.shutdown(rt.conf.DrainWindow) }

// Len is the number of open streams.
func (rt *Runtime) Len() int { return rt.reg.len() }

// EndUser ends every open stream of user uid on this instance, with why (ErrDisconnected or
// ErrRevoked: the client is told so), and says how many there were.
func (rt *Runtime) EndUser(uid string, why error) int { return rt.reg.endUser(uid, why, time.Time{}) }

// EndUserOpenedBefore is EndUser for the streams whose request came in before before (by
// this instance's clock): a disconnect heard of late ends the streams it was told for, not
// the ones the user opened since. A stream counts from its request's arrival, before its
// credential was checked, so a stream admitted on a credential revoked meanwhile is ended.
func (rt *Runtime) EndUserOpenedBefore(uid string, why error, before time.Time) int {
	return rt.reg.endUser(uid, why, before)
}

// Users are the users with streams open on this instance.
func (rt *Runtime) Users() []string { return rt.reg.users() }

func (rt *Runtime) newStream(w http.ResponseWriter, r *http.Request, route string) *Stream {
	// The stream's context keeps the request's values but not its end: a detached stream
	// outlives its request. Its span lasts as long as the stream, while go-zero's request
	// span ends when the handler returns (at detach).
	ctx, span := tracer.Start(context.WithoutCancel(r.Context()), "sse.stream "+route,
		trace.WithAttributes(attribute.String("sse.route", route)))
	ctx, end := context.WithCancelCause(ctx)
	s := &Stream{
		rt:        rt,
		route:     route,
		req:       r,
		rw:        w,
		ctx:       ctx,
		end:       end,
		span:      span,
		start:     time.Now(),
		handedOff: make(chan struct{}),
		setup:     make(chan func()),
	}
	// Until detached, the request's end (the client leaving) ends the stream.
	s.stopFollowingRequest = context.AfterFunc(r.Context(), func() { end(ErrClientGone) })
	s.setWriter(ssewire.NewWriter(w, rt.opts))
	return s
}
