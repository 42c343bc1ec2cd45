package keywatch

import (
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/sseapi/sse-api/internal/redisconn"
	"github.com/sseapi/sse-api/internal/redistest"
)

func xadd(t *testing.T, rdb redis.Cmdable, key string, maxLen int64, values ...any) string {
	t.Helper()
	id, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: key, MaxLen: maxLen, Values: values}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Entries become events with their ids: "event" names them, a lone "data" is the data,
// other fields make an object.
func TestStreamKeyEntriesAreEvents(t *testing.T) {
	srv := notifying(t, "KEA")
	rdb := srv.Client(t)
	s := watching(t, redisconn.Conf{Addr: srv.Addr()}, rules(streamRule("progress:*")))
	key := redistest.Name("progress:")
	xadd(t, rdb, key, 0, "data", "before")

	c, _ := s.subscribe("", "key:"+key)
	ids := []string{
		xadd(t, rdb, key, 0, "event", "progress", "data", `{"percent":10}`),
		xadd(t, rdb, key, 0, "data", "plain"),
		xadd(t, rdb, key, 0, "event", "step", "name", "upload", "percent", "50"),
		xadd(t, rdb, key, 0, "event", "bad name", "data", "1"),
	}
	got := c.waitN(t, 4)
	want := []frame{
		{ids[0], "progress", `{"percent":10}`},
		{ids[1], "message", `"plain"`},
		{ids[2], "step", `{"name":"upload","percent":"50"}`},
		{ids[3], "message", `{"data":"1","event":"bad name"}`},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("frames\n %v\nwant\n %v", got, want)
	}
}

// Resume is as for sse-api's own topics: what came after the position, once, then live.
func TestStreamKeyResumesWithoutLossOrDuplicate(t *testing.T) {
	srv := notifying(t, "KEA")
	rdb := srv.Client(t)
	s := watching(t, redisconn.Conf{Addr: srv.Addr()}, rules(streamRule("jobs:*")))
	key := redistest.Name("jobs:")
	var ids []string
	for i := range 3 {
		ids = append(ids, xadd(t, rdb, key, 0, "data", fmt.Sprint(i)))
	}
	c, stop := s.subscribe(ids[0], "key:"+key)
	ids = append(ids, xadd(t, rdb, key, 0, "data", "3"))
	got := c.waitN(t, 3)
	stop()
	if datas(got) != "1,2,3" {
		t.Fatalf("replayed then live: %v", got)
	}
	_, pos := c.snapshot()
	if pos != ids[3] {
		t.Fatalf("position %s, want %s", pos, ids[3])
	}
	for i := 4; i < 300; i++ { // beyond a page of replay
		xadd(t, rdb, key, 0, "data", fmt.Sprint(i))
	}
	again, _ := s.subscribe(pos, "key:"+key)
	xadd(t, rdb, key, 0, "data", "300")
	got = again.waitN(t, 297)
	want := make([]string, 0, 297)
	for i := 4; i <= 300; i++ {
		want = append(want, fmt.Sprint(i))
	}
	if datas(got) != strings.Join(want, ",") {
		t.Fatalf("resumed: %v", datas(got))
	}
}

// A position whose entries were trimmed gets a reset first; a live reader of a stream
// trimmed to its newest entry (MAXLEN 1), which always finds its own position trimmed,
// gets none: nothing after it was lost.
func TestStreamKeyTrimming(t *testing.T) {
	srv := notifying(t, "KEA")
	rdb := srv.Client(t)
	s := watching(t, redisconn.Conf{Addr: srv.Addr()}, rules(streamRule("feed:*")))
	key := redistest.Name("feed:")
	first := xadd(t, rdb, key, 0, "data", "0")
	for i := 1; i < 10; i++ {
		xadd(t, rdb, key, 0, "data", fmt.Sprint(i))
	}
	rdb.XTrimMaxLen(ctx, key, 3)
	c, _ := s.subscribe(first, "key:"+key)
	got := c.waitN(t, 4)
	if got[0].event != "reset" || !strings.Contains(got[0].data, `"reason":"history_trimmed"`) || datas(got[1:]) != "7,8,9" {
		t.Fatalf("resumed after trimming: %v", got)
	}

	latest := redistest.Name("feed:")
	xadd(t, rdb, latest, 1, "data", "0")
	live, _ := s.subscribe("", "key:"+latest)
	for i := 1; i <= 50; i++ {
		xadd(t, rdb, latest, 1, "data", fmt.Sprint(i))
		live.waitLast(t, "message", fmt.Sprint(i))
	}
	if got := live.waitN(t, 50); len(got) != 50 {
		t.Fatalf("live on a MAXLEN 1 stream: %v", got)
	}

	// Deleted after the position (XDEL): max-deleted-entry-id says so.
	deleted := redistest.Name("feed:")
	a := xadd(t, rdb, deleted, 0, "data", "a")
	b := xadd(t, rdb, deleted, 0, "data", "b")
	xadd(t, rdb, deleted, 0, "data", "c")
	rdb.XDel(ctx, deleted, b)
	d, _ := s.subscribe(a, "key:"+deleted)
	got = d.waitN(t, 2)
	if got[0].event != "reset" || got[0].id != b || got[1].data != `"c"` {
		t.Fatalf("resumed after XDEL: %v", got)
	}

	// The stream's key deleted: a position in it is unknown.
	gone := redistest.Name("feed:")
	g := xadd(t, rdb, gone, 0, "data", "x")
	rdb.Del(ctx, gone)
	u, _ := s.subscribe(g, "key:"+gone)
	if got := u.waitN(t, 1); got[0].event != "reset" || !strings.Contains(got[0].data, "unknown_position") {
		t.Fatalf("resumed in a deleted stream: %v", got)
	}
	xadd(t, rdb, gone, 0, "data", "new")
	u.waitLast(t, "message", `"new"`)
}

func datas(frames []frame) string {
	var out []string
	for _, f := range frames {
		out = append(out, strings.Trim(f.data, `"`))
	}
	return strings.Join(out, ",")
}
