package svc

import (
	"context"
	"errors"
	"time"

	"github.com/zeromicro/go-zero/core/logc"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/ssewire"
	"github.com/sseapi/sse-api/internal/streams"
)

// StreamRun is one admitted stream, from its admission to its end, wherever it runs. It
// starts in its request's handler; Run moves its loop to a goroutine of its own once the
// connection has been taken over from net/http (ssewire.Writer.Detach), and the handler
// returns. A stream left in its handler keeps, for as long as it is open, a goroutine whose
// stack holds go-zero's whole middleware chain (16 KiB), net/http's 4 KiB read and write
// buffers and the request's objects; a detached one keeps its connection, its subscription,
// its Writer and its loop's goroutine (see BENCHMARKS.md).
type StreamRun struct {
	ctx      context.Context
	release  func()
	stop     func() bool // stops the request's end from ending the stream
	cleanups []func()
	detached bool
}

// StartStream admits a stream held by holder (a uid, or an address for anonymous clients)
// under the instance's limits (429 over them, 503 while shutting down). Its context ends at
// shutdown, when the stream is released, and, while the stream runs in its handler, when
// the request ends; once detached, when the client closes the connection. Defer End in the
// handler.
func (s *ServiceContext) StartStream(req context.Context, holder string) (*StreamRun, error) {
	ctx, release, err := s.Streams.Open(context.WithoutCancel(req), holder)
	switch {
	case errors.Is(err, streams.ErrShuttingDown):
		return nil, apierr.Unavailable(err.Error())
	case err != nil:
		return nil, apierr.TooManyRequests(err.Error())
	}
	return &StreamRun{ctx: ctx, release: release, stop: context.AfterFunc(req, release)}, nil
}

// Context is the stream's context.
func (r *StreamRun) Context() context.Context { return r.ctx }

// Defer registers f to run when the stream ends, in reverse order of registration, before
// the stream is released.
func (r *StreamRun) Defer(f func()) { r.cleanups = append(r.cleanups, f) }

// EndAfter ends the stream (its context) after d, whether it runs in its handler or not.
func (r *StreamRun) EndAfter(d time.Duration) {
	t := time.AfterFunc(d, r.release)
	r.Defer(func() { t.Stop() })
}

// End ends a stream that was not detached; a detached one ends when its loop returns.
func (r *StreamRun) End() {
	if !r.detached {
		r.finish()
	}
}

func (r *StreamRun) finish() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	r.stop()
	r.release()
}

// Run runs the stream's loop on w. When w can be detached (see ssewire.Writer.Detach), the
// loop runs in a goroutine of its own on the detached Writer, Run returns nil at once, and an
// error the loop ends with is logged the way the generated handler logs it for a loop that
// runs in the handler (route names the handler). Otherwise the loop runs here and its error
// is returned.
func (r *StreamRun) Run(w *ssewire.Writer, route string, loop func(*ssewire.Writer) error) error {
	dw, ok := w.Detach(r.release)
	if !ok {
		return loop(w)
	}
	r.detached = true
	// From here on the client's leaving, which Detach watches, ends the stream, not the
	// end of the request. If the request already ended, the stream is released and its loop
	// returns at once.
	r.stop()
	go func() {
		defer r.finish()
		defer dw.Close()
		if err := loop(dw); err != nil {
			logc.Infow(r.ctx, "stream ended", logc.Field("route", route), logc.Field("reason", err.Error()))
		}
	}()
	return nil
}
