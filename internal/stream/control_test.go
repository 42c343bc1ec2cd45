package stream

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sseapi/sse-api/internal/redistest"
)

// presenceLog records what the runtime tells presence.
type presenceLog struct {
	mu     sync.Mutex
	events []string
}

func (p *presenceLog) Join(uid string, topics []string) func() {
	p.add("join " + uid + " " + strings.Join(topics, ","))
	return func() { p.add("leave " + uid + " " + strings.Join(topics, ",")) }
}

func (p *presenceLog) add(e string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, e)
}

func (p *presenceLog) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

// EndUser ends that user's streams only, each with a last retry and an error event saying
// why; presence hears of every stream as it opens and as it ends.
func TestEndUserEndsThatUsersStreamsAndSaysWhy(t *testing.T) {
	topic := redistest.Name("rt:")
	p := &presenceLog{}
	plans := map[string]Plan{
		"/alice": {Topics: []string{topic}, UID: "alice"},
		"/bob":   {Topics: []string{topic}, UID: "bob"},
	}
	f := serve(t, Config{Presence: p}, func(s *Stream) error {
		plan := plans[s.Request().URL.Path]
		plan.Topics = slices.Clone(plan.Topics) // each request has its own, as in a route
		return forward(plan)(s)
	})
	open := func(path string) <-chan string {
		in := lines(f.get(t, path, nil).Body)
		waitLine(t, in, func(l string) bool { return strings.HasPrefix(l, "id: ") })
		return in
	}
	alice1, alice2, bob := open("/alice"), open("/alice"), open("/bob")
	if n := f.rt.EndUser("nobody", ErrDisconnected); n != 0 {
		t.Fatalf("ended %d streams of nobody", n)
	}
	if n := f.rt.EndUser("alice", ErrRevoked); n != 2 {
		t.Fatalf("ended %d streams of alice, want 2", n)
	}
	for _, in := range []<-chan string{alice1, alice2} {
		waitLine(t, in, func(l string) bool { return strings.HasPrefix(l, "retry: ") })
		if l := waitLine(t, in, func(l string) bool { return l != "" }); l != "event: error" {
			t.Fatalf("after the retry: %q", l)
		}
		if l := <-in; !strings.HasPrefix(l, `data: {"code":"revoked","message":"`) {
			t.Fatalf("data %q", l)
		}
		for range in { // then the end
		}
	}
	for range 2 {
		if err := f.waitEnd(t); !errors.Is(err, ErrRevoked) {
			t.Fatalf("end cause %v", err)
		}
	}
	if f.rt.Len() != 1 {
		t.Fatalf("%d streams open, want bob's", f.rt.Len())
	}
	if n := f.rt.EndUser("bob", ErrDisconnected); n != 1 {
		t.Fatalf("ended %d streams of bob", n)
	}
	waitLine(t, bob, func(l string) bool { return strings.HasPrefix(l, `data: {"code":"disconnected"`) })
	f.waitDrained(t)

	deadline := time.Now().Add(5 * time.Second)
	want := []string{"join alice " + topic, "join alice " + topic, "join bob " + topic,
		"leave alice " + topic, "leave alice " + topic, "leave bob " + topic}
	for got := p.seen(); !slices.Equal(got, want); got = p.seen() {
		if time.Now().After(deadline) {
			t.Fatalf("presence heard %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A disconnect heard of late ends the streams opened before it only: the user's stream
// opened since keeps running.
func TestEndUserOpenedBeforeSparesTheStreamsOpenedSince(t *testing.T) {
	topic := redistest.Name("rt:")
	f := serve(t, Config{}, forward(Plan{Topics: []string{topic}, UID: "carol"}))
	open := func() <-chan string {
		in := lines(f.get(t, "/", nil).Body)
		waitLine(t, in, func(l string) bool { return strings.HasPrefix(l, "id: ") })
		return in
	}
	old1, old2 := open(), open()
	told := time.Now() // the disconnect's instant, by this instance's clock
	since := open()
	if n := f.rt.EndUserOpenedBefore("carol", ErrDisconnected, told); n != 2 {
		t.Fatalf("ended %d streams, want the 2 opened before", n)
	}
	for _, in := range []<-chan string{old1, old2} {
		waitLine(t, in, func(l string) bool { return strings.HasPrefix(l, `data: {"code":"disconnected"`) })
		for range in {
		}
	}
	for range 2 {
		if err := f.waitEnd(t); !errors.Is(err, ErrDisconnected) {
			t.Fatalf("end cause %v", err)
		}
	}
	if f.rt.Len() != 1 {
		t.Fatalf("%d streams open, want the one opened since", f.rt.Len())
	}
	if n := f.rt.EndUser("carol", ErrDisconnected); n != 1 {
		t.Fatalf("EndUser ended %d, want the last one", n)
	}
	waitLine(t, since, func(l string) bool { return strings.HasPrefix(l, `data: {"code":"disconnected"`) })
}
