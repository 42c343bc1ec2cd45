package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/eventid"
	"github.com/sseapi/sse-api/internal/metrics"
	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/publish"
)

// frame is one event as a client would see it.
type frame struct{ id, event, data string }

// recorder is a FrameWriter that parses what it is given back into frames.
type recorder struct {
	mu      sync.Mutex
	frames  []frame
	lastID  string
	flushes int
	notify  chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) WriteFrame(id string, body []byte) error {
	id = strings.Clone(id) // multi-topic ids alias the subscriber's buffer
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastID = id
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
	r.frames = append(r.frames, f)
	return nil
}

func (r *recorder) Flush() error {
	r.mu.Lock()
	r.flushes++
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	return nil
}

func (r *recorder) snapshot() []frame {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]frame(nil), r.frames...)
}

// pump drains s into w until ctx ends, as a stream does: its position first, then whatever
// Ready brings.
func pump(ctx context.Context, s *Subscriber, w *recorder) error {
	if err := s.WritePosition(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.Ready():
			if _, err := s.Send(ctx, w); err != nil {
				return err
			}
		}
	}
}

// waitFrames waits until w holds n frames or fails the test after a generous bound.
func waitFrames(t *testing.T, w *recorder, n int) []frame {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if got := w.snapshot(); len(got) >= n {
			return got
		}
		select {
		case <-w.notify:
		case <-deadline:
			t.Fatalf("waited for %d frames, have %d: %v", n, len(w.snapshot()), w.snapshot())
		}
	}
}

func publishN(t *testing.T, p *publish.Publisher, topic string, from, to int) []string {
	t.Helper()
	var ids []string
	for i := from; i < to; i++ {
		id, err := p.Publish(context.Background(), topic, "", []byte(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// assertSequence checks frames carry data from..to-1 in order, each exactly once.
func assertSequence(t *testing.T, frames []frame, from, to int) {
	t.Helper()
	var data []string
	for _, f := range frames {
		if f.event == "message" {
			data = append(data, f.data)
		}
	}
	var want []string
	for i := from; i < to; i++ {
		want = append(want, fmt.Sprint(i))
	}
	if strings.Join(data, ",") != strings.Join(want, ",") {
		t.Fatalf("events = %v\nwant     %v", data, want)
	}
}

func startHub(t *testing.T, rdb redis.UniversalClient, opts Options) *Hub {
	h := NewHub(rdb, opts)
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func subscribe(t *testing.T, h *Hub, topics []string, lastEventID string) (*Subscriber, *recorder, context.CancelFunc, chan error) {
	t.Helper()
	cur, err := eventid.ParseCursor(topics, lastEventID)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := h.Subscribe(ctx, cur)
	if err != nil {
		t.Fatal(err)
	}
	w := newRecorder()
	done := make(chan error, 1)
	go func() { done <- pump(ctx, s, w); s.Close(); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, w, cancel, done
}

func TestLiveEventsReachEveryInstance(t *testing.T) {
	rdb := redistest.Client(t)
	topic := redistest.Name("live")
	a, b := startHub(t, rdb, Options{}), startHub(t, redistest.Client(t), Options{})
	_, wa, _, _ := subscribe(t, a, []string{topic}, "")
	_, wb, _, _ := subscribe(t, b, []string{topic}, "")
	ids := publishN(t, publish.New(rdb, publish.Options{}), topic, 0, 20)
	for _, w := range []*recorder{wa, wb} {
		got := waitFrames(t, w, 20)
		assertSequence(t, got, 0, 20)
		if got[19].id != ids[19] {
			t.Fatalf("single-topic stream id = %q, want the publish id %q", got[19].id, ids[19])
		}
	}
}

func TestResumeReplaysThenGoesLiveWithoutLossOrDuplicate(t *testing.T) {
	rdb := redistest.Client(t)
	topic := redistest.Name("resume")
	p := publish.New(rdb, publish.Options{})
	ids := publishN(t, p, topic, 0, 10)
	h := startHub(t, rdb, Options{PageSize: 3}) // several pages of history
	_, w, _, _ := subscribe(t, h, []string{topic}, ids[3])
	publishN(t, p, topic, 10, 15)
	assertSequence(t, waitFrames(t, w, 11), 4, 15)
}

func TestFirstPositionIsSentBeforeAnyEvent(t *testing.T) {
	rdb := redistest.Client(t)
	a, b := redistest.Name("pos"), redistest.Name("pos")
	p := publish.New(rdb, publish.Options{})
	idA := publishN(t, p, a, 0, 1)[0]
	h := startHub(t, rdb, Options{})
	s, w, _, _ := subscribe(t, h, []string{a, b}, "")
	deadline := time.After(5 * time.Second)
	for {
		w.mu.Lock()
		last := w.lastID
		w.mu.Unlock()
		if last != "" {
			if want := a + "=" + idA + "," + b + "=0-0"; last != want {
				t.Fatalf("initial id = %q, want %q", last, want)
			}
			break
		}
		select {
		case <-w.notify:
		case <-deadline:
			t.Fatal("no initial id")
		}
	}
	_ = s
}

func TestMultiTopicCursorResumesEachTopic(t *testing.T) {
	rdb := redistest.Client(t)
	a, b := redistest.Name("ma"), redistest.Name("mb")
	p := publish.New(rdb, publish.Options{})
	h := startHub(t, rdb, Options{})
	_, w, cancel, done := subscribe(t, h, []string{a, b}, "")
	publishN(t, p, a, 0, 3)
	publishN(t, p, b, 100, 102)
	got := waitFrames(t, w, 5)
	cancel()
	<-done
	last := got[len(got)-1].id
	// While disconnected, both topics move on.
	publishN(t, p, a, 3, 5)
	publishN(t, p, b, 102, 104)
	_, w2, _, _ := subscribe(t, h, []string{a, b}, last)
	var fromA, fromB []string
	for _, f := range waitFrames(t, w2, 4) {
		if strings.HasPrefix(f.data, "10") {
			fromB = append(fromB, f.data)
		} else {
			fromA = append(fromA, f.data)
		}
	}
	if strings.Join(fromA, ",") != "3,4" || strings.Join(fromB, ",") != "102,103" {
		t.Fatalf("resumed a=%v b=%v", fromA, fromB)
	}
}

func TestPubSubGapIsFilledFromTheStream(t *testing.T) {
	rdb := redistest.Client(t)
	topic := redistest.Name("gap")
	p := publish.New(rdb, publish.Options{})
	h := startHub(t, redistest.Client(t), Options{})
	_, w, _, _ := subscribe(t, h, []string{topic}, "")
	publishN(t, p, topic, 0, 5)
	waitFrames(t, w, 5)
	// Drop the hub's pub/sub link: go-redis reconnects and resubscribes, and whatever was
	// announced meanwhile is lost to pub/sub.
	killed := 0
	for i := 5; i < 40; i++ {
		if i%7 == 0 {
			n, err := rdb.ClientKillByFilter(context.Background(), "TYPE", "pubsub").Result()
			if err != nil {
				t.Fatal(err)
			}
			killed += int(n)
		}
		publishN(t, p, topic, i, i+1)
	}
	if killed == 0 {
		t.Fatal("no pub/sub connection was killed")
	}
	assertSequence(t, waitFrames(t, w, 40), 0, 40)
}

func TestResetWhenHistoryWasTrimmed(t *testing.T) {
	// A Redis of its own: bounds recorded in a shared one (publish.HistoryKey) would apply.
	rdb := redistest.StartServer(t, redistest.Options{}).Client(t)
	topic := redistest.Name("trim")
	p := publish.New(rdb, publish.Options{HistorySize: 5})
	ids := publishN(t, p, topic, 0, 12)
	h := startHub(t, rdb, Options{})
	_, w, _, _ := subscribe(t, h, []string{topic}, ids[2])
	got := waitFrames(t, w, 6)
	if got[0].event != ResetEvent {
		t.Fatalf("first frame = %+v, want a reset", got[0])
	}
	var reset struct{ Topic, Reason, LastEventID string }
	if err := json.Unmarshal([]byte(got[0].data), &reset); err != nil || reset.Reason != ResetTrimmed || reset.Topic != topic || reset.LastEventID != ids[2] {
		t.Fatalf("reset data = %s (%v)", got[0].data, err)
	}
	if got[0].id != ids[6] {
		t.Fatalf("reset moves the position to the newest dropped id %s, got %s", ids[6], got[0].id)
	}
	assertSequence(t, got[1:], 7, 12)
}

func TestResetWhenHistoryExpired(t *testing.T) {
	// A Redis of its own: bounds recorded in a shared one (publish.HistoryKey) would apply.
	rdb := redistest.StartServer(t, redistest.Options{}).Client(t)
	topic := redistest.Name("exp")
	p := publish.New(rdb, publish.Options{HistoryTTL: 200 * time.Millisecond})
	ids := publishN(t, p, topic, 0, 3)
	// Wait for Redis to expire the history (its position lives twice as long).
	for deadline := time.Now().Add(5 * time.Second); ; {
		if n, _ := rdb.Exists(context.Background(), publish.StreamKey(topic)).Result(); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("history did not expire")
		}
		time.Sleep(20 * time.Millisecond)
	}
	h := startHub(t, rdb, Options{})
	_, w, _, _ := subscribe(t, h, []string{topic}, ids[0])
	got := waitFrames(t, w, 1)
	if got[0].event != ResetEvent || !strings.Contains(got[0].data, ResetExpired) || got[0].id != ids[2] {
		t.Fatalf("frame = %+v, want reset %s to %s", got[0], ResetExpired, ids[2])
	}
}

func TestNoResetWhenNothingWasMissed(t *testing.T) {
	rdb := redistest.Client(t)
	topic := redistest.Name("quiet")
	p := publish.New(rdb, publish.Options{HistorySize: 2})
	ids := publishN(t, p, topic, 0, 5)
	h := startHub(t, rdb, Options{})
	_, w, _, _ := subscribe(t, h, []string{topic}, ids[4])
	publishN(t, p, topic, 5, 6)
	got := waitFrames(t, w, 1)
	if len(got) != 1 || got[0].event != "message" || got[0].data != "5" {
		t.Fatalf("frames = %+v", got)
	}
}

func TestSlowConsumerIsKickedWithoutStallingOthers(t *testing.T) {
	rdb := redistest.Client(t)
	topic := redistest.Name("slow")
	h := startHub(t, rdb, Options{QueueSize: 4})
	cur := eventid.NewCursor([]string{topic})
	slow, err := h.Subscribe(context.Background(), cur) // never drained
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	_, fast, _, _ := subscribe(t, h, []string{topic}, "")
	p := publish.New(rdb, publish.Options{})
	// One event at a time, each waited for by the fast subscriber, so only the slow one can
	// fall behind however loaded the machine is.
	for i := 0; i < 20; i++ {
		publishN(t, p, topic, i, i+1)
		waitFrames(t, fast, i+1)
	}
	assertSequence(t, fast.snapshot(), 0, 20)
	select {
	case <-slow.Ready():
		if _, err := slow.Next(context.Background()); err != ErrSlowConsumer {
			t.Fatalf("kick reason = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("slow subscriber was not woken")
	}
}

// A position past the topic's newest event (Redis lost writes in a failover, or the client
// made it up) gets a reset to the newest event, and the stream goes on from there.
func TestPositionInTheFutureResetsToTheNewestEvent(t *testing.T) {
	rdb := redistest.Client(t)
	topic := redistest.Name("future")
	p := publish.New(rdb, publish.Options{})
	ids := publishN(t, p, topic, 0, 3)
	h := startHub(t, rdb, Options{})
	_, w, _, _ := subscribe(t, h, []string{topic}, "99999999999999999-0")
	got := waitFrames(t, w, 1)
	if got[0].event != ResetEvent || !strings.Contains(got[0].data, ResetUnknown) || got[0].id != ids[2] {
		t.Fatalf("frame = %+v, want reset %s to %s", got[0], ResetUnknown, ids[2])
	}
	publishN(t, p, topic, 3, 4)
	got = waitFrames(t, w, 2)
	if got[1].data != "3" {
		t.Fatalf("after the reset: %+v", got[1])
	}
}

// A stream may start just before a position it read itself (a QR session's state): it
// begins with that very event, then what followed.
func TestStartingBeforeAnEventReplaysIt(t *testing.T) {
	rdb := redistest.Client(t)
	topic := redistest.Name("snapshot")
	p := publish.New(rdb, publish.Options{})
	ids := publishN(t, p, topic, 0, 4)
	h := startHub(t, rdb, Options{})
	_, w, _, _ := subscribe(t, h, []string{topic}, eventid.MustParse(ids[1]).Prev().String())
	assertSequence(t, waitFrames(t, w, 3), 1, 4)
}

// A stream's first delivery reaches the metrics as it is written; the ones that follow
// within the second wait in the subscriber, and all of them are in by Close.
func TestDeliveriesAreCountedFirstAtOnceAndAllByClose(t *testing.T) {
	rdb := redistest.Client(t)
	topic := redistest.Name("count")
	h := startHub(t, rdb, Options{})
	_, w, cancel, done := subscribe(t, h, []string{topic}, "")
	pub := publish.New(rdb, publish.Options{})
	delivered0, lags0 := deliveries(t)
	publishN(t, pub, topic, 0, 1)
	waitFrames(t, w, 1)
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, l := deliveries(t)
		if d-delivered0 == 1 && l-lags0 == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first delivery was not counted while the stream was open: %v delivered, %v lags", d-delivered0, l-lags0)
		}
		time.Sleep(time.Millisecond)
	}
	publishN(t, pub, topic, 1, 21)
	waitFrames(t, w, 21)
	cancel()
	<-done
	if d, l := deliveries(t); d-delivered0 != 21 || l-lags0 != 21 {
		t.Fatalf("after Close: %v delivered, %v lags, want 21 of each", d-delivered0, l-lags0)
	}
}

// deliveries reads the delivered counter and the lag histogram's count.
func deliveries(t *testing.T) (delivered float64, lags uint64) {
	t.Helper()
	var m dto.Metric
	if err := metrics.Delivered.Write(&m); err != nil {
		t.Fatal(err)
	}
	ch := make(chan prometheus.Metric, 1)
	metrics.DeliveryLag.Collect(ch)
	var h dto.Metric
	if err := (<-ch).Write(&h); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue(), h.GetHistogram().GetSampleCount()
}
