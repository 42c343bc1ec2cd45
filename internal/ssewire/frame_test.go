package ssewire

import (
	"errors"
	"testing"
)

// bodyCases are the exact bytes AppendBody must produce. They are shared with the
// WriteEvent, WriteFrame and go-sse tests.
var bodyCases = []struct {
	name  string
	event string
	data  string
	want  string
}{
	{"plain", "", "hello", "data: hello\n"},
	{"multi-line LF", "", "a\nb\nc", "data: a\ndata: b\ndata: c\n"},
	{"CRLF", "", "a\r\nb", "data: a\ndata: b\n"},
	{"bare CR", "", "a\rb", "data: a\ndata: b\n"},
	{"LF then CR is two breaks", "", "a\n\rb", "data: a\ndata: \ndata: b\n"},
	{"mixed", "", "a\r\n\rb\n\r\nc", "data: a\ndata: \ndata: b\ndata: \ndata: c\n"},
	{"trailing LF", "", "a\n", "data: a\ndata: \n"},
	{"trailing CR", "", "a\r", "data: a\ndata: \n"},
	{"trailing CRLF", "", "a\r\n", "data: a\ndata: \n"},
	{"only LF", "", "\n", "data: \ndata: \n"},
	{"only CRLF CRLF", "", "\r\n\r\n", "data: \ndata: \ndata: \n"},
	{"leading space", "", " a", "data:  a\n"},
	{"leading colon", "", ":a", "data: :a\n"},
	{"empty data", "", "", "data: \n"},
	{"NUL passes through", "", "a\x00b", "data: a\x00b\n"},
	{"CR cannot inject a field", "", "x\revent: evil\rid: 9\r\rdata: y", "data: x\ndata: event: evil\ndata: id: 9\ndata: \ndata: data: y\n"},
	{"event name", "update", "x", "event: update\ndata: x\n"},
	{"event name with colon and leading space", " a:b", "x", "event:  a:b\ndata: x\n"},
}

func TestAppendBody(t *testing.T) {
	for _, tc := range bodyCases {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("keep")
			got, err := AppendBody(prefix, tc.event, []byte(tc.data))
			if err != nil {
				t.Fatalf("AppendBody: %v", err)
			}
			if want := "keep" + tc.want; string(got) != want {
				t.Fatalf("AppendBody(%q, %q)\n got %q\nwant %q", tc.event, tc.data, got, want)
			}
		})
	}
}

func TestAppendBodyNilData(t *testing.T) {
	got, err := AppendBody(nil, "", nil)
	if err != nil || string(got) != "data: \n" {
		t.Fatalf("AppendBody(nil data) = %q, %v; want %q", got, err, "data: \n")
	}
}

var invalidFields = []string{"a\rb", "a\nb", "a\r\nb", "a\x00b", "\r", "\n", "\x00", "x\n\n"}

func TestAppendBodyRejectsInvalidEvent(t *testing.T) {
	for _, ev := range invalidFields {
		dst := []byte("keep")
		got, err := AppendBody(dst, ev, []byte("x"))
		if !errors.Is(err, ErrInvalidField) {
			t.Errorf("AppendBody(event %q) error = %v, want ErrInvalidField", ev, err)
		}
		if string(got) != "keep" {
			t.Errorf("AppendBody(event %q) appended %q, want nothing", ev, got)
		}
	}
}

func TestValidField(t *testing.T) {
	for _, s := range []string{"", "a", "a b", " x", ":x", "héllo", "\u2028", "\uFEFF", "\t"} {
		if !ValidField(s) {
			t.Errorf("ValidField(%q) = false, want true", s)
		}
	}
	for _, s := range invalidFields {
		if ValidField(s) {
			t.Errorf("ValidField(%q) = true, want false", s)
		}
	}
}

// A payload of many CRs and no LF must be split at every CR; this is the case in which a
// naive "find the next CR or LF" would rescan the whole rest of the payload for each line.
func TestAppendBodyManyCRs(t *testing.T) {
	const n = 1000
	data := make([]byte, 0, 2*n)
	want := make([]byte, 0, 8*n)
	for range n {
		data = append(data, 'x', '\r')
		want = append(want, "data: x\n"...)
	}
	want = append(want, "data: \n"...)
	got, _ := AppendBody(nil, "", data)
	if string(got) != string(want) {
		t.Fatalf("many CRs: got %d bytes, want %d", len(got), len(want))
	}
}
