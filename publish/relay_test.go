package publish_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/publish"
)

// chunk is an OpenAI-style streamed completion chunk carrying token i.
func chunk(i int) string {
	return fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" t%d"}}]}`, i)
}

func sseEvent(data string) string { return "data: " + data + "\n\n" }

// history is what the topic holds, oldest first: event name and data of each entry.
type entry struct{ id, event, data string }

func history(t *testing.T, rdb redis.UniversalClient, topic string) []entry {
	t.Helper()
	xs, err := rdb.XRange(context.Background(), publish.StreamKey(topic), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]entry, len(xs))
	for i, x := range xs {
		out[i] = entry{x.ID, x.Values["e"].(string), x.Values["d"].(string)}
	}
	return out
}

// waitLen waits until topic holds n events.
func waitLen(t *testing.T, rdb redis.UniversalClient, topic string, n int64) {
	t.Helper()
	redistest.WaitFor(t, 5*time.Second, fmt.Sprintf("%d events in %s", n, topic), func() error {
		got, err := rdb.XLen(context.Background(), publish.StreamKey(topic)).Result()
		if err == nil && got != n {
			err = fmt.Errorf("%d events", got)
		}
		return err
	})
}

// checkTokens checks that got holds the chunks of tokens 1..n in order, then the end event
// with reason.
func checkTokens(t *testing.T, got []entry, n int, reason string) {
	t.Helper()
	if len(got) != n+1 {
		t.Fatalf("%d events, want %d tokens and the end", len(got), n)
	}
	for i, e := range got[:n] {
		if e.event != publish.DefaultEvent || e.data != chunk(i+1) {
			t.Fatalf("event %d = %s %s, want message %s", i, e.event, e.data, chunk(i+1))
		}
	}
	end := got[n]
	if want := `{"reason":"` + reason + `"}`; end.event != publish.RelayEndEvent || end.data != want {
		t.Fatalf("last event = %s %s, want %s %s", end.event, end.data, publish.RelayEndEvent, want)
	}
}

// pipeRelay runs a Relay reading from a pipe the test writes, and returns its writer and
// the relay's outcome once it ends.
func pipeRelay(t *testing.T, ctx context.Context, p *publish.Publisher, topic string, opts ...publish.RelayOption) (*io.PipeWriter, <-chan relayOutcome) {
	pr, pw := io.Pipe()
	t.Cleanup(func() { _ = pw.Close() })
	done := make(chan relayOutcome, 1)
	go func() {
		res, err := p.Relay(ctx, topic, pr, opts...)
		done <- relayOutcome{res, err}
	}()
	return pw, done
}

type relayOutcome struct {
	res publish.RelayResult
	err error
}

func outcome(t *testing.T, done <-chan relayOutcome) relayOutcome {
	t.Helper()
	select {
	case o := <-done:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("Relay did not return")
		return relayOutcome{}
	}
}

func writeUpstream(t *testing.T, w io.Writer, s string) {
	t.Helper()
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
}

func TestRelayPublishesEveryTokenInOrderThenTheEnd(t *testing.T) {
	// A private Redis: the history bounds recorded in the shared one (publish.HistoryKey)
	// would trim the 1001 events to the service's 1000.
	rdb := redistest.StartServer(t, redistest.Options{}).Client(t)
	p := publish.New(rdb, publish.Options{HistorySize: 10_000})
	topic := redistest.Name("relay:")
	const n = 1000 // many batches, read as fast as they can be
	var up strings.Builder
	up.WriteString(": an upstream comment\n\n")
	for i := 1; i <= n; i++ {
		up.WriteString(sseEvent(chunk(i)))
	}
	up.WriteString(sseEvent("[DONE]"))
	up.WriteString(sseEvent(`{"after":"the done marker, not read"}`))

	res, err := p.Relay(context.Background(), topic, strings.NewReader(up.String()))
	if err != nil {
		t.Fatal(err)
	}
	got := history(t, rdb, topic)
	checkTokens(t, got, n, publish.RelayDone)
	want := publish.RelayResult{Reason: publish.RelayDone, Events: n, LastID: got[n-1].id, EndID: got[n].id}
	if res != want {
		t.Fatalf("result = %+v, want %+v", res, want)
	}
}

func TestRelayPublishesEachEventOfASlowUpstreamWithoutWaitingForABatch(t *testing.T) {
	rdb := redistest.Client(t)
	p := publish.New(rdb, publish.Options{})
	topic := redistest.Name("relay:")
	w, done := pipeRelay(t, context.Background(), p, topic)
	// Each token must reach Redis before the next is sent: a batch that is not full goes
	// out after its delay.
	for i := 1; i <= 5; i++ {
		writeUpstream(t, w, sseEvent(chunk(i)))
		waitLen(t, rdb, topic, int64(i))
	}
	writeUpstream(t, w, sseEvent("[DONE]"))
	o := outcome(t, done)
	if o.err != nil || o.res.Reason != publish.RelayDone || o.res.Events != 5 {
		t.Fatalf("Relay = %+v, %v", o.res, o.err)
	}
	checkTokens(t, history(t, rdb, topic), 5, publish.RelayDone)
}

func TestRelayKeepsNamesAndPublishesTextAsJSONStrings(t *testing.T) {
	rdb := redistest.Client(t)
	p := publish.New(rdb, publish.Options{})
	topic := redistest.Name("relay:")
	up := "event: content_block_delta\r\ndata: {\"delta\": {\"text\": \"Hi\"}}\r\n\r\n" + // CRLF, spaces
		"data: plain text, \"quoted\"\n\n" +
		"data: two\ndata: lines\n\n" +
		"id: 7\nretry: 10\nevent: no-data\n\n" + // no data: not an event
		"data: 42\n\n" +
		"data: \xff\n\n" // not UTF-8
	res, err := p.Relay(context.Background(), topic, strings.NewReader(up), publish.RelayDoneData(""))
	if err != nil || res.Reason != publish.RelayDone {
		t.Fatalf("Relay = %+v, %v; the end of stream is the end when no marker is expected", res, err)
	}
	want := []entry{
		{event: "content_block_delta", data: `{"delta":{"text":"Hi"}}`},
		{event: "message", data: `"plain text, \"quoted\""`},
		{event: "message", data: `"two\nlines"`},
		{event: "message", data: `42`},
		{event: "message", data: `"\ufffd"`},
		{event: "end", data: `{"reason":"done"}`},
	}
	got := history(t, rdb, topic)
	if len(got) != len(want) {
		t.Fatalf("history = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].event != want[i].event || got[i].data != want[i].data {
			t.Errorf("event %d = %s %s, want %s %s", i, got[i].event, got[i].data, want[i].event, want[i].data)
		}
		if !json.Valid([]byte(got[i].data)) {
			t.Errorf("event %d carries %q, not JSON", i, got[i].data)
		}
	}
}

func TestRelayEndsWithUpstreamErrorWhenTheUpstreamBreaksOff(t *testing.T) {
	rdb := redistest.Client(t)
	p := publish.New(rdb, publish.Options{})
	topic := redistest.Name("relay:")
	w, done := pipeRelay(t, context.Background(), p, topic)
	for i := 1; i <= 3; i++ {
		writeUpstream(t, w, sseEvent(chunk(i)))
	}
	waitLen(t, rdb, topic, 3)
	writeUpstream(t, w, "data: {\"half\": ") // an event cut in the middle
	broken := errors.New("connection reset by peer")
	_ = w.CloseWithError(broken)

	o := outcome(t, done)
	if !errors.Is(o.err, broken) || o.res.Reason != publish.RelayUpstreamError || o.res.Events != 3 {
		t.Fatalf("Relay = %+v, %v; want upstream-error after 3 events, wrapping %v", o.res, o.err, broken)
	}
	checkTokens(t, history(t, rdb, topic), 3, publish.RelayUpstreamError)
}

func TestRelayEndsWithUpstreamErrorWithoutTheDoneMarker(t *testing.T) {
	rdb := redistest.Client(t)
	p := publish.New(rdb, publish.Options{})
	topic := redistest.Name("relay:")
	res, err := p.Relay(context.Background(), topic, strings.NewReader(sseEvent(chunk(1))+sseEvent(chunk(2))))
	if !errors.Is(err, publish.ErrUpstreamTruncated) || res.Reason != publish.RelayUpstreamError {
		t.Fatalf("Relay = %+v, %v; an answer without [DONE] may be cut short", res, err)
	}
	checkTokens(t, history(t, rdb, topic), 2, publish.RelayUpstreamError)
}

func TestRelayEndsAtAnUpstreamErrorEvent(t *testing.T) {
	rdb := redistest.Client(t)
	p := publish.New(rdb, publish.Options{})
	for _, name := range []string{"error", "end", "bad name"} {
		topic := redistest.Name("relay:")
		up := sseEvent(chunk(1)) + "event: " + name + "\ndata: {\"type\":\"overloaded\"}\n\n" + sseEvent(chunk(2)) + sseEvent("[DONE]")
		res, err := p.Relay(context.Background(), topic, strings.NewReader(up))
		if !errors.Is(err, publish.ErrUpstreamEventName) || res.Reason != publish.RelayUpstreamError {
			t.Fatalf("upstream event %q: Relay = %+v, %v", name, res, err)
		}
		checkTokens(t, history(t, rdb, topic), 1, publish.RelayUpstreamError)
	}
}

func TestRelayEndsWithCancelledWhenItsContextEnds(t *testing.T) {
	rdb := redistest.Client(t)
	p := publish.New(rdb, publish.Options{})
	topic := redistest.Name("relay:")
	ctx, cancel := context.WithCancel(context.Background())
	w, done := pipeRelay(t, ctx, p, topic)
	for i := 1; i <= 3; i++ {
		writeUpstream(t, w, sseEvent(chunk(i)))
	}
	waitLen(t, rdb, topic, 3)
	cancel() // the upstream stays open, silent

	o := outcome(t, done)
	if !errors.Is(o.err, context.Canceled) || o.res.Reason != publish.RelayCancelled || o.res.Events != 3 || o.res.EndID == "" {
		t.Fatalf("Relay = %+v, %v; want cancelled after 3 events, with an end event", o.res, o.err)
	}
	checkTokens(t, history(t, rdb, topic), 3, publish.RelayCancelled)
}

func TestRelayPublishesWhatWasReadWithTheEndWhenCancelled(t *testing.T) {
	rdb := redistest.Client(t)
	p := publish.New(rdb, publish.Options{})
	topic := redistest.Name("relay:")
	ctx, cancel := context.WithCancel(context.Background())
	// A batch that is never due: the tokens wait in it until the end.
	w, done := pipeRelay(t, ctx, p, topic, publish.RelayBatch(10, time.Hour))
	for i := 1; i <= 3; i++ {
		writeUpstream(t, w, sseEvent(chunk(i)))
	}
	// A write returns once the relay read its bytes; the relay reads again only after it
	// parsed the tokens before: once this comment is read, the three tokens were read.
	writeUpstream(t, w, ": keep-alive\n\n")
	if n, _ := rdb.XLen(ctx, publish.StreamKey(topic)).Result(); n != 0 {
		t.Fatalf("%d events published before the batch was full or due", n)
	}
	cancel()
	o := outcome(t, done)
	if o.res.Reason != publish.RelayCancelled || o.res.Events != 3 {
		t.Fatalf("Relay = %+v, %v; want the 3 tokens read published with the end", o.res, o.err)
	}
	checkTokens(t, history(t, rdb, topic), 3, publish.RelayCancelled)
}

func TestRelayRefusesABadTopicBeforeReading(t *testing.T) {
	p := publish.New(redistest.Client(t), publish.Options{})
	r := strings.NewReader(sseEvent(chunk(1)))
	if _, err := p.Relay(context.Background(), "bad topic", r); !errors.Is(err, publish.ErrInvalidTopic) {
		t.Fatalf("Relay = %v, want %v", err, publish.ErrInvalidTopic)
	}
	if r.Len() == 0 {
		t.Fatal("the upstream was read")
	}
}
