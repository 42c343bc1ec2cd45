package metrics

import (
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/redistest"
)

// scrape gathers the Redis metrics into name -> value.
func scrape(t *testing.T) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(&redisCollector{client: redisMetrics.client, timeout: redisMetrics.timeout})
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		m := f.GetMetric()[0]
		out[f.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
	}
	return out
}

func TestRedisMetrics(t *testing.T) {
	t.Cleanup(func() { WatchRedis(nil, 0) })
	if got := scrape(t); len(got) != 0 {
		t.Errorf("before WatchRedis: %v, want nothing", got)
	}

	up := redis.NewClient(&redis.Options{Addr: redistest.Addr(t)})
	defer up.Close()
	WatchRedis(up, time.Second)
	got := scrape(t)
	// The PING used one connection, back in the pool since.
	if got["sse_redis_up"] != 1 || got["sse_redis_pool_connections"] != 1 || got["sse_redis_pool_idle_connections"] != 1 ||
		got["sse_redis_pool_misses_total"] != 1 || len(got) != 7 {
		t.Errorf("Redis up: %v", got)
	}
	if got := scrape(t); got["sse_redis_pool_hits_total"] != 1 {
		t.Errorf("second scrape: %v, want a pool hit", got)
	}

	// Nobody listens on a free port: down, within the timeout.
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(redistest.FreePort(t)), MaxRetries: -1})
	defer down.Close()
	WatchRedis(down, 500*time.Millisecond)
	begin := time.Now()
	if got := scrape(t); got["sse_redis_up"] != 0 || len(got) != 7 {
		t.Errorf("Redis down: %v", got)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("a scrape with Redis down took %v", took)
	}
}
