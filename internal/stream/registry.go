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
	byUser    map[string]map[*admission]struct{}
	drained   chan struct{}
}

type admission struct {
	uid    string
	opened time.Time // when the stream's request came in, before its credential was checked
}

// newRegistry limits streams to maxTotal on this instance and maxPerHolder per holder;
// zero means no limit.
func newRegistry(maxTotal, maxPerHolder int) *registry {
	return &registry{
		maxTotal:     maxTotal,
		maxPerHolder: maxPerHolder,
		perHolder:    make(map[string]int),
		ends:         make(map[*admission]context.CancelCauseFunc),
		byUser:       make(map[string]map[*admission]struct{}),
	}
}

// admit counts a stream of holder, for user uid ("": anonymous), opened at opened, which end
// ends at shutdown or at the user's disconnect. release must be called when the stream ends;
// calling it again does nothing.
func (r *registry) admit(holder, uid string, opened time.Time, end context.CancelCauseFunc) (release func(), err error) {
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
	a := &admission{uid: uid, opened: opened}
	r.ends[a] = end
	if uid != "" {
		if r.byUser[uid] == nil {
			r.byUser[uid] = make(map[*admission]struct{})
		}
		r.byUser[uid][a] = struct{}{}
	}
	r.perHolder[holder]++
	metrics.OpenStreams.Inc()
	var once sync.Once
	return func() { once.Do(func() { r.release(a, holder) }) }, nil
}

func (r *registry) release(a *admission, holder string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.ends, a)
	if mine := r.byUser[a.uid]; mine != nil {
		if delete(mine, a); len(mine) == 0 {
			delete(r.byUser, a.uid)
		}
	}
	if r.perHolder[holder]--; r.perHolder[holder] <= 0 {
		delete(r.perHolder, holder)
	}
	metrics.OpenStreams.Dec()
	if r.closing && len(r.ends) == 0 && r.drained != nil {
		close(r.drained)
		r.drained = nil
	}
}

// endUser ends every open stream of user uid opened before before (zero: all of them) with
// why, and says how many it ended.
func (r *registry) endUser(uid string, why error, before time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for a := range r.byUser[uid] {
		if before.IsZero() || a.opened.Before(before) {
			r.ends[a](why)
			n++
		}
	}
	return n
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
