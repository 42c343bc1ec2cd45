package e2e

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sse "github.com/tmaxmax/go-sse"

	"github.com/sseapi/sse-api/internal/redistest"
)

// These tests read the service's own streams, end to end through publish, Redis and the
// broker, with github.com/tmaxmax/go-sse, a spec-faithful parser that is not ours. The
// writer alone is checked against go-sse and against the WHATWG algorithm, and fuzzed, in
// internal/ssewire; what is checked here is that nothing on the way changes a payload.

// wirePayloads are "data" values as a publisher sends them, raw JSON text, escapes chosen on
// purpose: the service must keep each one's text as sent, compacted, and nothing else.
var wirePayloads = []struct {
	name, event, data string
}{
	{"escaped CR", "", `"a\rb"`},
	{"escaped LF", "", `"a\nb"`},
	{"escaped CRLF", "", `"a\r\nb\r\n"`},
	{"lone escaped CR at the end", "", `"end\r"`},
	{"leading space", "", `" leading space"`},
	{"leading colon", "", `":leading colon"`},
	{"field-like text", "", `"\n\nevent: evil\rid: 666\r\nretry: 1\n\ndata: x"`},
	{"escaped U+2028 and U+2029", "", `"line\u2028sep\u2029par"`},
	{"raw U+2028 and U+2029", "", "\"line\u2028sep\u2029par\""},
	{"escaped NUL", "", `"nul\u0000inside"`},
	{"raw non-ASCII", "", `"héllo, 日本語, 🎉"`},
	{"escaped non-ASCII and surrogates", "", `"h\u00e9llo \ud83c\udf89"`},
	{"HTML-ish escapes kept", "", `"\u003cscript\u003e \u0026 \/"`},
	{"named event", "update", `{"state":"shipped"}`},
	{"numbers as written", "", `[1, 2.50, -0, 1e3, 1E-7, 12345678901234567890]`},
	// Whitespace between tokens, with every kind of line break, is compacted away.
	{"pretty-printed with CRLF, LF and CR", "", "{\r\n  \"a\": 1,\n  \"b\" :\r[ true ,null ]\r\n}"},
	{"60 KiB value", "big", `"` + strings.Repeat("0123456789abcdef", 60<<10/16) + `"`},
	{"60 KiB of escapes", "", `"` + strings.Repeat(`\r\n`, 60<<10/4/2) + `"`},
}

// teeStream opens topic on a with bearer and returns go-sse's events and a copy of the raw
// bytes the parser read.
type teeStream struct {
	events chan sse.Event
	ended  chan struct{}
	mu     sync.Mutex
	raw    bytes.Buffer
}

func (s *teeStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.raw.Write(p)
}

func (s *teeStream) rawText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.raw.String()
}

func openTee(t *testing.T, url, bearer string) *teeStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s %s", url, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	s := &teeStream{events: make(chan sse.Event, 256), ended: make(chan struct{})}
	go func() {
		defer close(s.ended)
		// go-sse's default limit is 64 KiB per event; the service allows payloads up to
		// Stream.MaxPayload, so a client must be ready for a little more than that.
		for ev, err := range sse.Read(io.TeeReader(resp.Body, s), &sse.ReadConfig{MaxEventSize: 1 << 20}) {
			if err != nil {
				return
			}
			s.events <- ev
		}
	}()
	return s
}

func (s *teeStream) next(t *testing.T) sse.Event {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-s.ended:
		t.Fatal("the stream ended while waiting for an event")
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return sse.Event{}
}

// nextData skips the blocks that carry no data: the stream's position (an id alone), which
// go-sse yields but a browser does not dispatch.
func (s *teeStream) nextData(t *testing.T) sse.Event {
	t.Helper()
	for {
		if ev := s.next(t); ev.Data != "" {
			return ev
		}
	}
}

func TestGoSSEReadsPublishedPayloadsByteForByte(t *testing.T) {
	a := start(t, settings{})
	topic := redistest.Name("wire:")
	tok := token(t, "wendy", []string{"wire:*"}, []string{"wire:*"})
	s := openTee(t, a.Base+"/v1/events?topic="+topic, tok)
	if pos := s.next(t); pos.Data != "" || pos.LastEventID == "" {
		t.Fatalf("first block %+v, want the stream's position: an id and no data", pos)
	}

	ids := make([]string, len(wirePayloads))
	for i, p := range wirePayloads {
		// The body is assembled as text so that the data's escapes are exactly as written.
		body := `{"data": ` + p.data + `}`
		if p.event != "" {
			body = `{"event": "` + p.event + `", "data": ` + p.data + `}`
		}
		var out struct{ ID string }
		if status := callJSON(t, http.MethodPost, a.Base+"/v1/topics/"+topic+"/events", tok, []byte(body), &out); status != http.StatusCreated {
			t.Fatalf("publish %s: %d", p.name, status)
		}
		ids[i] = out.ID
	}

	for i, p := range wirePayloads {
		ev := s.nextData(t)
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(p.data)); err != nil {
			t.Fatalf("%s: the test's payload is not JSON: %v", p.name, err)
		}
		if ev.Data != compact.String() {
			t.Errorf("%s: go-sse read data\n %.300q\nwant the compacted body as sent\n %.300q", p.name, ev.Data, compact.String())
		}
		var got, want any
		if err := json.Unmarshal([]byte(ev.Data), &got); err != nil {
			t.Errorf("%s: data is not JSON: %v", p.name, err)
		}
		_ = json.Unmarshal([]byte(p.data), &want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: decoded value %.200v, want %.200v", p.name, got, want)
		}
		if ev.LastEventID != ids[i] {
			t.Errorf("%s: id %q, want %q (the id publishing returned)", p.name, ev.LastEventID, ids[i])
		}
		// Unnamed events are sent as "message", the type a browser gives them anyway.
		if want := cmp.Or(p.event, "message"); ev.Type != want {
			t.Errorf("%s: event type %q, want %q", p.name, ev.Type, want)
		}
	}

	// Compacted JSON has no raw line break, so each event is one data line: a payload can
	// never reach the framing, whatever its escapes decode to.
	for line := range strings.Lines(s.rawText()) {
		if strings.HasPrefix(line, "data:") && strings.ContainsAny(strings.TrimSuffix(line, "\n"), "\r\n") {
			t.Errorf("a data line holds a raw line break: %.100q", line)
		}
	}
}

func TestGoSSESeesHeartbeatsAsCommentsOnly(t *testing.T) {
	a := start(t, settings{Heartbeat: "50ms"})
	topic := redistest.Name("beat:")
	tok := token(t, "hank", []string{"beat:*"}, []string{"beat:*"})
	s := openTee(t, a.Base+"/v1/events?topic="+topic, tok)
	s.next(t) // the position

	// Wait for heartbeats in the raw stream, then check that the parser made nothing of
	// them: the next thing it yields must be the next real event.
	deadline := time.Now().Add(10 * time.Second)
	for heartbeats(s.rawText()) < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 5 heartbeats in 10s; the stream so far:\n%q", s.rawText())
		}
		select {
		case ev := <-s.events:
			t.Fatalf("go-sse yielded %+v from a stream that had only heartbeats", ev)
		case <-s.ended:
			t.Fatal("the stream ended")
		case <-time.After(20 * time.Millisecond):
		}
	}
	id := publish(t, a, tok, topic, `"after the heartbeats"`)
	if ev := s.next(t); ev.Data != `"after the heartbeats"` || ev.LastEventID != id {
		t.Fatalf("after heartbeats go-sse yielded %+v, want the event %s", ev, id)
	}
}

// heartbeats counts the comment lines of a raw stream, the opening ": ok" aside.
func heartbeats(raw string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(raw))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), ":") && sc.Text() != ": ok" {
			n++
		}
	}
	return n
}

func publish(t *testing.T, a *instance, tok, topic, data string) string {
	t.Helper()
	var out struct{ ID string }
	if status := callJSON(t, http.MethodPost, a.Base+"/v1/topics/"+topic+"/events", tok, []byte(`{"data": `+data+`}`), &out); status != http.StatusCreated {
		t.Fatalf("publish %s: %d", data, status)
	}
	return out.ID
}

// go-sse's own client follows a ticket's stream: it reads the retry the stream announces
// and waits that long (not its own backoff) when the stream ends, reconnects with the same
// URL, the resume cookie (a cookie jar, as a browser keeps) and Last-Event-ID, and misses
// and repeats nothing.
func TestGoSSEClientReconnectsAfterRetryAndResumes(t *testing.T) {
	const retry = 300 * time.Millisecond
	// Ticket streams end at ResumeTTL/2, so this one ends (and is resumed) after 4 s. Not
	// less: the cookie's JWT expiry has whole seconds, so it may lapse up to 1 s early, and
	// the other half must also cover a busy machine's delays (a run with 4 s saw the
	// reconnect come 0.7 s after the cookie lapsed, and refused).
	a := start(t, settings{Retry: "300ms", ResumeTTL: "8s"})
	topic := redistest.Name("client:")
	tok := token(t, "ian", []string{"client:*"}, []string{"client:*"})
	var ticket struct{ Ticket string }
	if status := callJSON(t, http.MethodPost, a.Base+"/v1/tickets", tok, map[string]any{"topics": []string{topic}}, &ticket); status != http.StatusCreated {
		t.Fatalf("ticket: %d", status)
	}

	jar, _ := cookiejar.New(nil)
	retries := make(chan time.Duration, 16)
	client := sse.Client{
		HTTPClient: &http.Client{Jar: jar},
		// Far from retry, so a delay near retry can only come from the stream's retry field.
		Backoff: sse.Backoff{InitialInterval: 20 * time.Second},
		OnRetry: func(_ error, next time.Duration) { retries <- next },
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.Base+"/v1/events?ticket="+ticket.Ticket, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn := client.NewConnection(req)
	events := make(chan sse.Event, 64)
	positioned := make(chan struct{})
	var once sync.Once
	conn.SubscribeToAll(func(ev sse.Event) {
		if ev.LastEventID != "" {
			once.Do(func() { close(positioned) })
		}
		if ev.Data != "" {
			events <- ev
		}
	})
	connected := make(chan error, 1)
	go func() { connected <- conn.Connect() }()
	select {
	case <-positioned:
	case err := <-connected:
		t.Fatalf("Connect: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the stream never told its position")
	}

	var ids []string
	var got []sse.Event
	receive := func(n int) {
		for len(got) < n {
			select {
			case ev := <-events:
				got = append(got, ev)
			case err := <-connected:
				t.Fatalf("go-sse gave up: %v", err)
			case <-time.After(10 * time.Second):
				t.Fatalf("have %d events, want %d", len(got), n)
			}
		}
	}
	for i := 0; i < 2; i++ {
		ids = append(ids, publish(t, a, tok, topic, strconv.Itoa(i)))
	}
	receive(2)
	// The stream ends (its resume-cookie half-life); while go-sse waits to reconnect,
	// publish more.
	var delay time.Duration
	select {
	case delay = <-retries:
	case err := <-connected:
		t.Fatalf("go-sse gave up: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the ticket's stream did not end within 10s")
	}
	for i := 2; i < 4; i++ {
		ids = append(ids, publish(t, a, tok, topic, strconv.Itoa(i)))
	}
	receive(4)

	// go-sse jitters the delay by up to half of it either way.
	if delay < retry/2 || delay > retry*3/2 {
		t.Errorf("go-sse's reconnect delay %v, want %v ± 50%%: the retry field was not read", delay, retry)
	}
	for i, ev := range got {
		if ev.Data != strconv.Itoa(i) || ev.LastEventID != ids[i] {
			t.Errorf("event %d: %+v, want data %d and id %s", i, ev, i, ids[i])
		}
	}
	cancel()
	if err := <-connected; !errors.Is(err, context.Canceled) {
		t.Errorf("Connect ended with %v", err)
	}
}
