package broker

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/eventid"
	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/internal/ssewire"
	"github.com/sseapi/sse-api/publish"
)

type discardRW struct{ h http.Header }

func (d *discardRW) Header() http.Header         { return d.h }
func (d *discardRW) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardRW) WriteHeader(int)             {}
func (d *discardRW) Flush()                      {}

// sendBench is a subscriber fed by hand, as the hub's fan-out feeds it, and drained by
// Send into a real ssewire.Writer, as the stream loop drains it; no Redis.
type sendBench struct {
	s    *Subscriber
	w    *ssewire.Writer
	msgs []*Message
	next int
}

func newSendBench(tb testing.TB) *sendBench {
	h := &Hub{opts: Options{}.withDefaults()}
	sb := &sendBench{
		s: &Subscriber{hub: h, cursor: eventid.NewCursor([]string{"orders"}), ready: make(chan Batch, 1)},
		w: ssewire.NewWriter(&discardRW{h: http.Header{}}, ssewire.Options{}),
	}
	if err := sb.w.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(sb.w.Close)
	data := []byte(`{"topic":"orders/42","status":"paid","amount":1999}`)
	for i := range 4096 {
		m, err := newMessage("orders", fmt.Sprintf("%d-0", 1700000000000+i), "order", data)
		if err != nil {
			tb.Fatal(err)
		}
		sb.msgs = append(sb.msgs, m)
	}
	return sb
}

// round offers n events and sends them as the stream loop does: wake, then one Send.
func (sb *sendBench) round(tb testing.TB, n int) {
	for range n {
		if sb.next == len(sb.msgs) {
			sb.next = 0
			sb.s.cursor.Set(0, eventid.ID{}) // start the ids over
		}
		sb.s.offer(sb.msgs[sb.next])
		sb.next++
	}
	<-sb.s.Ready()
	if _, err := sb.s.Send(context.Background(), sb.w); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkSubscriberSend is the steady-state send path of one stream: the hub queues
// events, the stream's loop takes them all and writes them with one flush. It allocates
// nothing per event (nor per batch).
func BenchmarkSubscriberSend(b *testing.B) {
	for _, batch := range []int{1, 16} {
		b.Run(fmt.Sprintf("events=%d", batch), func(b *testing.B) {
			sb := newSendBench(b)
			sb.round(b, batch) // the queue's array, kept from then on
			b.ReportAllocs()
			for b.Loop() {
				sb.round(b, batch)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/event")
		})
	}
}

func TestSendAllocatesNothingPerEvent(t *testing.T) {
	sb := newSendBench(t)
	sb.round(t, 8)
	for _, n := range []int{1, 8} {
		if a := testing.AllocsPerRun(200, func() { sb.round(t, n) }); a != 0 {
			t.Errorf("offer+Send of %d events: %v allocations, want 0", n, a)
		}
	}
}

// latency is a go-redis hook that makes every command wait d first, as a Redis across a
// network would.
type latency time.Duration

func (d latency) DialHook(next redis.DialHook) redis.DialHook { return next }
func (d latency) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		time.Sleep(time.Duration(d))
		return next(ctx, cmd)
	}
}
func (d latency) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		time.Sleep(time.Duration(d))
		return next(ctx, cmds)
	}
}

// BenchmarkHubDispatch feeds announcements to the hub as its pub/sub reader does: from one
// goroutine, round-robin over many topics, each read by one subscriber drained by its own
// goroutine, as stream loops drain theirs. An op is one event delivered.
//
// gapEvery=100: one event in 100 is lost to pub/sub (it is in its topic's stream, its
// announcement never arrives), so the next announcement makes the hub read the gap from
// Redis. rtt makes each of the hub's Redis calls that much slower, as a Redis across a
// network would. churn: two goroutines keep joining and leaving the topics meanwhile.
func BenchmarkHubDispatch(b *testing.B) {
	for _, c := range []struct {
		topics, gapEvery int
		rtt              time.Duration
		churn            bool
	}{
		{topics: 1000},
		{topics: 1000, churn: true},
		{topics: 1000, gapEvery: 100},
		{topics: 1000, gapEvery: 100, rtt: time.Millisecond},
	} {
		name := fmt.Sprintf("topics=%d/gapEvery=%d/rtt=%s/churn=%v", c.topics, c.gapEvery, c.rtt, c.churn)
		b.Run(name, func(b *testing.B) {
			benchDispatch(b, c.topics, c.gapEvery, c.rtt, c.churn)
		})
	}
}

func benchDispatch(b *testing.B, topics, gapEvery int, rtt time.Duration, churn bool) {
	writer := redistest.Client(b) // writes the lost events, without added latency
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Addr(b), PoolSize: 64})
	b.Cleanup(func() { _ = rdb.Close() })
	if rtt > 0 {
		rdb.AddHook(latency(rtt))
	}
	h := NewHub(rdb, Options{QueueSize: 1 << 30})
	b.Cleanup(func() { _ = h.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	var drains sync.WaitGroup
	b.Cleanup(func() { cancel(); drains.Wait() })
	var delivered atomic.Int64
	progress := make(chan struct{}, 1)
	names := make([]string, topics)
	subs := make([]*Subscriber, topics)
	var joins group
	for i := range names {
		names[i] = redistest.Name("bench")
		joins.Go(func() error {
			s, err := h.Subscribe(ctx, eventid.NewCursor([]string{names[i]}))
			subs[i] = s
			return err
		})
	}
	if err := joins.Wait(); err != nil {
		b.Fatal(err)
	}
	for _, s := range subs {
		drains.Add(1)
		go func() {
			defer drains.Done()
			defer s.Close()
			for {
				select {
				case <-ctx.Done():
					return
				case <-s.Ready():
					batch, err := s.Next(ctx)
					if err != nil {
						b.Error(err)
						return
					}
					delivered.Add(int64(len(batch)))
					select {
					case progress <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	b.Cleanup(func() {
		for _, name := range names {
			writer.Del(context.Background(), publish.StreamKey(name), publish.MetaKey(name))
		}
	})
	if churn {
		for g := range 2 {
			drains.Add(1)
			go func() {
				defer drains.Done()
				for i := g; ctx.Err() == nil; i += 7 {
					// Topics that are ready already: joining and leaving them takes the hub's
					// locks and no Redis round trip.
					s, err := h.Subscribe(ctx, eventid.NewCursor([]string{names[i%topics]}))
					if err == nil {
						s.Close()
					}
				}
			}()
		}
	}

	seq := make([]uint64, topics) // per topic, the last event's id is 1-seq
	var buf []byte
	announce := func(i int) {
		prev := eventid.ID{Ms: 1, Seq: seq[i]}
		if seq[i] == 0 {
			prev = eventid.Zero
		}
		seq[i]++
		buf = prev.AppendTo(buf[:0])
		buf = append(buf, ' ')
		buf = eventid.ID{Ms: 1, Seq: seq[i]}.AppendTo(buf)
		buf = append(buf, " message\n{\"n\":1}"...)
		h.onAnnouncement(names[i], string(buf))
	}
	var n int64
	for b.Loop() {
		i := int(n % int64(topics))
		if gapEvery > 0 && n%int64(gapEvery) == int64(gapEvery-1) {
			// The next event's announcement is lost: it and the one after are in the
			// stream, only the one after is announced.
			lost, after := eventid.ID{Ms: 1, Seq: seq[i] + 1}, eventid.ID{Ms: 1, Seq: seq[i] + 2}
			pipe := writer.Pipeline()
			for _, id := range []eventid.ID{lost, after} {
				pipe.XAdd(context.Background(), &redis.XAddArgs{
					Stream: publish.StreamKey(names[i]), ID: id.String(),
					Values: []any{"e", "message", "d", `{"n":1}`},
				})
			}
			pipe.HSet(context.Background(), publish.MetaKey(names[i]), "last", after.String())
			if _, err := pipe.Exec(context.Background()); err != nil {
				b.Fatal(err)
			}
			seq[i]++
			n++
		}
		announce(i)
		n++
	}
	deadline := time.After(30 * time.Second)
	for delivered.Load() < n {
		select {
		case <-progress:
		case <-deadline:
			b.Fatalf("delivered %d of %d events", delivered.Load(), n)
		}
	}
	b.StopTimer()
	if got := delivered.Load(); got != n {
		b.Fatalf("delivered %d events, want %d", got, n)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
	b.ReportMetric(0, "ns/op")
}

// group runs functions at once and keeps the first error.
type group struct {
	wg   sync.WaitGroup
	once sync.Once
	err  error
}

func (g *group) Go(f func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(); err != nil {
			g.once.Do(func() { g.err = err })
		}
	}()
}

func (g *group) Wait() error { g.wg.Wait(); return g.err }
