package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func chunk(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }

// The parser must see the same events however the bytes are cut into reads.
func TestParserAnySplit(t *testing.T) {
	body := "retry: 2000\n: ok\n\n" + "id: 1-0\n\n" +
		"id: 2-0\nevent: b\ndata: {\"s\":1,\"t\":1700000000000000000}\n\n" +
		":\n\n" +
		"id: 3-0\r\nevent: confirmed\r\ndata: {\"s\":2,\"t\":1700000000000000001,\"p\":\"xx\"}\r\n\r\n"
	for _, chunked := range []bool{false, true} {
		wire := body
		if chunked {
			// chunks that cut lines anywhere, with an extension on one
			wire = chunk(body[:7]) + strings.Replace(chunk(body[7:40]), "\r\n", ";ext=1\r\n", 1) + chunk(body[40:])
		}
		for step := 1; step <= len(wire); step++ {
			var got []string
			p := newParser(chunked, func(ev *sseEvent) {
				got = append(got, fmt.Sprintf("%s/%d/%d", ev.name, ev.seq, ev.ts))
			})
			for i := 0; i < len(wire); i += step {
				if err := p.feed([]byte(wire[i:min(i+step, len(wire))])); err != nil {
					t.Fatalf("chunked=%v step %d: %v", chunked, step, err)
				}
			}
			want := []string{"b/1/1700000000000000000", "confirmed/2/1700000000000000001"}
			if fmt.Sprint(got) != fmt.Sprint(want) || !p.positioned || p.comments != 2 || string(p.lastID) != "3-0" || p.retry != 2000 {
				t.Fatalf("chunked=%v step %d: events %v positioned %v comments %d last id %q retry %d",
					chunked, step, got, p.positioned, p.comments, p.lastID, p.retry)
			}
		}
	}
}

func TestParserEndOfChunkedBody(t *testing.T) {
	p := newParser(true, func(*sseEvent) {})
	if err := p.feed([]byte(chunk(": ok\n\n") + "0\r\n\r\n")); err != errEndOfStream {
		t.Fatalf("err = %v, want the end of the stream", err)
	}
	if err := newParser(true, func(*sseEvent) {}).feed([]byte("zz\r\n")); err != errBadChunk {
		t.Fatalf("err = %v, want a malformed chunk", err)
	}
}

// Sequence numbers tell lost and duplicated events apart.
func TestStreamSequence(t *testing.T) {
	s := &stream{next: 1}
	for _, seq := range []int64{1, 2, 2, 5, 6, 3} {
		s.onEvent(&sseEvent{seq: seq}, &hist{})
	}
	if s.next != 7 || s.gaps != 2 || s.dup != 2 {
		t.Fatalf("next %d gaps %d dup %d, want 7, 2 (3 and 4), 2 (2 again, 3 late)", s.next, s.gaps, s.dup)
	}
}

func TestHistogram(t *testing.T) {
	var h hist
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	s := h.snapshot()
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := s.quantile(c.q)
		if got < c.want || float64(got) > float64(c.want)*1.02 {
			t.Errorf("q%.2f = %v, want %v within 2%%", c.q, got, c.want)
		}
	}
	if s.Max != int64(time.Second) || s.total() != 1000 {
		t.Fatalf("max %v total %d", time.Duration(s.Max), s.total())
	}
	for v := int64(0); v < 1<<40; v = v*3 + 1 {
		if i := histIndex(v); histUpper(i) < v || (i > 0 && histUpper(i-1) >= v) {
			t.Fatalf("value %d in bucket %d with upper bound %d", v, i, histUpper(i))
		}
	}
}
