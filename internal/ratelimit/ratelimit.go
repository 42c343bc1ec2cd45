// Package ratelimit counts requests per key in fixed windows in Redis, with the semantics
// of go-zero's core/limit PeriodLimit (quota takes per period per key, the first take
// opening the period), but on the service's own go-redis client: it follows a Sentinel
// failover, works on Cluster (one key per call), uses the configured database and TLS,
// and a missing script (NOSCRIPT, after a restart or failover) is simply sent again.
package ratelimit

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed take.lua
var takeLua string

var takeScript = redis.NewScript(takeLua)

// Preload loads the script into Redis (into every master of a Cluster, and the replicas
// the client knows of), so that the first takes do not pay for sending it. It is only an
// optimisation: where the script is missing (a restarted server, a promoted replica),
// Take sends it whole once (EVAL), which caches it there again.
func Preload(ctx context.Context, rdb redis.Scripter) error {
	return takeScript.Load(ctx, rdb).Err()
}

// Limiter allows a quota of takes per key in each period; the first take of a key opens
// its period. It is safe for concurrent use, and instances share counts through Redis.
type Limiter struct {
	rdb    redis.Scripter
	prefix string
	quota  int
	period time.Duration
}

// New returns a limiter of quota takes per period for each key, counted in Redis under
// prefix+key. A quota of 0 or less allows nothing. The period counts in whole
// milliseconds, at least one.
func New(rdb redis.Scripter, prefix string, quota int, period time.Duration) *Limiter {
	if period < time.Millisecond {
		period = time.Millisecond
	}
	return &Limiter{rdb: rdb, prefix: prefix, quota: quota, period: period}
}

// Result is the answer to one take.
type Result struct {
	// Allowed is false once the key's quota for the period is spent (go-zero's OverQuota).
	Allowed bool
	// Remaining is how many more takes the period allows.
	Remaining int
	// Reset is how long until the period ends and the quota is whole again (a
	// Retry-After when refused).
	Reset time.Duration
}

// Take counts one take for key. Refused takes count too, as in go-zero: a client that
// keeps trying while refused does not get through sooner. On error (Redis unreachable),
// the result says nothing; the caller decides whether to fail open or closed.
func (l *Limiter) Take(ctx context.Context, key string) (Result, error) {
	reply, err := takeScript.Run(ctx, l.rdb, []string{l.prefix + key}, l.period.Milliseconds()).Int64Slice()
	if err != nil {
		return Result{}, err
	}
	if len(reply) != 2 {
		return Result{}, fmt.Errorf("ratelimit: unexpected reply %v", reply)
	}
	count, ttl := reply[0], reply[1]
	return Result{
		Allowed:   count <= int64(l.quota),
		Remaining: int(max(int64(l.quota)-count, 0)),
		Reset:     time.Duration(ttl) * time.Millisecond,
	}, nil
}

// Allow takes one for key and says whether it was within the quota.
func (l *Limiter) Allow(ctx context.Context, key string) (bool, error) {
	r, err := l.Take(ctx, key)
	return r.Allowed, err
}
