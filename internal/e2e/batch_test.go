package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sseapi/sse-api/internal/redistest"
	pub "github.com/sseapi/sse-api/publish"
)

type batchEvent struct {
	Topic string `json:"topic"`
	Event string `json:"event,omitempty"`
	Data  any    `json:"data"`
}

func batchBody(events ...batchEvent) map[string]any { return map[string]any{"events": events} }

// publishBatch publishes events that must all be accepted and returns their ids.
func publishBatch(t *testing.T, base, tok string, events ...batchEvent) []string {
	t.Helper()
	var out struct{ Ids []string }
	if status := callJSON(t, http.MethodPost, base+"/v1/publish", tok, batchBody(events...), &out); status != http.StatusCreated || len(out.Ids) != len(events) {
		t.Fatalf("batch publish: %d %v", status, out)
	}
	return out.Ids
}

// stored reports how many of the topics' keys exist in Redis.
func stored(t *testing.T, topics ...string) int64 {
	t.Helper()
	var keys []string
	for _, tp := range topics {
		keys = append(keys, pub.StreamKey(tp), pub.MetaKey(tp))
	}
	n, err := redistest.Client(t).Exists(context.Background(), keys...).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// One refused event refuses the batch: nothing of it is in Redis, and the answer names the
// event.
func TestBatchPublishIsAllOrNothing(t *testing.T) {
	a := start(t, settings{MaxPayload: 1024, MaxBatch: 5})
	x, y := redistest.Name("bat:x"), redistest.Name("bat:y")
	tok := token(t, "bea", []string{"bat:*"}, nil)
	ok := func(topic string) batchEvent { return batchEvent{Topic: topic, Data: map[string]int{"n": 1}} }
	for _, c := range []struct {
		name   string
		tok    string
		body   any
		status int
		index  string
	}{
		{"no token", "", batchBody(ok(x)), http.StatusUnauthorized, ""},
		{"bad event name", tok, batchBody(ok(x), ok(y), batchEvent{Topic: x, Event: "bad name", Data: 1}), http.StatusBadRequest, "event 2:"},
		{"bad topic", tok, batchBody(ok(x), batchEvent{Topic: "bat:{x}", Data: 1}), http.StatusBadRequest, "event 1:"},
		{"no data", tok, []byte(`{"events":[{"topic":"` + x + `","data":1},{"topic":"` + y + `"}]}`), http.StatusBadRequest, "event 1:"},
		{"bad body", tok, []byte(`{"events":[{"topic":"` + x + `","data":1}`), http.StatusBadRequest, ""},
		{"empty", tok, batchBody(), http.StatusBadRequest, ""},
		{"not granted", tok, batchBody(ok(x), ok(y), ok("other:1")), http.StatusForbidden, "event 2:"},
		{"reserved", tok, batchBody(ok(x), ok("qr:0123")), http.StatusForbidden, "event 1:"},
		{"too many", tok, batchBody(ok(x), ok(x), ok(x), ok(y), ok(y), ok(y)), http.StatusRequestEntityTooLarge, ""},
		{"data too large", tok, batchBody(ok(x), batchEvent{Topic: y, Data: strings.Repeat("d", 1100)}), http.StatusRequestEntityTooLarge, "event 1:"},
		{"body too large", tok, batchBody(ok(x), batchEvent{Topic: y, Data: strings.Repeat("d", 17*1024)}), http.StatusRequestEntityTooLarge, ""},
	} {
		status, out := call(t, http.MethodPost, a.Base+"/v1/publish", c.tok, c.body)
		msg, _ := out["message"].(string)
		if status != c.status || out["code"] == nil || !strings.HasPrefix(msg, c.index) {
			t.Errorf("%s: %d %v, want %d naming %q", c.name, status, out, c.status, c.index)
		}
	}
	if n := stored(t, x, y); n != 0 {
		t.Fatalf("refused batches left %d keys in Redis", n)
	}
	ids := publishBatch(t, a.Base, tok, ok(x), ok(y))
	if n := stored(t, x, y); n != 4 || ids[0] == "" || ids[1] == "" {
		t.Fatalf("an accepted batch: %d keys, ids %v", n, ids)
	}
}

// Subscribers get a batch's events in order within each topic, with the ids the answer
// gave, in request order.
func TestBatchPublishKeepsOrderPerTopic(t *testing.T) {
	a := start(t, settings{})
	x, y := redistest.Name("bat:ox"), redistest.Name("bat:oy")
	tok := token(t, "bob", []string{"bat:*"}, []string{"bat:*"})
	sx := mustOpen(t, a.Base+"/v1/events?topic="+x, bearer(tok))
	sy := mustOpen(t, a.Base+"/v1/events?topic="+y, bearer(tok))
	sx.waitPosition(t)
	sy.waitPosition(t)
	var events []batchEvent
	for i := range 10 {
		topic := x
		if i%3 == 1 {
			topic = y
		}
		events = append(events, batchEvent{Topic: topic, Event: "n", Data: i})
	}
	ids := publishBatch(t, a.Base, tok, events...)
	for i, e := range events {
		s := sx
		if e.Topic == y {
			s = sy
		}
		got := s.next(t)
		if got.ID != ids[i] || got.Data != fmt.Sprint(i) || got.Type != "n" {
			t.Fatalf("event %d on %s: %+v, want id %s data %d", i, e.Topic, got, ids[i], i)
		}
	}
}

type historyPage struct {
	Events []struct {
		ID    string          `json:"id"`
		Event string          `json:"event"`
		Data  json.RawMessage `json:"data"`
	} `json:"events"`
	Next      string `json:"next"`
	More      bool   `json:"more"`
	Truncated bool   `json:"truncated"`
}

func getHistory(t *testing.T, base, tok, topic, query string) historyPage {
	t.Helper()
	var p historyPage
	if status := callJSON(t, http.MethodGet, base+"/v1/topics/"+topic+"/events?"+query, tok, nil, &p); status != http.StatusOK {
		t.Fatalf("history of %s?%s: %d", topic, query, status)
	}
	return p
}

func TestHistoryPagesThroughWhatIsKept(t *testing.T) {
	// Pages of at most 1 KiB of events: the small ones below all fit in one.
	a := start(t, settings{MaxHistoryPage: 1024})
	topic := redistest.Name("hist:")
	writer := token(t, "pia", []string{"hist:*"}, nil)
	reader := token(t, "rex", nil, []string{"hist:*"})
	var events []batchEvent
	for i := range 7 {
		events = append(events, batchEvent{Topic: topic, Data: map[string]int{"n": i}})
	}
	ids := publishBatch(t, a.Base, writer, events...)

	var got []string
	after := ""
	for page := 0; ; page++ {
		p := getHistory(t, a.Base, reader, topic, "limit=3&after="+url.QueryEscape(after))
		for _, e := range p.Events {
			if want := fmt.Sprintf(`{"n":%d}`, len(got)); string(e.Data) != want || e.Event != "message" {
				t.Fatalf("event %d: %+v, want data %s", len(got), e, want)
			}
			got = append(got, e.ID)
		}
		if p.Truncated || page > 3 {
			t.Fatalf("page %d: %+v", page, p)
		}
		after = p.Next
		if !p.More {
			break
		}
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") || after != ids[6] {
		t.Fatalf("paged %v (next %s), want %v", got, after, ids)
	}
	if p := getHistory(t, a.Base, reader, topic, ""); len(p.Events) != 7 || p.More {
		t.Fatalf("the default limit: %+v", p)
	}
	if p := getHistory(t, a.Base, reader, topic, "after="+ids[6]); len(p.Events) != 0 || p.Next != ids[6] || p.More || p.Events == nil {
		t.Fatalf("after the last: %+v", p)
	}

	// Larger events: each page stops within Stream.MaxHistoryPage, says more follow and the
	// next goes on right after it; the event over the bound by itself comes alone.
	big := redistest.Name("hist:big")
	events = nil
	for _, n := range []int{400, 400, 400, 1500, 100, 100} {
		events = append(events, batchEvent{Topic: big, Data: strings.Repeat("x", n)})
	}
	bigIDs := publishBatch(t, a.Base, writer, events...)
	var sizes []int
	got, after = nil, ""
	for page := 0; ; page++ {
		p := getHistory(t, a.Base, reader, big, "limit=1000&after="+url.QueryEscape(after))
		bytes := 0
		for _, e := range p.Events {
			bytes += len(e.ID) + len(e.Event) + len(e.Data)
			got = append(got, e.ID)
		}
		sizes = append(sizes, len(p.Events))
		if len(p.Events) == 0 || (len(p.Events) > 1 && bytes > 1024) || p.Next != got[len(got)-1] || page > 5 {
			t.Fatalf("page %d of large events (%d bytes): %+v", page, bytes, p)
		}
		after = p.Next
		if !p.More {
			break
		}
	}
	if strings.Join(got, ",") != strings.Join(bigIDs, ",") || fmt.Sprint(sizes) != "[2 1 1 2]" {
		t.Fatalf("paged %v in pages of %v, want %v in pages of [2 1 1 2]", got, sizes, bigIDs)
	}

	for _, c := range []struct {
		name, tok, topic, query string
		status                  int
	}{
		{"no token", "", topic, "", http.StatusUnauthorized},
		{"no subscribe grant", writer, topic, "", http.StatusForbidden},
		{"reserved", token(t, "q", nil, []string{"*"}), "qr:0123", "", http.StatusForbidden},
		{"watched key", token(t, "k", nil, []string{"*"}), "key:demo:1", "", http.StatusBadRequest},
		{"bad after", reader, topic, "after=yesterday", http.StatusBadRequest},
		{"limit 0", reader, topic, "limit=0", http.StatusBadRequest},
		{"limit over", reader, topic, "limit=1001", http.StatusBadRequest},
		{"bad topic", reader, "a%20b", "", http.StatusBadRequest},
	} {
		status, out := call(t, http.MethodGet, a.Base+"/v1/topics/"+c.topic+"/events?"+c.query, c.tok, nil)
		if status != c.status || out["code"] == nil {
			t.Errorf("%s: %d %v, want %d", c.name, status, out, c.status)
		}
	}
}

// A reader whose after was trimmed away is told so, and gets what is still kept.
func TestHistoryIsTruncatedAfterTrimming(t *testing.T) {
	// A Redis of its own: the instance records its bounds there (publish.HistoryKey).
	redis := redistest.StartServer(t, redistest.Options{})
	a := start(t, settings{RedisAddr: redis.Addr(), HistorySize: 3})
	topic := redistest.Name("hist:t")
	tok := token(t, "tia", []string{"hist:*"}, []string{"hist:*"})
	var events []batchEvent
	for i := range 6 {
		events = append(events, batchEvent{Topic: topic, Data: i})
	}
	ids := publishBatch(t, a.Base, tok, events...)
	p := getHistory(t, a.Base, tok, topic, "after="+ids[0])
	if !p.Truncated || len(p.Events) != 3 || p.Events[0].ID != ids[3] || p.Next != ids[5] {
		t.Fatalf("after a trimmed event: %+v", p)
	}
	if p := getHistory(t, a.Base, tok, topic, "after="+ids[2]); p.Truncated || len(p.Events) != 3 {
		t.Fatalf("after the newest trimmed event: %+v", p)
	}
	if p := getHistory(t, a.Base, tok, topic, ""); p.Truncated || len(p.Events) != 3 || p.Events[0].ID != ids[3] {
		t.Fatalf("from the oldest kept: %+v", p)
	}
}
