package stream

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
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
//
// Open streams are kept in intrusive lists, all of them and each user's, rather than in maps
// of maps: with a user per stream, a set per user cost more than the stream's own record.
type registry struct {
	maxTotal, maxPerHolder int

	mu        sync.Mutex
	closing   bool
	open      int
	all       *admission // the open streams, through next
	perHolder map[string]int
	byUser    map[string]*admission // each user's open streams, through nextOfUser
	drained   chan struct{}         // made by shutdown, closed once every stream released
}

// admission is one open stream in the registry.
type admission struct {
	r      *registry
	holder string
	uid    string
	opened time.Time // when the stream's request came in, before its credential was checked
	end    context.CancelCauseFunc

	released               bool
	endedForUser           bool // by endUser: not counted again while it winds down
	prev, next             *admission
	prevOfUser, nextOfUser *admission
}

// newRegistry limits streams to maxTotal on this instance and maxPerHolder per holder;
// zero means no limit.
func newRegistry(maxTotal, maxPerHolder int) *registry {
	return &registry{
		maxTotal:     maxTotal,
		maxPerHolder: maxPerHolder,
		perHolder:    make(map[string]int),
		byUser:       make(map[string]*admission),
	}
}

// admit counts a stream of holder, for user uid ("": anonymous), opened at opened, which end
// ends at shutdown or at the user's disconnect. The admission's release must be called when
// the stream ends; calling it again does nothing.
func (r *registry) admit(holder, uid string, opened time.Time, end context.CancelCauseFunc) (*admission, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closing:
		return nil, ErrShuttingDown
	case r.maxTotal > 0 && r.open >= r.maxTotal:
		return nil, ErrInstanceFull
	case r.maxPerHolder > 0 && r.perHolder[holder] >= r.maxPerHolder:
		return nil, ErrUserFull
	}
	a := &admission{r: r, holder: holder, uid: uid, opened: opened, end: end}
	a.next = r.all
	if r.all != nil {
		r.all.prev = a
	}
	r.all = a
	if uid != "" {
		first := r.byUser[uid]
		a.nextOfUser = first
		if first != nil {
			first.prevOfUser = a
		}
		r.byUser[uid] = a
	}
	r.open++
	r.perHolder[holder]++
	metrics.OpenStreams.Inc()
	return a, nil
}

// release takes the stream out of the registry.
func (a *admission) release() {
	r := a.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if a.released {
		return
	}
	a.released = true
	if a.prev != nil {
		a.prev.next = a.next
	} else {
		r.all = a.next
	}
	if a.next != nil {
		a.next.prev = a.prev
	}
	if a.uid != "" {
		switch {
		case a.prevOfUser != nil:
			a.prevOfUser.nextOfUser = a.nextOfUser
		case a.nextOfUser != nil:
			r.byUser[a.uid] = a.nextOfUser
		default:
			delete(r.byUser, a.uid)
		}
		if a.nextOfUser != nil {
			a.nextOfUser.prevOfUser = a.prevOfUser
		}
	}
	a.prev, a.next, a.prevOfUser, a.nextOfUser = nil, nil, nil, nil
	if r.perHolder[a.holder]--; r.perHolder[a.holder] <= 0 {
		delete(r.perHolder, a.holder)
	}
	r.open--
	metrics.OpenStreams.Dec()
	if r.closing && r.open == 0 {
		close(r.drained)
	}
}

// endUser ends every open stream of user uid opened before before (zero: all of them) with
// why, and says how many it ended.
func (r *registry) endUser(uid string, why error, before time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for a := r.byUser[uid]; a != nil; a = a.nextOfUser {
		if !a.endedForUser && (before.IsZero() || a.opened.Before(before)) {
			a.endedForUser = true
			a.end(why)
			n++
		}
	}
	return n
}

// users are the users with open streams.
func (r *registry) users() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Collect(maps.Keys(r.byUser))
}

// len is the number of open streams.
func (r *registry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.open
}

// shutdown refuses new streams, ends every open one with ErrShuttingDown at a random moment
// within window (at once when window is 0), and returns a channel closed once all of them
// have released. Called again, it returns the same channel.
func (r *registry) shutdown(window time.Duration) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return r.drained
	}
	r.closing = true
	r.drained = make(chan struct{})
	if r.open == 0 {
		close(r.drained)
		return r.drained
	}
	done := r.drained
	for a := r.all; a != nil; a = a.next {
		end := a.end
		if window <= 0 {
			end(ErrShuttingDown)
			continue
		}
		time.AfterFunc(rand.N(window), func() { end(ErrShuttingDown) })
	}
	return done
}
