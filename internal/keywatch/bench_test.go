package keywatch

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sseapi/sse-api/internal/eventid"
	"github.com/sseapi/sse-api/internal/redisconn"
	"github.com/sseapi/sse-api/internal/redistest"
)

// sink is a stream's writer that hands each frame's data to whoever waits for it.
type sink struct{ data chan string }

func (k *sink) WriteFrame(_ string, body []byte) error {
	if i := bytes.Index(body, []byte("data: ")); i >= 0 {
		d := body[i+len("data: "):]
		k.data <- string(d[:bytes.IndexByte(d, '\n')])
	}
	return nil
}

func (k *sink) Flush() error { return nil }

// pump subscribes to key's topic as a stream does and returns its frames' data.
func (s *session) pump(key string) <-chan string {
	cur, err := eventid.ParseCursor([]string{TopicPrefix + key}, "")
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sub, err := s.hub.Subscribe(ctx, cur)
	if err != nil {
		s.t.Fatal(err)
	}
	k := &sink{data: make(chan string, 1024)}
	var done sync.WaitGroup
	done.Add(1)
	go func() {
		defer done.Done()
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.Ready():
				if _, err := sub.Send(ctx, k); err != nil {
					return
				}
			}
		}
	}()
	s.t.Cleanup(func() { cancel(); done.Wait() })
	select {
	case <-k.data: // the value at subscribe
	case <-time.After(15 * time.Second):
		s.t.Fatal("no first frame")
	}
	return k.data
}

// awaitValue waits for the frame of value v.
func awaitValue(frames <-chan string, v string) bool {
	timeout := time.After(15 * time.Second)
	for {
		select {
		case got := <-frames:
			if got == v {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

// The path a legacy writer's change takes: its SET, the keyspace notification, the
// watcher, the hub's read of the key, the subscriber's queue, the stream's write. One write
// at a time: ns/op is the latency of a write reaching its page (and the p50/p99 of them).
func BenchmarkWriteToFrame(b *testing.B) {
	srv := notifying(b, "KEA")
	rdb := srv.Client(b)
	s := watching(b, redisconn.Conf{Addr: srv.Addr()}, rules(stateRule("bench:*")))
	key := redistest.Name("bench:")
	frames := s.pump(key)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		v := strconv.Itoa(i)
		start := time.Now()
		if err := rdb.Set(ctx, key, v, 0).Err(); err != nil {
			b.Fatal(err)
		}
		if !awaitValue(frames, v) {
			b.Fatalf("value %s never arrived", v)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportLatency(b, lat)
}

// Many pages, each on a key of its own, written concurrently: the latency of each write
// to its page while others are under way.
func BenchmarkWriteToFrameConcurrent(b *testing.B) {
	srv := notifying(b, "KEA")
	rdb := srv.Client(b)
	s := watching(b, redisconn.Conf{Addr: srv.Addr()}, rules(stateRule("bench:*")))
	const pages = 64
	type page struct {
		key    string
		frames <-chan string
	}
	free := make(chan page, pages)
	for range pages {
		key := redistest.Name("bench:")
		free <- page{key, s.pump(key)}
	}
	var (
		mu  sync.Mutex
		lat []time.Duration
		seq atomic.Int64
	)
	b.SetParallelism(8) // 8 writers per core, pages in turn
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			p := <-free
			v := strconv.FormatInt(seq.Add(1), 10)
			start := time.Now()
			if err := rdb.Set(ctx, p.key, v, 0).Err(); err != nil {
				b.Error(err)
				return
			}
			if !awaitValue(p.frames, v) {
				b.Errorf("value %s never arrived", v)
				return
			}
			mine = append(mine, time.Since(start))
			free <- p
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	reportLatency(b, lat)
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(at(0.5), "p50-us")
	b.ReportMetric(at(0.99), "p99-us")
}
