package publish

import (
	"context"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/combine"
)

// appendCall is one append as the combiner (internal/combine) sends it: concurrent appends
// share pipelines, and so round trips to Redis.
type appendCall struct {
	keys []string
	args []any
	id   string
	err  error
}

// newAppends returns the combiner of appends to rdb: at most 4 pipelines under way, so
// appends wait and share one instead of each taking a connection from the pool, and at
// most 128 appends in one.
func newAppends(rdb redis.UniversalClient) *combine.Combiner[*appendCall] {
	return &combine.Combiner[*appendCall]{
		MaxInFlight: 4,
		MaxBatch:    128,
		Send:        func(ctx context.Context, batch []*appendCall) { sendAppends(ctx, rdb, batch) },
	}
}

func (p *Publisher) append(ctx context.Context, keys []string, args []any) (string, error) {
	a := &appendCall{keys: keys, args: args}
	if err := p.batch.Do(ctx, a); err != nil {
		return "", err
	}
	return a.id, a.err
}

// sendAppends appends the batch's events. Each script runs atomically as always; a pipeline
// only shares the round trip.
func sendAppends(ctx context.Context, rdb redis.UniversalClient, batch []*appendCall) {
	if len(batch) == 1 {
		b := batch[0]
		b.id, b.err = publishScript.Run(ctx, rdb, b.keys, b.args...).Text()
		return
	}
	cmds := make([]*redis.Cmd, len(batch))
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, b := range batch {
			cmds[i] = publishScript.EvalSha(ctx, p, b.keys, b.args...)
		}
		return nil
	})
	for i, b := range batch {
		b.id, b.err = cmds[i].Text()
		if b.err != nil && strings.HasPrefix(b.err.Error(), "NOSCRIPT") {
			// Redis lost its scripts (a restart, a failover): Run loads it again.
			b.id, b.err = publishScript.Run(ctx, rdb, b.keys, b.args...).Text()
		}
	}
}
