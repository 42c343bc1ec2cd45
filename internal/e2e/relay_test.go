package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/sseapi/sse-api/internal/redistest"
	relaypub "github.com/sseapi/sse-api/publish"
)

// TestRelayedAnswerResumesAfterADropAndReadsWholeWhenLate relays an upstream answer (an
// OpenAI-style SSE stream the test writes token by token) with publish.Relay, and reads it
// through sse-api with go-sse: a reader that drops mid-answer resumes with Last-Event-ID
// and reads every token once, in order, then the end; a reader that comes after the end
// reads the whole answer from lastEventId=0, with the same ids.
func TestRelayedAnswerResumesAfterADropAndReadsWholeWhenLate(t *testing.T) {
	inst := start(t, settings{})
	ctx := context.Background()
	pub := relaypub.New(redistest.Client(t), relaypub.Options{})
	topic := redistest.Name("chat:")
	tok := token(t, "reader", nil, []string{"chat:*"})
	chunk := func(i int) string { return fmt.Sprintf(`{"choices":[{"delta":{"content":" %d"}}]}`, i) }

	// The topic's first event comes before any reader, as chat-relay publishes the question.
	first, err := pub.Publish(ctx, topic, "question", []byte(`{"question":"count to 30"}`))
	if err != nil {
		t.Fatal(err)
	}
	up, upstream := io.Pipe()
	t.Cleanup(func() { _ = upstream.Close() })
	relayed := make(chan error, 1)
	var res relaypub.RelayResult
	go func() {
		var err error
		res, err = pub.Relay(ctx, topic, up)
		relayed <- err
	}()
	send := func(data string) {
		if _, err := io.WriteString(upstream, "data: "+data+"\n\n"); err != nil {
			t.Fatal(err)
		}
	}

	url := inst.Base + "/v1/events?topic=" + topic
	var seen []event // everything the first reader read, across its drop
	expect := func(s *stream, typ, data string) {
		t.Helper()
		ev := s.next(t)
		if ev.Type != typ || ev.Data != data {
			t.Fatalf("event %d: %s %s, want %s %s", len(seen)+1, ev.Type, ev.Data, typ, data)
		}
		seen = append(seen, ev)
	}
	s := mustOpen(t, url+"&lastEventId=0", bearer(tok))
	expect(s, "question", `{"question":"count to 30"}`)
	for i := 1; i <= 10; i++ {
		send(chunk(i))
		expect(s, "message", chunk(i))
	}
	s.Close() // the connection drops mid-answer
	for i := 11; i <= 20; i++ {
		send(chunk(i)) // published while nobody reads
	}
	s = mustOpen(t, url, http.Header{"Authorization": {"Bearer " + tok}, "Last-Event-ID": {seen[len(seen)-1].ID}})
	for i := 11; i <= 20; i++ {
		expect(s, "message", chunk(i))
	}
	for i := 21; i <= 30; i++ {
		send(chunk(i))
		expect(s, "message", chunk(i))
	}
	send("[DONE]")
	expect(s, relaypub.RelayEndEvent, `{"reason":"done"}`)
	select {
	case err := <-relayed:
		if err != nil || res.Reason != relaypub.RelayDone || res.Events != 30 || res.EndID != seen[len(seen)-1].ID {
			t.Fatalf("Relay = %+v, %v", res, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Relay did not return after [DONE]")
	}
	if seen[0].ID != first {
		t.Fatalf("the first event read is %s, want the question %s", seen[0].ID, first)
	}

	late := mustOpen(t, url+"&lastEventId=0", bearer(tok))
	for i, want := range seen {
		ev := late.next(t)
		if ev.Type != want.Type || ev.Data != want.Data || ev.ID != want.ID {
			t.Fatalf("late reader, event %d: %+v, want %+v", i+1, ev, want)
		}
	}
}
