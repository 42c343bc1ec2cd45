package keywatch

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/broker"
	"github.com/sseapi/sse-api/internal/eventid"
	"github.com/sseapi/sse-api/internal/redisconn"
	"github.com/sseapi/sse-api/internal/redistest"
)

// frame is one event as a client sees it.
type frame struct{ id, event, data string }

// client reads a subscription as a stream does and keeps what it was sent.
type client struct {
	mu     sync.Mutex
	frames []frame
	lastID string
	notify chan struct{}
}

func (c *client) WriteFrame(id string, body []byte) error {
	id = strings.Clone(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastID = id
	if len(body) == 0 {
		return nil
	}
	f := frame{id: id, event: "message"}
	for _, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "event: "):
			f.event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			f.data += line[len("data: "):]
		}
	}
	c.frames = append(c.frames, f)
	return nil
}

func (c *client) Flush() error {
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return nil
}

func (c *client) snapshot() ([]frame, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]frame(nil), c.frames...), c.lastID
}

// wait waits until the client's frames satisfy cond, within a generous bound, and returns
// them.
func (c *client) wait(t testing.TB, what string, cond func([]frame) bool) []frame {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		got, _ := c.snapshot()
		if cond(got) {
			return got
		}
		select {
		case <-c.notify:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; frames: %v", what, got)
		}
	}
}

// waitN waits for n frames.
func (c *client) waitN(t testing.TB, n int) []frame {
	t.Helper()
	return c.wait(t, fmt.Sprintf("%d frames", n), func(f []frame) bool { return len(f) >= n })
}

// waitLast waits until the last frame is event with data.
func (c *client) waitLast(t testing.TB, event, data string) []frame {
	t.Helper()
	return c.wait(t, fmt.Sprintf("last frame %s %s", event, data), func(f []frame) bool {
		return len(f) > 0 && f[len(f)-1].event == event && f[len(f)-1].data == data
	})
}

// session is a watcher and its hub on one Redis.
type session struct {
	t   testing.TB
	w   *Watcher
	hub *broker.Hub
}

// watching starts a watcher with rules on the Redis at conf, and a hub fed by it.
func watching(t testing.TB, rc redisconn.Conf, conf Conf) *session {
	t.Helper()
	conn, err := redisconn.Connect(rc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	w, err := Start(context.Background(), conn, conf, rc.DB)
	if err != nil {
		t.Fatal(err)
	}
	hub := broker.NewHub(conn.Client, broker.Options{Source: w})
	t.Cleanup(func() { _ = hub.Close(); w.Close() })
	return &session{t: t, w: w, hub: hub}
}

// subscribe opens a subscription to topics from lastEventID and pumps it into a client
// until the test ends or the returned stop is called.
func (s *session) subscribe(lastEventID string, topics ...string) (*client, func()) {
	s.t.Helper()
	cur, err := eventid.ParseCursor(topics, lastEventID)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sub, err := s.hub.Subscribe(ctx, cur)
	if err != nil {
		s.t.Fatal(err)
	}
	c := &client{notify: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer sub.Close()
		_ = sub.WritePosition(c)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.Ready():
				if _, err := sub.Send(ctx, c); err != nil {
					return
				}
			}
		}
	}()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	s.t.Cleanup(stop)
	return c, stop
}

// notifying starts a redis-server of the test's own, with keyspace notifications on
// (all classes) unless notify says otherwise: the shared test Redis may have them off, and
// its settings are not the tests' to change.
func notifying(t testing.TB, notify string) *redistest.Server {
	t.Helper()
	return redistest.StartServer(t, redistest.Options{Args: []string{"--notify-keyspace-events", notify}})
}

func rules(rs ...Rule) Conf { return Conf{Keys: rs} }

func stateRule(pattern string) Rule { return Rule{Pattern: pattern, Kind: KindState} }

func streamRule(pattern string) Rule { return Rule{Pattern: pattern, Kind: KindStream} }

// calls is how many times Redis ran cmd (INFO commandstats).
func calls(t *testing.T, rdb redis.Cmdable, cmd string) int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_"+cmd+":calls="); ok {
			var n int
			fmt.Sscanf(rest, "%d", &n)
			return n
		}
	}
	return 0
}

func reason(r string) string {
	b, _ := json.Marshal(map[string]string{"reason": r})
	return string(b)
}

func TestMain(m *testing.M) {
	logx.SetLevel(logx.ErrorLevel)
	os.Exit(m.Run())
}
