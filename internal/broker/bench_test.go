package broker

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/sseapi/sse-api/internal/eventid"
	"github.com/sseapi/sse-api/internal/ssewire"
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
