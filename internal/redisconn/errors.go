package redisconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrTimeout is wrapped by the error of a command that Conf.Timeout cut short.
var ErrTimeout = errors.New("redis: no answer within Redis.Timeout")

// unavailableReplies begin the error replies of a server that cannot serve now: loading
// its data, a replica (a failover happened), cut from its master, a cluster with slots
// unserved or moving, too few replicas, a script running too long, a disk that fails (so
// writes are refused), no room for one more client.
var unavailableReplies = []string{
	"LOADING ", "READONLY ", "MASTERDOWN ", "CLUSTERDOWN ", "TRYAGAIN ", "NOREPLICAS ",
	"BUSY ", "MISCONF ", "ERR max number of clients reached",
}

// Unavailable reports whether err means that Redis cannot serve the request now, though
// the request itself is fine: it is unreachable, hung, restarting, loading its data, in
// the middle of a failover, or the client is closed. Such errors are worth a 503 (and a
// retry elsewhere or later) rather than a 500. A request whose caller went away
// (context.Canceled) is not one of them, nor are redis.Nil, script errors, wrong types or
// refused credentials.
func Unavailable(err error) bool {
	switch {
	case err == nil, errors.Is(err, redis.Nil), errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout),
		errors.Is(err, redis.ErrPoolExhausted),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) { // dial failures, timeouts, DNS
		return true
	}
	var redisErr redis.Error
	if errors.As(err, &redisErr) {
		msg := redisErr.Error()
		for _, prefix := range unavailableReplies {
			if strings.HasPrefix(msg, prefix) {
				return true
			}
		}
		return false
	}
	// go-redis's own errors when no Sentinel or Cluster node answers
	msg := err.Error()
	return strings.HasPrefix(msg, "redis: all sentinels") || strings.HasPrefix(msg, "redis: cluster has no nodes")
}

// boundHook bounds every command and pipeline by timeout, retries included, unless the
// caller's own deadline is sooner. Blocking commands keep the caller's context: go-redis
// already gives them their block time plus the read timeout.
type boundHook struct{ timeout time.Duration }

func (boundHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h boundHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if blocking(cmd) {
			return next(ctx, cmd)
		}
		return h.bound(ctx, cmd.Name(), func(ctx context.Context) error { return next(ctx, cmd) })
	}
}

func (h boundHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			if blocking(cmd) {
				return next(ctx, cmds)
			}
		}
		return h.bound(ctx, "pipeline", func(ctx context.Context) error { return next(ctx, cmds) })
	}
}

func (h boundHook) bound(ctx context.Context, what string, run func(context.Context) error) error {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= h.timeout {
		return run(ctx)
	}
	bounded, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	err := run(bounded)
	if err != nil && bounded.Err() != nil && ctx.Err() == nil {
		return fmt.Errorf("%w (%s, %s): %w", ErrTimeout, what, h.timeout, err)
	}
	return err
}

// blocking reports whether cmd may wait on the server by design.
func blocking(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "blpop", "brpop", "brpoplpush", "blmove", "blmpop", "bzpopmin", "bzpopmax", "bzmpop",
		"wait", "waitaof":
		return true
	case "xread", "xreadgroup":
		for _, a := range cmd.Args() {
			if s, ok := a.(string); ok && strings.EqualFold(s, "block") {
				return true
			}
		}
	}
	return false
}

// reloadHook has a Cluster client reload the slot map when a node does not answer or the
// cluster is changing. go-redis otherwise learns of a new master only from a MOVED reply,
// which a dead master never sends, or from its periodic reload, a minute apart. Reloads
// are coalesced by go-redis (one at a time, 200 ms apart).
type reloadHook struct{ cluster *redis.ClusterClient }

func (reloadHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h reloadHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.reloadOn(err)
		return err
	}
}

func (h reloadHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.reloadOn(err)
		return err
	}
}

func (h reloadHook) reloadOn(err error) {
	if Unavailable(err) && !errors.Is(err, redis.ErrClosed) {
		h.cluster.ReloadState(context.Background())
	}
}
