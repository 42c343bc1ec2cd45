package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// redisCollector reports Redis's health when Prometheus scrapes: whether it answers a PING
// now, and the client's connection pool. Asking at scrape time keeps the figure fresh
// without a goroutine pinging in between, and costs one PING per scrape.
type redisCollector struct {
	mu      sync.Mutex
	client  redis.UniversalClient
	timeout time.Duration
}

var (
	redisUp = prometheus.NewDesc(namespace+"_redis_up",
		"1 if Redis answered a PING at this scrape (within Redis.Timeout), else 0.", nil, nil)
	redisConns = prometheus.NewDesc(namespace+"_redis_pool_connections",
		"Connections in the Redis client's pool (all nodes), idle or in use.", nil, nil)
	redisIdle = prometheus.NewDesc(namespace+"_redis_pool_idle_connections",
		"Idle connections in the Redis client's pool.", nil, nil)
	redisHits = prometheus.NewDesc(namespace+"_redis_pool_hits_total",
		"Times a command found an idle connection in the pool.", nil, nil)
	redisMisses = prometheus.NewDesc(namespace+"_redis_pool_misses_total",
		"Times a command found no idle connection and dialed one.", nil, nil)
	redisTimeouts = prometheus.NewDesc(namespace+"_redis_pool_timeouts_total",
		"Times a command gave up waiting for a connection from a full pool.", nil, nil)
	redisStale = prometheus.NewDesc(namespace+"_redis_pool_stale_connections_total",
		"Stale connections removed from the pool.", nil, nil)
)

var redisMetrics = &redisCollector{}

// WatchRedis makes the Redis metrics report client, each PING bounded by timeout. Until it
// is called they report nothing.
func WatchRedis(client redis.UniversalClient, timeout time.Duration) {
	redisMetrics.mu.Lock()
	defer redisMetrics.mu.Unlock()
	redisMetrics.client, redisMetrics.timeout = client, timeout
}

func (c *redisCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{redisUp, redisConns, redisIdle, redisHits, redisMisses, redisTimeouts, redisStale} {
		ch <- d
	}
}

func (c *redisCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	client, timeout := c.client, c.timeout
	c.mu.Unlock()
	if client == nil {
		return
	}
	if timeout <= 0 {
		timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	up := 0.0
	if client.Ping(ctx).Err() == nil {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(redisUp, prometheus.GaugeValue, up)
	s := client.PoolStats()
	ch <- prometheus.MustNewConstMetric(redisConns, prometheus.GaugeValue, float64(s.TotalConns))
	ch <- prometheus.MustNewConstMetric(redisIdle, prometheus.GaugeValue, float64(s.IdleConns))
	ch <- prometheus.MustNewConstMetric(redisHits, prometheus.CounterValue, float64(s.Hits))
	ch <- prometheus.MustNewConstMetric(redisMisses, prometheus.CounterValue, float64(s.Misses))
	ch <- prometheus.MustNewConstMetric(redisTimeouts, prometheus.CounterValue, float64(s.Timeouts))
	ch <- prometheus.MustNewConstMetric(redisStale, prometheus.CounterValue, float64(s.StaleConns))
}
