package broker

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sseapi/sse-api/internal/eventid"
	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/publish"
)

// fakeSource feeds "state:*" topics from values held in memory and "log:*" topics from
// entries held in memory, and counts its reads.
type fakeSource struct {
	mu      sync.Mutex
	values  map[string]string // state topic -> value; absent: deleted
	entries map[string][]*Message
	floor   map[string]eventid.ID
	watched map[string]func()
	reads   map[string]int
	watches []string // "+topic" and "-topic", in order
	hold    chan struct{}
}

func newFakeSource() *fakeSource {
	return &fakeSource{
		values: map[string]string{}, entries: map[string][]*Message{}, floor: map[string]eventid.ID{},
		watched: map[string]func(){}, reads: map[string]int{},
	}
}

func (f *fakeSource) Kind(topic string) Kind {
	switch {
	case strings.HasPrefix(topic, "state:"):
		return KindState
	case strings.HasPrefix(topic, "log:"):
		return KindStream
	}
	return KindOwn
}

func (f *fakeSource) Watch(topic string, changed func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.watched[topic] = changed
	f.watches = append(f.watches, "+"+topic)
}

func (f *fakeSource) Unwatch(topic string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.watched, topic)
	f.watches = append(f.watches, "-"+topic)
}

func valueID(s string) eventid.ID {
	h := fnv.New64a()
	h.Write([]byte(s))
	return eventid.ID{Seq: h.Sum64() | 1}
}

func (f *fakeSource) State(ctx context.Context, topic string) (now, joined *Message, err error) {
	f.mu.Lock()
	hold := f.hold
	v, ok := f.values[topic]
	f.reads[topic]++
	f.mu.Unlock()
	if hold != nil {
		<-hold
	}
	if !ok {
		now, _ = NewMessage(topic, valueID(""), "deleted", []byte(`{"reason":"deleted"}`))
		joined, _ = NewMessage(topic, valueID(""), "deleted", []byte(`{"reason":"absent"}`))
		return now, joined, nil
	}
	now, err = NewMessage(topic, valueID(v), "state", []byte(v))
	return now, nil, err
}

func (f *fakeSource) Page(ctx context.Context, topic string, after eventid.ID, count int) (StreamPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	all, ok := f.entries[topic]
	p := StreamPage{Exists: ok, Floor: f.floor[topic]}
	if len(all) > 0 {
		p.Last = all[len(all)-1].ID
	}
	for _, m := range all {
		if len(p.Messages) < count && after.Less(m.ID) {
			p.Messages = append(p.Messages, m)
		}
	}
	return p, nil
}

// set changes a value (or deletes it, for "") and tells the hub, as a notification would.
func (f *fakeSource) set(topic, v string) {
	f.mu.Lock()
	if v == "" {
		delete(f.values, topic)
	} else {
		f.values[topic] = v
	}
	changed := f.watched[topic]
	f.mu.Unlock()
	if changed != nil {
		changed()
	}
}

func (f *fakeSource) add(topic string, ms uint64, data string) string {
	id := eventid.ID{Ms: ms}
	m, _ := NewMessage(topic, id, "", []byte(data))
	f.mu.Lock()
	f.entries[topic] = append(f.entries[topic], m)
	changed := f.watched[topic]
	f.mu.Unlock()
	if changed != nil {
		changed()
	}
	return id.String()
}

func (f *fakeSource) readsOf(topic string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads[topic]
}

func sourcedHub(t *testing.T) (*Hub, *fakeSource) {
	src := newFakeSource()
	return startHub(t, redistest.Client(t), Options{Source: src}), src
}

// waitFor polls cond until it holds, within a generous bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStateTopicSendsTheValueFirstThenEveryChange(t *testing.T) {
	h, src := sourcedHub(t)
	src.values["state:a"] = `{"status":"pending"}`
	_, w, _, _ := subscribe(t, h, []string{"state:a"}, "")
	got := waitFrames(t, w, 1)
	if got[0].event != "state" || got[0].data != `{"status":"pending"}` || got[0].id != valueID(`{"status":"pending"}`).String() {
		t.Fatalf("first frame = %+v", got[0])
	}
	src.set("state:a", `{"status":"scanned"}`)
	waitFrames(t, w, 2) // else the two changes may be read as one: only the last is sure
	src.set("state:a", "")
	got = waitFrames(t, w, 3)
	if got[1].data != `{"status":"scanned"}` || got[2].event != "deleted" || got[2].data != `{"reason":"deleted"}` {
		t.Fatalf("frames = %+v", got)
	}
	// A subscriber joining now is told the key is absent, with the same id.
	_, w2, _, _ := subscribe(t, h, []string{"state:a"}, "")
	if f := waitFrames(t, w2, 1)[0]; f.data != `{"reason":"absent"}` || f.id != got[2].id {
		t.Fatalf("joining while deleted: %+v, want the id %s", f, got[2].id)
	}
}

func TestStateResumeSendsTheValueOnlyIfItChanged(t *testing.T) {
	h, src := sourcedHub(t)
	src.values["state:b"] = "one"
	same := valueID("one").String()

	// The client has the value: nothing is sent, then the next change is.
	_, w, _, _ := subscribe(t, h, []string{"state:b"}, same)
	src.set("state:b", "two")
	got := waitFrames(t, w, 1)
	if len(got) != 1 || got[0].data != "two" {
		t.Fatalf("resumed with the current value: %+v", got)
	}
	if w.lastID != valueID("two").String() {
		t.Fatalf("position %s", w.lastID)
	}

	// An older value's id: the current value, once.
	_, w2, _, _ := subscribe(t, h, []string{"state:b"}, same)
	if f := waitFrames(t, w2, 1)[0]; f.data != "two" {
		t.Fatalf("resumed behind: %+v", f)
	}
	src.set("state:b", "two") // told, but unchanged: nothing more
	src.set("state:b", "three")
	got = waitFrames(t, w2, 2)
	if len(got) != 2 || got[1].data != "three" {
		t.Fatalf("frames %+v", got)
	}
}

func TestStateAndOwnTopicsShareOneCursor(t *testing.T) {
	rdb := redistest.Client(t)
	src := newFakeSource()
	h := startHub(t, rdb, Options{Source: src})
	own := redistest.Name("own")
	pub := publish.New(rdb, publish.Options{})
	src.values["state:c"] = "v1"
	_, w, cancel, done := subscribe(t, h, []string{own, "state:c"}, "")
	waitFrames(t, w, 1)
	ids := publishN(t, pub, own, 0, 2)
	waitFrames(t, w, 3)
	cancel()
	<-done
	cursor := w.lastID
	want := fmt.Sprintf("%s=%s,state:c=%s", own, ids[1], valueID("v1"))
	if cursor != want {
		t.Fatalf("cursor %q, want %q", cursor, want)
	}

	// Resume: the own topic replays what came after, the value is sent only if it changed.
	publishN(t, pub, own, 2, 3)
	src.set("state:c", "v2")
	_, w2, _, _ := subscribe(t, h, []string{own, "state:c"}, cursor)
	got := waitFrames(t, w2, 2)
	var data []string
	for _, f := range got {
		data = append(data, f.data)
	}
	slices.Sort(data)
	if strings.Join(data, ",") != "2,v2" {
		t.Fatalf("resumed frames %+v", got)
	}
}

// Changes made while subscribers come and go, and while reads are under way, always end
// with every subscriber holding the last value, and never the same value twice in a row.
func TestStateLastValueAlwaysArrives(t *testing.T) {
	h, src := sourcedHub(t)
	src.values["state:d"] = "0"
	const subscribers = 20
	recorders := make([]*recorder, subscribers)
	var joined atomic.Int32
	changes := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Changes go on while subscribers join, and a while after.
		for after := 0; after < 100; changes++ {
			src.set("state:d", fmt.Sprint(changes+1))
			if joined.Load() == subscribers {
				after++
			}
		}
	}()
	for i := range recorders {
		_, recorders[i], _, _ = subscribe(t, h, []string{"state:d"}, "")
		joined.Add(1)
	}
	<-done
	final := fmt.Sprint(changes)
	for i, w := range recorders {
		waitFor(t, fmt.Sprintf("subscriber %d to hold the last value", i), func() bool {
			got := w.snapshot()
			return len(got) > 0 && got[len(got)-1].data == final
		})
		got := w.snapshot()
		for j := 1; j < len(got); j++ {
			if got[j].data == got[j-1].data {
				t.Fatalf("subscriber %d got %q twice in a row", i, got[j].data)
			}
		}
	}
	// Coalesced: far fewer reads than changes (each read covers every change before it).
	if n := src.readsOf("state:d"); n > changes {
		t.Fatalf("%d reads for %d changes", n, changes)
	}
}

func TestBurstDuringAReadCostsOneMoreRead(t *testing.T) {
	h, src := sourcedHub(t)
	src.values["state:e"] = "first"
	_, w, _, _ := subscribe(t, h, []string{"state:e"}, "")
	waitFrames(t, w, 1)
	hold := make(chan struct{})
	src.mu.Lock()
	src.hold = hold
	src.mu.Unlock()
	src.set("state:e", "x")
	waitFor(t, "the read to start", func() bool { return src.readsOf("state:e") == 2 })
	for i := range 100 {
		src.set("state:e", fmt.Sprint("burst", i))
	}
	src.mu.Lock()
	src.hold = nil
	src.mu.Unlock()
	close(hold)
	waitFor(t, "the last value", func() bool {
		got := w.snapshot()
		return got[len(got)-1].data == "burst99"
	})
	if n := src.readsOf("state:e"); n != 3 {
		t.Fatalf("%d reads, want 3: the first, the one held, one for the whole burst", n)
	}
}

func TestSourceWatchesWhileSubscribed(t *testing.T) {
	h, src := sourcedHub(t)
	src.values["state:f"] = "v"
	_, w, cancel, done := subscribe(t, h, []string{"state:f"}, "")
	_, w2, cancel2, done2 := subscribe(t, h, []string{"state:f"}, "")
	waitFrames(t, w, 1)
	waitFrames(t, w2, 1)
	cancel()
	cancel2()
	for range done { // closed once the subscriber closed
	}
	for range done2 {
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if strings.Join(src.watches, " ") != "+state:f -state:f" {
		t.Fatalf("watches %v", src.watches)
	}
	if src.reads["state:f"] != 1 {
		t.Fatalf("%d reads for two subscribers", src.reads["state:f"])
	}
}

func TestSourcedStreamResumesLikeOwnTopics(t *testing.T) {
	h, src := sourcedHub(t)
	src.entries["log:a"] = nil
	id1 := src.add("log:a", 1000, "1")
	_, w, cancel, done := subscribe(t, h, []string{"log:a"}, "")
	id2 := src.add("log:a", 2000, "2")
	got := waitFrames(t, w, 1)
	if got[0].id != id2 || got[0].data != "2" {
		t.Fatalf("live: %+v", got)
	}
	cancel()
	<-done

	// Resume from the first entry: the second is replayed, then live ones follow.
	_, w2, _, _ := subscribe(t, h, []string{"log:a"}, id1)
	src.add("log:a", 3000, "3")
	assertSequence(t, waitFrames(t, w2, 2), 2, 4)

	// Entries after the position are gone: a reset first.
	src.mu.Lock()
	src.floor["log:a"] = eventid.ID{Ms: 1500} // an entry between the first two was removed
	src.mu.Unlock()
	_, w3, _, _ := subscribe(t, h, []string{"log:a"}, id1)
	got = waitFrames(t, w3, 3)
	if got[0].event != ResetEvent || got[0].id != "1500-0" || got[1].data != "2" || got[2].data != "3" {
		t.Fatalf("after trimming: %+v", got)
	}
}
