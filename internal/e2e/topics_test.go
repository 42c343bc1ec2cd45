package e2e

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/sseapi/sse-api/internal/redistest"
)

func TestPublishOnOneInstanceReachesAnother(t *testing.T) {
	a, b := start(t, settings{}), start(t, settings{})
	topic := redistest.Name("news:")
	tok := token(t, "alice", []string{"news:*"}, []string{"news:*"})
	s := mustOpen(t, b.Base+"/v1/events?topic="+topic, bearer(tok))
	s.waitPosition(t)
	status, out := call(t, http.MethodPost, a.Base+"/v1/topics/"+topic+"/events", tok,
		[]byte(`{"event": "order", "data": {"z": 1, "a": "x<y\u2028"}}`))
	if status != http.StatusCreated {
		t.Fatalf("publish: %d %v", status, out)
	}
	id := out["id"].(string)
	ev := s.next(t)
	if ev.ID != id || ev.Type != "order" || ev.Data != `{"z":1,"a":"x<y\u2028"}` {
		t.Fatalf("event = %+v, want id %s and the data as published", ev, id)
	}
}

// The client follows one stream on instance A while events are published through B; A is
// killed mid-stream; the client resumes on B with the Last-Event-ID it last saw. It must
// see every event exactly once, in order.
func TestResumeOnAnotherInstanceAfterAKillLosesNothing(t *testing.T) {
	a, b := start(t, settings{}), start(t, settings{})
	topic := redistest.Name("orders:")
	tok := token(t, "bob", []string{"orders:*"}, []string{"orders:*"})
	const total = 300

	s := mustOpen(t, a.Base+"/v1/events?topic="+topic, bearer(tok))
	s.waitPosition(t)
	published := make(chan error, 1)
	go func() {
		for i := 0; i < total; i++ {
			status, out := call(t, http.MethodPost, b.Base+"/v1/topics/"+topic+"/events", tok, map[string]any{"data": i})
			if status != http.StatusCreated {
				published <- fmt.Errorf("publish %d: %d %v", i, status, out)
				return
			}
		}
		published <- nil
	}()

	var got []int
	for len(got) < 50 {
		got = append(got, mustInt(t, s.next(t).Data))
	}
	a.Kill() // mid-stream, while publishing goes on
	s.waitEnded(t)
	for {
		select {
		case ev := <-s.Events: // what had arrived before the kill
			got = append(got, mustInt(t, ev.Data))
			continue
		default:
		}
		break
	}
	resumed := mustOpen(t, b.Base+"/v1/events?topic="+topic, http.Header{
		"Authorization": {"Bearer " + tok},
		"Last-Event-Id": {s.LastID()},
	})
	for len(got) < total {
		got = append(got, mustInt(t, resumed.next(t).Data))
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("event %d is %d: lost or repeated around it (got %v)", i, v, got)
		}
	}
	select {
	case ev := <-resumed.Events:
		t.Fatalf("extra event after all %d: %+v", total, ev)
	default:
	}
}

func TestResumeWithQueryParameterOnFirstConnect(t *testing.T) {
	a := start(t, settings{})
	topic := redistest.Name("feed:")
	tok := token(t, "carol", []string{"feed:*"}, []string{"feed:*"})
	ids := make([]string, 5)
	for i := range ids {
		ids[i] = publishEvent(t, a.Base, tok, topic, i)
	}
	s := mustOpen(t, a.Base+"/v1/events?topic="+topic+"&lastEventId="+ids[1], bearer(tok))
	for want := 2; want < 5; want++ {
		if ev := s.next(t); ev.Data != strconv.Itoa(want) || ev.ID != ids[want] {
			t.Fatalf("event = %+v, want %d with id %s", ev, want, ids[want])
		}
	}
}

func TestResetWhenResumingBeforeTheKeptHistory(t *testing.T) {
	// A Redis of its own: the instance records its bounds there (publish.HistoryKey).
	redis := redistest.StartServer(t, redistest.Options{})
	a := start(t, settings{RedisAddr: redis.Addr(), HistorySize: 3})
	topic := redistest.Name("busy:")
	tok := token(t, "dan", []string{"busy:*"}, []string{"busy:*"})
	first := publishEvent(t, a.Base, tok, topic, 0)
	for i := 1; i < 10; i++ {
		publishEvent(t, a.Base, tok, topic, i)
	}
	s := mustOpen(t, a.Base+"/v1/events?topic="+topic+"&lastEventId="+first, bearer(tok))
	if ev := s.next(t); ev.Type != "reset" || !strings.Contains(ev.Data, `"reason":"history_trimmed"`) {
		t.Fatalf("first event = %+v, want a reset", ev)
	}
	for want := 7; want < 10; want++ {
		if ev := s.next(t); ev.Data != strconv.Itoa(want) {
			t.Fatalf("after the reset got %+v, want %d", ev, want)
		}
	}
}

func TestOneStreamCarriesSeveralTopicsAndResumesEach(t *testing.T) {
	a := start(t, settings{})
	x, y := redistest.Name("multi:x"), redistest.Name("multi:y")
	tok := token(t, "erin", []string{"multi:*"}, []string{"multi:*"})
	url := a.Base + "/v1/events?topic=" + x + "&topic=" + y
	s := mustOpen(t, url, bearer(tok))
	s.waitPosition(t)
	publishEvent(t, a.Base, tok, x, "x0")
	publishEvent(t, a.Base, tok, y, "y0")
	s.next(t)
	s.next(t)
	last := s.LastID()
	s.Close()
	publishEvent(t, a.Base, tok, y, "y1")
	publishEvent(t, a.Base, tok, x, "x1")
	r := mustOpen(t, url, http.Header{"Authorization": {"Bearer " + tok}, "Last-Event-Id": {last}})
	seen := map[string]bool{}
	for i := 0; i < 2; i++ {
		seen[r.next(t).Data] = true
	}
	if !seen[`"x1"`] || !seen[`"y1"`] {
		t.Fatalf("resumed events = %v", seen)
	}
}

func mustInt(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}
