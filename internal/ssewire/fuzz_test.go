package ssewire

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzWriteEvent checks the writer against two readers, go-sse and specParse (the WHATWG
// algorithm): for any id, event and data, AppendBody and WriteFrame either refuse the id or event with
// ErrInvalidField and writes nothing, or writes a frame that both read back as exactly one
// event with the same id, the same type ("message" when event is "") and the data with
// its CRLF and CR turned into LF.
//
// There is no exception for empty data: it is written as "data: \n" and both readers
// dispatch it as an event with data "", as the spec says. The two readers agree on
// everything the writer produces, including a BOM at the start of data, event or id (go-sse
// strips a BOM only at the start of its first block, and that block is Open's preamble)
// and invalid UTF-8 (both compare bytes; a browser would show U+FFFD, see specParse).
// Where go-sse and the spec do differ is listed in TestGoSSEDeviations.
func FuzzWriteEvent(f *testing.F) {
	for _, s := range []struct{ event, id, data string }{
		{"", "", ""},
		{"", "1", "hello"},
		{"update", "42", "a\nb"},
		{"", "", "a\r\nb\rc\n"},
		{"", "", "\r"},
		{"", "", "\n\r"},
		{"", "", "\r\n\r\n"},
		{"", "", " leading space"},
		{"", "", ":leading colon"},
		{"", "", "line\u2028separator"},
		{"", "", "a\x00b"},
		{"", "", "\xEF\xBB\xBFbom at the start of data"},
		{"\xEF\xBB\xBF", "\xEF\xBB\xBF", "\xEF\xBB\xBF"},
		{"", "", "\xff\xfe invalid UTF-8 \xc3"},
		{"", "", "data: injected\n\nid: 9\rretry: 1\r\r"},
		{"message", " ", "  "},
		{" spaced", ":", ":"},
		{"e\r", "", "x"},
		{"", "i\n", "x"},
		{"", "a\x00", "x"},
		{"e\x00", "", "x"},
	} {
		f.Add(s.event, s.id, []byte(s.data))
	}
	f.Fuzz(func(t *testing.T, event, id string, data []byte) {
		rec := newRecordingWriter()
		w := NewWriter(rec, Options{Retry: 1500})
		defer w.Close()
		if err := w.Open(); err != nil {
			t.Fatal(err)
		}
		preamble := rec.body()

		err := writeEvent(w, id, event, data)
		if !ValidField(id) || !ValidField(event) {
			if !errors.Is(err, ErrInvalidField) {
				t.Fatalf("writeEvent(%q, %q) = %v, want ErrInvalidField", id, event, err)
			}
			if rec.body() != preamble {
				t.Fatalf("a rejected event wrote %q", rec.body()[len(preamble):])
			}
			return
		}
		if err != nil {
			t.Fatalf("writeEvent: %v", err)
		}
		stream := rec.body()

		typ := event
		if typ == "" {
			typ = "message"
		}
		want := []specEvent{{LastEventID: id, Type: typ, Data: normalizeBreaks(string(data))}}
		spec, retry := specParse(stream)
		if !equalEvents(spec, want) {
			t.Fatalf("spec reader: stream %q\n got %q\nwant %q", stream, spec, want)
		}
		if retry != 1 { // Options.Retry 1500ns rounds up to 1ms
			t.Fatalf("spec reader: retry %d, want 1", retry)
		}
		if got := goSSEParse(t, bytes.NewReader([]byte(stream)), len(stream)+64); !equalEvents(got, want) {
			t.Fatalf("go-sse: stream %q\n got %q\nwant %q", stream, got, want)
		}
	})
}
