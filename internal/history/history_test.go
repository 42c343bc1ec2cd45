package history_test

import (
	"context"
	"errors"
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
	r := history.New(rdb)

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
	r := history.New(rdb)
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
	r := history.New(redistest.Client(t))
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
