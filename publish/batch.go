package publish

import (
	"context"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// combiner sends concurrent appends to Redis together: while maxInFlight pipelines are
// under way, later appends queue, and the next caller to lead sends every queued append in
// one pipeline. A lone append goes out at once, as a plain EVALSHA; under load, many share
// one write and one read on each side of the connection, which is what an append costs
// most (on loopback, more than the script itself). No goroutine of its own: each pipeline
// is sent by one of the callers waiting for it.
type combiner struct {
	rdb redis.UniversalClient

	mu       sync.Mutex
	queue    []*call
	inFlight int // pipelines under way, each led by one caller
}

// maxInFlight bounds the pipelines under way at once, so appends wait in the queue (and
// share a pipeline) instead of each taking a connection from the pool.
const maxInFlight = 4

// maxPipeline bounds the appends of one pipeline.
const maxPipeline = 128

type call struct {
	ctx  context.Context
	keys []string
	args []any
	id   string
	err  error
	// done receives true when this caller is to lead the next pipeline, false when its
	// result is set.
	done chan bool
}

func (c *combiner) append(ctx context.Context, keys []string, args []any) (string, error) {
	me := &call{ctx: ctx, keys: keys, args: args, done: make(chan bool, 1)}
	c.mu.Lock()
	if c.inFlight < maxInFlight {
		c.inFlight++
		c.mu.Unlock()
		c.lead(me)
		return me.id, me.err
	}
	c.queue = append(c.queue, me)
	c.mu.Unlock()
	select {
	case lead := <-me.done:
		if lead {
			c.lead(me)
		}
		return me.id, me.err
	case <-ctx.Done():
	}
	// Leave the queue if still in it; otherwise the append is under way, or this caller was
	// just made to lead: see it through.
	c.mu.Lock()
	for i, q := range c.queue {
		if q == me {
			c.queue = append(c.queue[:i], c.queue[i+1:]...)
			c.mu.Unlock()
			return "", ctx.Err()
		}
	}
	c.mu.Unlock()
	if <-me.done {
		c.lead(me)
	}
	return me.id, me.err
}

// lead sends me and whatever is queued (up to maxPipeline), then hands the lead to the
// first caller still queued, or gives the pipeline slot back.
func (c *combiner) lead(me *call) {
	c.mu.Lock()
	n := min(len(c.queue), maxPipeline-1)
	batch := make([]*call, 0, n+1)
	batch = append(batch, me)
	batch = append(batch, c.queue[:n]...)
	c.queue = c.queue[n:]
	if len(c.queue) == 0 {
		c.queue = nil
	}
	c.mu.Unlock()

	c.send(batch)
	for _, b := range batch[1:] {
		b.done <- false
	}

	c.mu.Lock()
	if len(c.queue) == 0 {
		c.inFlight--
		c.mu.Unlock()
		return
	}
	next := c.queue[0]
	c.queue = c.queue[1:]
	c.mu.Unlock()
	next.done <- true
}

// send appends the batch's events. Each script runs atomically as always; a pipeline only
// shares the round trip.
func (c *combiner) send(batch []*call) {
	if len(batch) == 1 {
		b := batch[0]
		b.id, b.err = publishScript.Run(b.ctx, c.rdb, b.keys, b.args...).Text()
		return
	}
	// The pipeline is the callers', not the leader's: a leader that gave up waiting must
	// not cancel the others' appends.
	ctx := context.WithoutCancel(batch[0].ctx)
	cmds := make([]*redis.Cmd, len(batch))
	_, _ = c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, b := range batch {
			cmds[i] = publishScript.EvalSha(ctx, p, b.keys, b.args...)
		}
		return nil
	})
	for i, b := range batch {
		b.id, b.err = cmds[i].Text()
		if b.err != nil && strings.HasPrefix(b.err.Error(), "NOSCRIPT") {
			// Redis lost its scripts (a restart, a failover): Run loads it again.
			b.id, b.err = publishScript.Run(ctx, c.rdb, b.keys, b.args...).Text()
		}
	}
}
