package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/eventid"
	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/publish"
)

// faults is a go-redis hook on a hub's client: it holds the answer to, or fails, the commands
// that name one key, and can hold new connections (a pub/sub reconnect) until released.
type faults struct {
	mu    sync.Mutex
	key   string
	fail  int           // fail this many more commands naming key
	hold  chan struct{} // when set, the next command naming key waits until it is closed
	held  chan struct{} // closed once that command is waiting
	ended chan struct{} // closed once it stopped waiting
	dials chan struct{} // when set, dials wait until it is closed
}

var errInjected = errors.New("injected fault")

func (f *faults) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		f.mu.Lock()
		dials := f.dials
		f.mu.Unlock()
		if dials != nil {
			select {
			case <-dials:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return next(ctx, network, addr)
	}
}

func (f *faults) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		f.mu.Lock()
		var hold, held, ended chan struct{}
		failed := false
		if f.key != "" && slices.Contains(cmd.Args(), any(f.key)) {
			switch {
			case f.fail > 0:
				f.fail--
				failed = true
			case f.hold != nil:
				hold, held, ended = f.hold, f.held, f.ended
				f.hold = nil
			}
		}
		f.mu.Unlock()
		if failed {
			cmd.SetErr(errInjected)
			return errInjected
		}
		if hold != nil {
			// Redis answers at once; the answer is held, as a slow link would hold it.
			err := next(ctx, cmd)
			close(held)
			defer close(ended)
			select {
			case <-hold:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return next(ctx, cmd)
	}
}

func (f *faults) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// failNext makes the next n commands naming key fail.
func (f *faults) failNext(key string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.key, f.fail = key, n
}

// holdNext holds the answer to the next command naming key until release is called; held
// is closed once Redis answered, ended once the answer was let go.
func (f *faults) holdNext(key string) (held, ended <-chan struct{}, release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	hold := make(chan struct{})
	f.key, f.hold, f.held, f.ended = key, hold, make(chan struct{}), make(chan struct{})
	return f.held, f.ended, sync.OnceFunc(func() { close(hold) })
}

// faultyClient is a client to the test Redis with a faults hook and a name of its own.
func faultyClient(t *testing.T) (redis.UniversalClient, *faults, string) {
	name := redistest.Name("hubtest")
	c := redis.NewClient(&redis.Options{Addr: redistest.Addr(t), ClientName: name})
	t.Cleanup(func() { _ = c.Close() })
	f := &faults{}
	c.AddHook(f)
	return c, f, name
}

// silentAppend appends events to topic announcing them on a channel nobody reads: for the
// hub, pub/sub lost them.
var silentAppend = redis.NewScript(publish.AppendLua +
	"return sse_append(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5])")

func publishSilently(t *testing.T, rdb redis.UniversalClient, topic string, historySize, from, to int) []string {
	t.Helper()
	var ids []string
	for i := from; i < to; i++ {
		id, err := silentAppend.Run(context.Background(), rdb,
			[]string{publish.StreamKey(topic), publish.MetaKey(topic)},
			redistest.Name("sse:ch:nobody:"), historySize, 60000, "message", fmt.Sprint(i)).Text()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// waitClosed waits for ch to be closed, failing the test after a generous bound.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// inOrder checks the frames of a stream over topics: from one frame to the next, the
// cursor moves forward in one topic and back in none, so no event came twice or out of order.
func inOrder(topics []string, frames []frame) error {
	var prev *eventid.Cursor
	for _, f := range frames {
		cur, err := eventid.ParseCursor(topics, f.id)
		if err != nil {
			return fmt.Errorf("frame id %q: %v", f.id, err)
		}
		if prev != nil {
			moved := 0
			for i := range topics {
				switch {
				case cur.Positions[i].Less(prev.Positions[i]):
					return fmt.Errorf("%s went back from %s to %s", topics[i], prev.Positions[i], cur.Positions[i])
				case prev.Positions[i].Less(cur.Positions[i]):
					moved++
				}
			}
			if moved != 1 {
				return fmt.Errorf("from %s to %s: %d topics moved, want 1", prev, cur, moved)
			}
		}
		prev = cur
	}
	return nil
}

// Many topics over the shards, each with a subscriber that stays, while others join and
// leave those topics and topics of their own, and several publishers publish at once: every
// staying subscriber gets its topic's events exactly once, in order; those that come and go
// see what they see in order, without repeats.
func TestShardedHubKeepsEveryTopicInOrderWhileSubscribersComeAndGo(t *testing.T) {
	rdb := redistest.Client(t)
	h := startHub(t, redistest.Client(t), Options{})
	const topics, events = 100, 20
	names := make([]string, topics)
	stay := make([]*recorder, topics)
	for i := range names {
		names[i] = redistest.Name("shard")
		_, stay[i], _, _ = subscribe(t, h, []string{names[i]}, "")
	}

	ctx, stop := context.WithCancel(context.Background())
	var churn sync.WaitGroup
	var churned atomic.Int64 // events seen by subscribers that came and went
	errs := make(chan error, 16)
	for g := range 4 {
		churn.Add(1)
		go func() {
			defer churn.Done()
			rnd := rand.New(rand.NewPCG(uint64(g), 1))
			for ctx.Err() == nil {
				// One or two of the shared topics, sometimes with a topic of its own.
				ts := []string{names[rnd.IntN(topics)]}
				if rnd.IntN(2) == 0 {
					if other := names[rnd.IntN(topics)]; other != ts[0] {
						ts = append(ts, other)
					}
				}
				if rnd.IntN(3) == 0 {
					ts = append(ts, redistest.Name("own"))
				}
				cur, _ := eventid.ParseCursor(ts, "")
				sctx, cancel := context.WithTimeout(ctx, time.Duration(1+rnd.IntN(20))*time.Millisecond)
				s, err := h.Subscribe(ctx, cur)
				if err != nil {
					cancel()
					if ctx.Err() == nil {
						errs <- err
					}
					return
				}
				w := newRecorder()
				err = pump(sctx, s, w)
				s.Close()
				cancel()
				if err != nil {
					errs <- err
					return
				}
				frames := w.snapshot()
				churned.Add(int64(len(frames)))
				if err := inOrder(ts, frames); err != nil {
					errs <- fmt.Errorf("%v: %w", ts, err)
					return
				}
			}
		}()
	}

	var pubs sync.WaitGroup
	p := publish.New(rdb, publish.Options{})
	for g := range 4 {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for i := range events {
				for j := g; j < topics; j += 4 {
					if _, err := p.Publish(context.Background(), names[j], "", []byte(fmt.Sprint(i))); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	pubs.Wait()
	for i := range names {
		assertSequence(t, waitFrames(t, stay[i], events), 0, events)
	}
	stop()
	churn.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if churned.Load() == 0 {
		t.Error("the subscribers that came and went saw no event")
	}
}

// counter is the value of a counter of the default registry, summed over the series whose
// labels include the given name=value pairs.
func counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
				}
				if !found {
					continue series
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// A gap read held up in Redis delays its own topic only: another topic's events keep
// arriving, and the held topic's later announcements wait behind the read, then everything
// arrives in order, once.
func TestSlowGapReadDelaysOnlyItsTopic(t *testing.T) {
	rdb := redistest.Client(t)
	hubRdb, f, _ := faultyClient(t)
	slow, fast := redistest.Name("slow"), redistest.Name("fast")
	// The held read is not given up on while the test runs.
	h := startHub(t, hubRdb, Options{ReadyTimeout: time.Minute})
	_, ws, _, _ := subscribe(t, h, []string{slow}, "")
	_, wf, _, _ := subscribe(t, h, []string{fast}, "")
	p := publish.New(rdb, publish.Options{})
	publishN(t, p, slow, 0, 1)
	waitFrames(t, ws, 1)

	held, ended, release := f.holdNext(publish.StreamKey(slow))
	defer release()
	publishSilently(t, rdb, slow, 1000, 1, 2) // lost to pub/sub
	publishN(t, p, slow, 2, 3)                // shows the gap: the hub reads it, and is held
	waitClosed(t, held, "the gap read")
	publishN(t, p, slow, 3, 6) // wait behind the read
	for i := range 5 {
		publishN(t, p, fast, i, i+1)
		assertSequence(t, waitFrames(t, wf, i+1), 0, i+1)
	}
	select {
	case <-ended:
		t.Fatal("the gap read ended before it was released")
	default:
	}
	if got := ws.snapshot(); len(got) != 1 {
		t.Fatalf("the held topic moved on before its gap was read: %v", got)
	}
	release()
	assertSequence(t, waitFrames(t, ws, 6), 0, 6)
	publishN(t, p, slow, 6, 7)
	assertSequence(t, waitFrames(t, ws, 7), 0, 7)
}

// More announcements than a page wait behind a held gap read: the hub drops them, reads them
// back from Redis, and every event still arrives in order, once.
func TestAnnouncementsBeyondAPageWaitingForAReadAreReadBack(t *testing.T) {
	rdb := redistest.Client(t)
	hubRdb, f, _ := faultyClient(t)
	topic := redistest.Name("backlog")
	h := startHub(t, hubRdb, Options{PageSize: 4, ReadyTimeout: time.Minute})
	_, w, _, _ := subscribe(t, h, []string{topic}, "")
	p := publish.New(rdb, publish.Options{})
	publishN(t, p, topic, 0, 1)
	waitFrames(t, w, 1)

	held, _, release := f.holdNext(publish.StreamKey(topic))
	defer release()
	publishSilently(t, rdb, topic, 1000, 1, 2)
	publishN(t, p, topic, 2, 3)
	waitClosed(t, held, "the gap read")
	ids := publishN(t, p, topic, 3, 15) // 12 announcements wait, 3 pages' worth
	tp := h.lookup(topic)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		tp.mu.Lock()
		n, newest := len(tp.pending), ""
		if n > 0 {
			newest = tp.pending[n-1].m.IDText
		}
		tp.mu.Unlock()
		if newest == ids[11] {
			if n >= 12 {
				t.Fatalf("%d announcements wait, more than a page", n)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the announcements did not reach the hub")
		}
	}
	release()
	assertSequence(t, waitFrames(t, w, 15), 0, 15)
	publishN(t, p, topic, 15, 16)
	assertSequence(t, waitFrames(t, w, 16), 0, 16)
}

// When pub/sub lost more events than the topic keeps, subscribers get a reset that covers
// exactly the events gone, then every event still kept: none is skipped without a word.
func TestTrimmedGapResetsSubscribers(t *testing.T) {
	// A Redis of its own: bounds recorded in a shared one (publish.HistoryKey) would apply.
	srv := redistest.StartServer(t, redistest.Options{})
	rdb := srv.Client(t)
	topic := redistest.Name("trimgap")
	h := startHub(t, srv.Client(t), Options{})
	_, w, _, _ := subscribe(t, h, []string{topic}, "")
	p := publish.New(rdb, publish.Options{HistorySize: 5})
	ids := publishN(t, p, topic, 0, 3)
	waitFrames(t, w, 3)
	before := counter(t, "sse_resets_total", "reason", ResetTrimmed)

	ids = append(ids, publishSilently(t, rdb, topic, 5, 3, 15)...) // 12 lost, 7 of them trimmed
	ids = append(ids, publishN(t, p, topic, 15, 16)...)            // shows the gap

	got := waitFrames(t, w, 3+1+5)
	assertSequence(t, got[:3], 0, 3)
	reset := got[3]
	if reset.event != ResetEvent || reset.id != ids[10] {
		t.Fatalf("frame after the gap = %+v, want a reset to %s, the newest trimmed event", reset, ids[10])
	}
	var data resetData
	if err := json.Unmarshal([]byte(reset.data), &data); err != nil ||
		data != (resetData{Topic: topic, Reason: ResetTrimmed, LastEventID: ids[2]}) {
		t.Fatalf("reset data = %s (%v)", reset.data, err)
	}
	assertSequence(t, got[4:], 11, 16)
	if d := counter(t, "sse_resets_total", "reason", ResetTrimmed) - before; d != 1 {
		t.Fatalf("resets counted: %v, want 1 (one subscriber)", d)
	}
	publishN(t, p, topic, 16, 17)
	if got := waitFrames(t, w, 10); len(got) != 10 || got[9].data != "16" {
		t.Fatalf("after the reset: %v", got[9:])
	}
}

// A gap read that fails is retried until it succeeds: the events arrive without waiting for
// the topic's next event, and the failures and retries are counted.
func TestFailedGapReadIsRetriedUntilItSucceeds(t *testing.T) {
	rdb := redistest.Client(t)
	hubRdb, f, _ := faultyClient(t)
	topic := redistest.Name("retry")
	h := startHub(t, hubRdb, Options{RetryDelay: 5 * time.Millisecond, MaxRetryDelay: 20 * time.Millisecond})
	_, w, _, _ := subscribe(t, h, []string{topic}, "")
	p := publish.New(rdb, publish.Options{})
	publishN(t, p, topic, 0, 2)
	waitFrames(t, w, 2)
	failures, retries := counter(t, "sse_pubsub_recovery_failures_total"), counter(t, "sse_pubsub_recovery_retries_total")

	f.failNext(publish.StreamKey(topic), 4)
	publishSilently(t, rdb, topic, 1000, 2, 3)
	publishN(t, p, topic, 3, 4) // shows the gap; nothing is published after it
	assertSequence(t, waitFrames(t, w, 4), 0, 4)
	if d := counter(t, "sse_pubsub_recovery_failures_total") - failures; d != 4 {
		t.Fatalf("failures counted: %v, want 4", d)
	}
	if d := counter(t, "sse_pubsub_recovery_retries_total") - retries; d != 4 {
		t.Fatalf("retries counted: %v, want 4", d)
	}
}

// After the pub/sub link comes back, a topic reads what was announced while it was down; a
// failing read is retried there too, and no later event is needed for the missed ones to
// arrive.
func TestReconnectReadsWhatWasMissedRetryingFailures(t *testing.T) {
	rdb := redistest.Client(t)
	hubRdb, f, clientName := faultyClient(t)
	topic := redistest.Name("reconnect")
	h := startHub(t, hubRdb, Options{RetryDelay: 5 * time.Millisecond, MaxRetryDelay: 20 * time.Millisecond})
	_, w, _, _ := subscribe(t, h, []string{topic}, "")
	p := publish.New(rdb, publish.Options{})
	publishN(t, p, topic, 0, 2)
	waitFrames(t, w, 2)
	failures := counter(t, "sse_pubsub_recovery_failures_total")

	// Cut the hub's pub/sub link and keep it down while events are published.
	dials := make(chan struct{})
	f.mu.Lock()
	f.dials = dials
	f.mu.Unlock()
	killPubSub(t, rdb, clientName)
	publishN(t, p, topic, 2, 5)
	f.failNext(publish.StreamKey(topic), 3)
	f.mu.Lock()
	f.dials = nil
	f.mu.Unlock()
	close(dials)

	assertSequence(t, waitFrames(t, w, 5), 0, 5)
	if d := counter(t, "sse_pubsub_recovery_failures_total") - failures; d != 3 {
		t.Fatalf("failures counted: %v, want 3", d)
	}
}

// killPubSub closes the pub/sub connection of the client named name, on the server's side.
func killPubSub(t *testing.T, rdb redis.UniversalClient, name string) {
	t.Helper()
	list, err := rdb.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " name="+name+" ") || strings.Contains(line, " sub=0 ") {
			continue
		}
		for _, field := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(field, "id="); ok {
				if err := rdb.ClientKillByFilter(context.Background(), "ID", id).Err(); err != nil {
					t.Fatal(err)
				}
				killed++
			}
		}
	}
	if killed != 1 {
		t.Fatalf("killed %d pub/sub connections of %s, want 1", killed, name)
	}
}

// A new topic whose position cannot be read at first is retried: the subscription still
// succeeds within ReadyTimeout.
func TestFailedPositionReadIsRetried(t *testing.T) {
	rdb := redistest.Client(t)
	hubRdb, f, _ := faultyClient(t)
	topic := redistest.Name("position")
	p := publish.New(rdb, publish.Options{})
	ids := publishN(t, p, topic, 0, 2)
	h := startHub(t, hubRdb, Options{RetryDelay: 5 * time.Millisecond, MaxRetryDelay: 20 * time.Millisecond})
	failures := counter(t, "sse_pubsub_recovery_failures_total")
	f.failNext(publish.MetaKey(topic), 2)
	s, w, _, _ := subscribe(t, h, []string{topic}, "")
	if at := s.Cursor().Positions[0].String(); at != ids[1] {
		t.Fatalf("joined at %s, want %s", at, ids[1])
	}
	if d := counter(t, "sse_pubsub_recovery_failures_total") - failures; d != 2 {
		t.Fatalf("failures counted: %v, want 2", d)
	}
	publishN(t, p, topic, 2, 3)
	if got := waitFrames(t, w, 1); got[0].data != "2" {
		t.Fatalf("frames = %v", got)
	}
}
