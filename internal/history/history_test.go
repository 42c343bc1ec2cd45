package history_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sseapi/sse-api/internal/history"
	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/publish"
)

// publishN publishes n events numbered from 0 and returns their ids.
func publishN(t *testing.T, p *publish.Publisher, topic string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		id, err := p.Publish(context.Background(), topic, "n", []byte(`{"n":`+string(rune('0'+i))+`}`))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

func page(t *testing.T, r *history.Reader, topic, after string, limit int) history.Page {
	t.Helper()
	p, err := r.Page(context.Background(), topic, after, limit)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func eventIDs(p history.Page) []string {
	out := make([]string, len(p.Events))
	for i, e := range p.Events {
		out[i] = e.Id
	}
	return out
}

func same(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Pages follow on from each other through what is kept, and say when the after asked for
// is older than the history.
func TestPagesThroughTheKeptHistory(t *testing.T) {
	// A Redis of its own: bounds recorded in a shared one (publish.HistoryKey) would apply.
	rdb := redistest.StartServer(t, redistest.Options{}).Client(t)
	ids := publishN(t, publish.New(rdb, publish.Options{HistorySize: 4}), "h", 6) // keeps 2..5
	r := history.New(rdb, 0)

	p := page(t, r, "h", "", 3)
	if !same(eventIDs(p), ids[2:5]) || p.Next != ids[4] || !p.More || p.Truncated {
		t.Fatalf("first page %+v", p)
	}
	if e := p.Events[0]; e.Event != "n" || string(e.Data) != `{"n":2}` {
		t.Fatalf("event %+v", e)
	}
	p = page(t, r, "h", p.Next, 3)
	if !same(eventIDs(p), ids[5:]) || p.Next != ids[5] || p.More || p.Truncated {
		t.Fatalf("second page %+v", p)
	}
	p = page(t, r, "h", p.Next, 3)
	if len(p.Events) != 0 || p.Next != ids[5] || p.More || p.Truncated {
		t.Fatalf("past the end %+v", p)
	}
	// ids[1] was the newest trimmed: after it nothing is missing, after ids[0] it is.
	if p := page(t, r, "h", ids[1], 10); !same(eventIDs(p), ids[2:]) || p.Truncated {
		t.Fatalf("after the floor %+v", p)
	}
	if p := page(t, r, "h", ids[0], 10); !same(eventIDs(p), ids[2:]) || !p.Truncated {
		t.Fatalf("before the floor %+v", p)
	}
	if p := page(t, r, "h", "", history.MaxLimit); len(p.Events) != 4 || p.More {
		t.Fatalf("all at once %+v", p)
	}
	if p := page(t, r, "never-used", "", 10); len(p.Events) != 0 || p.Next != "" || p.More || p.Truncated {
		t.Fatalf("unknown topic %+v", p)
	}
}

func TestExpiredHistoryIsTruncated(t *testing.T) {
	rdb := redistest.StartServer(t, redistest.Options{}).Client(t)
	ids := publishN(t, publish.New(rdb, publish.Options{HistoryTTL: time.Second}), "x", 3)
	// The position (meta) lives twice as long: a second to read it once the events are gone.
	redistest.WaitFor(t, 5*time.Second, "the history to expire", func() error {
		if n, _ := rdb.Exists(context.Background(), publish.StreamKey("x")).Result(); n != 0 {
			return errors.New("still there")
		}
		return nil
	})
	r := history.New(rdb, 0)
	if p := page(t, r, "x", ids[0], 10); len(p.Events) != 0 || !p.Truncated || p.Next != ids[0] {
		t.Fatalf("after an expired event %+v", p)
	}
	if p := page(t, r, "x", ids[2], 10); p.Truncated {
		t.Fatalf("after the last event %+v", p)
	}
	if p := page(t, r, "x", "", 10); p.Truncated || p.Next != ids[2] {
		t.Fatalf("from the start %+v: want to go on from the newest id", p)
	}
}

func TestPageRefusesBadArguments(t *testing.T) {
	r := history.New(redistest.Client(t), 0)
	ctx := context.Background()
	for _, c := range []struct {
		topic, after string
		limit        int
		want         error
	}{
		{"a b", "", 10, history.ErrInvalidTopic},
		{"ok", "x-1", 10, history.ErrInvalidAfter},
		{"ok", "1-2-3", 10, history.ErrInvalidAfter},
		{"ok", "", 0, history.ErrInvalidLimit},
		{"ok", "", history.MaxLimit + 1, history.ErrInvalidLimit},
	} {
		if _, err := r.Page(ctx, c.topic, c.after, c.limit); !errors.Is(err, c.want) {
			t.Errorf("Page(%q, %q, %d) = %v, want %v", c.topic, c.after, c.limit, err, c.want)
		}
	}
}

// size is what an event counts for against a page's byte bound.
func size(e history.Event) int { return len(e.Id) + len(e.Event) + len(e.Data) }

// publishSized publishes events whose data is a JSON string of each given length.
func publishSized(t *testing.T, p *publish.Publisher, topic string, lengths ...int) []string {
	t.Helper()
	ids := make([]string, len(lengths))
	for i, n := range lengths {
		id, err := p.Publish(context.Background(), topic, "s", []byte(`"`+strings.Repeat("x", n-2)+`"`))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

// pageAll pages through topic from the start, checking each page against the byte bound:
// within it, full (the next event would not have fitted) when more follow, and at least
// one event.
func pageAll(t *testing.T, r *history.Reader, topic string, limit, maxBytes int) (ids []string, pages []history.Page) {
	t.Helper()
	after := ""
	for {
		p := page(t, r, topic, after, limit)
		total := 0
		for _, e := range p.Events {
			total += size(e)
			ids = append(ids, e.Id)
		}
		if len(p.Events) == 0 || p.Truncated || len(pages) > 1000 {
			t.Fatalf("page %d after %q: %+v", len(pages), after, p)
		}
		if total > maxBytes && len(p.Events) > 1 {
			t.Fatalf("page %d holds %d bytes in %d events, over %d", len(pages), total, len(p.Events), maxBytes)
		}
		if p.Next != p.Events[len(p.Events)-1].Id {
			t.Fatalf("page %d: next %s is not its last event", len(pages), p.Next)
		}
		pages = append(pages, p)
		if !p.More {
			return ids, pages
		}
		after = p.Next
	}
}

// A page stops before the event that would take it past the byte bound, says more follow,
// and the next goes on right after it: paging gives every event once, in order.
func TestPagesStayWithinTheByteBound(t *testing.T) {
	rdb := redistest.StartServer(t, redistest.Options{}).Client(t)
	pub := publish.New(rdb, publish.Options{HistorySize: 1000})
	const maxBytes = 1000
	lengths := []int{300, 200, 400, 100, 900, 50, 50, 2500, 10, 600, 600, 2}
	ids := publishSized(t, pub, "b", lengths...)
	r := history.New(rdb, maxBytes)

	got, pages := pageAll(t, r, "b", history.MaxLimit, maxBytes)
	if !same(got, ids) {
		t.Fatalf("paged %v, want %v", got, ids)
	}
	for i, p := range pages[:len(pages)-1] {
		total := 0
		for _, e := range p.Events {
			total += size(e)
		}
		next := pages[i+1].Events[0]
		if total+size(next) <= maxBytes {
			t.Errorf("page %d (%d bytes) ended before %s (%d bytes), which fitted", i, total, next.Id, size(next))
		}
	}
	// The 2500-byte event, over the bound by itself, comes alone and paging goes on past it.
	big := slices.IndexFunc(pages, func(p history.Page) bool { return p.Events[0].Id == ids[7] })
	if big < 0 || len(pages[big].Events) != 1 || !pages[big].More {
		t.Fatalf("the event over the bound: %+v", pages)
	}
	if p := page(t, r, "b", ids[6], 1); !same(eventIDs(p), ids[7:8]) || !p.More || p.Next != ids[7] {
		t.Fatalf("right before the large event, limit 1: %+v", p)
	}
	// The limit of events still applies within the bound.
	if p := page(t, r, "b", "", 1); !same(eventIDs(p), ids[:1]) || !p.More {
		t.Fatalf("limit 1: %+v", p)
	}
	// Tail: the last page's events all fit and nothing follows.
	if p := page(t, r, "b", ids[9], history.MaxLimit); !same(eventIDs(p), ids[10:]) || p.More {
		t.Fatalf("the last page: %+v", p)
	}
}

// Redis reads a page in small chunks: pages that end on, before and after a chunk's end,
// by the limit or by bytes, still follow on from each other exactly.
func TestPagesAcrossReadChunks(t *testing.T) {
	rdb := redistest.StartServer(t, redistest.Options{}).Client(t)
	pub := publish.New(rdb, publish.Options{HistorySize: 1000})
	ids := publishSized(t, pub, "c", slices.Repeat([]int{20}, 100)...)
	r := history.New(rdb, 0)
	for _, limit := range []int{31, 32, 33, 64, 99, 100, 101, history.MaxLimit} {
		got, pages := pageAll(t, r, "c", limit, history.DefaultMaxBytes)
		if !same(got, ids) || len(pages) != (100+limit-1)/limit {
			t.Errorf("limit %d: %d pages, %d events, want every one of %d in order", limit, len(pages), len(got), len(ids))
		}
	}
	// Ids vary in length (their sequence numbers): the bound is set from the events' sizes.
	all := page(t, r, "c", "", history.MaxLimit)
	for _, fit := range []int{31, 32, 33, 40, 64, 65} {
		maxBytes := size(all.Events[fit]) / 2
		for _, e := range all.Events[:fit] {
			maxBytes += size(e)
		}
		got, pages := pageAll(t, history.New(rdb, int64(maxBytes)), "c", history.MaxLimit, maxBytes)
		if !same(got, ids) || len(pages[0].Events) != fit {
			t.Errorf("%d events a page: first page of %d, %d events in all", fit, len(pages[0].Events), len(got))
		}
	}
}
