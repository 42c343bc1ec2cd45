package stream

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sseapi/sse-api/internal/metrics"
)

// Why a stream was not admitted, or was ended by the instance.
var (
	ErrInstanceFull = errors.New("this instance holds as many streams as it may")
	ErrUserFull     = errors.New("too many open streams for this user")
	ErrShuttingDown = errors.New("server is shutting down")
)

// registry counts the open streams of one instance: it enforces the per-instance and
// per-holder limits, and ends every stream when the server shuts down, so clients reconnect
// to another instance instead of hanging until the process is killed (net/http's Shutdown
// does not cancel the contexts of running handlers, and detached streams have none).
type registry struct {
	maxTotal, maxPerHolder int

	mu        sync.Mutex
	closing   bool
	perHolder map[string]int
	ends      map[*admission]context.CancelCauseFunc
	drained   chan struct{}
}

type admission struct{ _ byte }

// newRegistry limits streams to maxTotal on this instance and maxPerHolder per holder;
// zero means no limit.
func newRegistry(maxTotal, maxPerHolder int) *registry {
	return &registry{
		maxTotal:     maxTotal,
		maxPerHolder: maxPerHolder,
		perHolder:    make(map[string]int),
		ends:         make(map[*admission]context.CancelCauseFunc),
	}
}

// admit counts a stream of holder, which end ends at shutdown. release must be called when
// the stream ends; calling it again does nothing.
func (r *registry) admit(holder string, end context.CancelCauseFunc) (release func(), err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closing:
		return nil, ErrShuttingDown
	case r.maxTotal > 0 && len(r.ends) >= r.maxTotal:
		return nil, ErrInstanceFull
	case r.maxPerHolder > 0 && r.perHolder[holder] >= r.maxPerHolder:
		return nil, ErrUserFull
	}
	a := &admission{}
	r.ends[a] = end
	r.perHolder[holder]++
	metrics.OpenStreams.Inc()
	var once sync.Once
	return func() { once.Do(func() { r.release(a, holder) }) }, nil
}

func (r *registry) release(a *admission, holder string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.ends, a)
	if r.perHolder[holder]--; r.perHolder[holder] <= 0 {
		delete(r.perHolder, holder)
	}
	metrics.OpenStreams.Dec()
	if r.closing && len(r.ends) == 0 && r.drained != nil {
		close(r.drained)
		r.drained = nil
	}
}

// len is the number of open streams.
func (r *registry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ends)
}

// shutdown refuses new streams, ends every open one with ErrShuttingDown at a random moment
// within window (at once when window is 0), and returns a channel closed once all of them
// have released.
func (r *registry) shutdown(window time.Duration) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closing = true
	done := make(chan struct{})
	if len(r.ends) == 0 {
		close(done)
		return done
	}
	r.drained = done
	for _, end := range r.ends {
		if window <= 0 {
			end(ErrShuttingDown)
			continue
		}
		time.AfterFunc(rand.N(window), func() { end(ErrShuttingDown) })
	}
	return done
}
