package keywatch

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/metrics"
	"github.com/sseapi/sse-api/internal/redisconn"
	"github.com/sseapi/sse-api/internal/redistest"
)

const linkWait = 15 * time.Second

// waitReady waits until the watcher's readiness is up (want true) or down, and returns its
// last answer.
func waitReady(t *testing.T, w *Watcher, want bool) error {
	t.Helper()
	var last error
	redistest.WaitFor(t, linkWait, fmt.Sprintf("readiness %v", want), func() error {
		last = w.Ready()
		if (last == nil) != want {
			return fmt.Errorf("Ready() = %v", last)
		}
		return nil
	})
	return last
}

func linkGauge(addr string) float64 { return metricValue(metrics.KeyLinkUp.WithLabelValues(addr)) }

// metricValue is a counter's or a gauge's value.
func metricValue(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if g := d.GetGauge(); g != nil {
		return g.GetValue()
	}
	return d.GetCounter().GetValue()
}

// The watcher is ready while it hears its node: not while the node is down, nor while the
// node answers but refuses the pattern subscriptions; and once it hears it again, the keys
// changed meanwhile are read.
func TestReadyFollowsTheLinks(t *testing.T) {
	srv := notifying(t, "KEA")
	rdb := srv.Client(t)
	s := watching(t, redisconn.Conf{Addr: srv.Addr()}, rules(stateRule("ready:*")))
	key := redistest.Name("ready:")
	c, _ := s.subscribe("", "key:"+key)
	c.waitN(t, 1)
	waitReady(t, s.w, true)
	if got := linkGauge(srv.Addr()); got != 1 {
		t.Fatalf("link gauge %v while up", got)
	}

	// Killed: not ready. Restarted: ready again, and what was written before the link was
	// back arrives.
	srv.Kill(t)
	err := waitReady(t, s.w, false)
	if !strings.Contains(err.Error(), srv.Addr()) {
		t.Errorf("the refusal does not name the node: %v", err)
	}
	if got := linkGauge(srv.Addr()); got != 0 {
		t.Fatalf("link gauge %v while down", got)
	}
	srv.Restart(t)
	if err := rdb.Set(ctx, key, "after-restart", 0).Err(); err != nil {
		t.Fatal(err)
	}
	c.waitLast(t, StateEvent, `"after-restart"`)
	waitReady(t, s.w, true)

	// Redis answers, but the link cannot subscribe: not ready either. Redis 7 drops the
	// subscribed connection as the user loses the channels, and refuses its PSUBSCRIBE.
	if err := rdb.Do(ctx, "ACL", "SETUSER", "default", "resetchannels", "&sse:*").Err(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, s.w, false)
	if err := rdb.Set(ctx, key, "while-refused", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Do(ctx, "ACL", "SETUSER", "default", "allchannels").Err(); err != nil {
		t.Fatal(err)
	}
	c.waitLast(t, StateEvent, `"while-refused"`)
	waitReady(t, s.w, true)
}

// A closed watcher is not ready, and says so.
func TestReadyAfterClose(t *testing.T) {
	srv := notifying(t, "KEA")
	s := watching(t, redisconn.Conf{Addr: srv.Addr()}, rules(stateRule("closed:*")))
	waitReady(t, s.w, true)
	s.w.Close()
	if err := s.w.Ready(); err == nil {
		t.Fatal("ready after Close")
	}
}

// The metrics count what the watch does: keys watched, notifications, reads, events by
// kind, and the link.
func TestMetricsCountTheWatch(t *testing.T) {
	srv := notifying(t, "KEA")
	rdb := srv.Client(t)
	s := watching(t, redisconn.Conf{Addr: srv.Addr()}, rules(stateRule("m:*"), streamRule("mlog:*")))
	waitReady(t, s.w, true)
	key, log := redistest.Name("m:"), redistest.Name("mlog:")
	count := func() map[string]float64 {
		return map[string]float64{
			"watched":       metricValue(metrics.WatchedKeys),
			"notifications": metricValue(metrics.KeyNotifications),
			"state reads":   metricValue(stateReads),
			"stream reads":  metricValue(streamReads),
			"state":         metricValue(stateEvents),
			"deleted":       metricValue(deletedEvents),
			"entry":         metricValue(entryEvents),
		}
	}
	before := count()
	c, stop := s.subscribe("", "key:"+key, "key:"+log)
	c.waitN(t, 1) // the key is absent
	if err := rdb.Set(ctx, key, "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	c.waitLast(t, StateEvent, "1")
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: log, Values: []string{"data", "x"}}).Err(); err != nil {
		t.Fatal(err)
	}
	c.waitLast(t, "message", `"x"`)
	after := count()
	delta := func(name string) float64 { return after[name] - before[name] }
	for name, atLeast := range map[string]float64{
		"watched": 2, "notifications": 2, "state reads": 2, "stream reads": 2,
		"state": 1, "deleted": 1, "entry": 1,
	} {
		if delta(name) < atLeast {
			t.Errorf("%s went up by %v, want at least %v", name, delta(name), atLeast)
		}
	}
	stop()
	redistest.WaitFor(t, linkWait, "the keys unwatched", func() error {
		if got := metricValue(metrics.WatchedKeys) - before["watched"]; got != 0 {
			return fmt.Errorf("%v keys still watched", got)
		}
		return nil
	})
}

// A hung node (stopped: its connections stay open and nothing answers) is found by the
// watchdog's pings: the watcher is not ready until the node answers again, and then hears
// it again.
func TestHungNodeIsNoticed(t *testing.T) {
	ping := linkPing
	linkPing = 100 * time.Millisecond
	t.Cleanup(func() { linkPing = ping }) // after the watcher's own clean-up
	srv := notifying(t, "KEA")
	rdb := srv.Client(t)
	s := watching(t, redisconn.Conf{Addr: srv.Addr()}, rules(stateRule("hung:*")))
	key := redistest.Name("hung:")
	c, _ := s.subscribe("", "key:"+key)
	c.waitN(t, 1)
	waitReady(t, s.w, true)

	srv.Pause(t)
	waitReady(t, s.w, false)
	srv.Resume(t)
	waitReady(t, s.w, true)
	if err := rdb.Set(ctx, key, "after-hang", 0).Err(); err != nil {
		t.Fatal(err)
	}
	c.waitLast(t, StateEvent, `"after-hang"`)
}
