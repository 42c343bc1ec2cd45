// Package streams keeps count of the open streams of one instance: it enforces the
// per-instance and per-user limits, and ends every stream at once when the server shuts
// down, so clients reconnect to another instance instead of hanging until the process is
// killed (net/http's Shutdown does not cancel the contexts of running handlers).
package streams

import (
	"context"
	"errors"
	"sync"

	"github.com/sseapi/sse-api/internal/metrics"
)

var (
	ErrInstanceFull = errors.New("this instance holds as many streams as it may")
	ErrUserFull     = errors.New("too many open streams for this user")
	ErrShuttingDown = errors.New("server is shutting down")
)

// Registry is safe for concurrent use.
type Registry struct {
	maxTotal, maxPerUser int

	mu      sync.Mutex
	closing bool
	perUser map[string]int
	cancels map[*streamRef]context.CancelFunc
	drained chan struct{}
}

type streamRef struct{ _ byte }

// NewRegistry limits streams to maxTotal on this instance and maxPerUser per user (the
// anonymous user "" included); zero means no limit.
func NewRegistry(maxTotal, maxPerUser int) *Registry {
	return &Registry{
		maxTotal:   maxTotal,
		maxPerUser: maxPerUser,
		perUser:    make(map[string]int),
		cancels:    make(map[*streamRef]context.CancelFunc),
	}
}

// Open admits a stream for user. The returned context ends with parent or at shutdown;
// release must be called when the stream ends.
func (r *Registry) Open(parent context.Context, user string) (context.Context, func(), error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closing:
		return nil, nil, ErrShuttingDown
	case r.maxTotal > 0 && len(r.cancels) >= r.maxTotal:
		return nil, nil, ErrInstanceFull
	case r.maxPerUser > 0 && r.perUser[user] >= r.maxPerUser:
		return nil, nil, ErrUserFull
	}
	ctx, cancel := context.WithCancel(parent)
	ref := &streamRef{}
	r.cancels[ref] = cancel
	r.perUser[user]++
	metrics.OpenStreams.Inc()
	var once sync.Once
	release := func() {
		once.Do(func() {
			cancel()
			r.mu.Lock()
			defer r.mu.Unlock()
			delete(r.cancels, ref)
			if r.perUser[user]--; r.perUser[user] <= 0 {
				delete(r.perUser, user)
			}
			metrics.OpenStreams.Dec()
			if r.closing && len(r.cancels) == 0 && r.drained != nil {
				close(r.drained)
				r.drained = nil
			}
		})
	}
	return ctx, release, nil
}

// Len is the number of open streams.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.cancels)
}

// Shutdown refuses new streams, ends every open one, and returns a channel closed once all
// of them have released.
func (r *Registry) Shutdown() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closing = true
	done := make(chan struct{})
	if len(r.cancels) == 0 {
		close(done)
		return done
	}
	r.drained = done
	for _, cancel := range r.cancels {
		cancel()
	}
	return done
}
