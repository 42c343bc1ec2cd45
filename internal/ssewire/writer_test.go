package ssewire

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// recordingWriter is a ResponseWriter that keeps every Write call separately, so tests can
// check both the bytes and that a frame went out in exactly one Write.
type recordingWriter struct {
	header  http.Header
	status  int
	writes  [][]byte
	flushes int
	err     error // returned by Write when set
}

func newRecordingWriter() *recordingWriter { return &recordingWriter{header: http.Header{}} }

func (r *recordingWriter) Header() http.Header { return r.header }
func (r *recordingWriter) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recordingWriter) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.err != nil {
		return 0, r.err
	}
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}
func (r *recordingWriter) Flush() { r.flushes++ }

func (r *recordingWriter) body() string { return string(bytes.Join(r.writes, nil)) }

// openRecorder returns an opened Writer on a recordingWriter whose writes so far (the
// preamble) are cleared.
// writeEvent renders event and data with AppendBody and writes the frame, as a stream that
// sends an event of its own does; invalid ids and event names write nothing.
func writeEvent(w *Writer, id, event string, data []byte) error {
	if !ValidField(id) {
		return errInvalidID
	}
	body, err := AppendBody(nil, event, data)
	if err != nil {
		return err
	}
	return w.WriteFrame(id, body)
}

func openRecorder(t *testing.T, opts Options) (*Writer, *recordingWriter) {
	t.Helper()
	rec := newRecordingWriter()
	w := NewWriter(rec, opts)
	t.Cleanup(w.Close)
	if err := w.Open(); err != nil {
		t.Fatalf("Open: %v", err)
	}
	rec.writes = nil
	rec.flushes = 0
	return w, rec
}

func TestWriteEventBytes(t *testing.T) {
	for _, tc := range bodyCases {
		for _, id := range []string{"", "42"} {
			t.Run(tc.name+"/id="+id, func(t *testing.T) {
				w, rec := openRecorder(t, Options{})
				if err := writeEvent(w, id, tc.event, []byte(tc.data)); err != nil {
					t.Fatalf("WriteEvent: %v", err)
				}
				want := tc.want + "\n"
				if id != "" {
					want = "id: " + id + "\n" + want
				}
				if len(rec.writes) != 1 {
					t.Fatalf("WriteEvent made %d Write calls, want 1", len(rec.writes))
				}
				if got := rec.body(); got != want {
					t.Fatalf("WriteEvent(%q, %q, %q)\n got %q\nwant %q", id, tc.event, tc.data, got, want)
				}
				if rec.flushes != 0 {
					t.Fatalf("WriteEvent flushed %d times; flushing is the caller's job", rec.flushes)
				}
			})
		}
	}
}

func TestWriteFrameBytes(t *testing.T) {
	for _, tc := range bodyCases {
		t.Run(tc.name, func(t *testing.T) {
			body, err := AppendBody(nil, tc.event, []byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			w, rec := openRecorder(t, Options{})
			if err := w.WriteFrame("7", body); err != nil {
				t.Fatalf("WriteFrame: %v", err)
			}
			if err := w.WriteFrame("", body); err != nil {
				t.Fatalf("WriteFrame: %v", err)
			}
			if len(rec.writes) != 2 {
				t.Fatalf("2 frames made %d Write calls, want 2", len(rec.writes))
			}
			if got, want := string(rec.writes[0]), "id: 7\n"+tc.want+"\n"; got != want {
				t.Fatalf("WriteFrame with id\n got %q\nwant %q", got, want)
			}
			if got, want := string(rec.writes[1]), tc.want+"\n"; got != want {
				t.Fatalf("WriteFrame without id\n got %q\nwant %q", got, want)
			}
			if rec.flushes != 0 {
				t.Fatalf("WriteFrame flushed; flushing is the caller's job")
			}
		})
	}
}

func TestInvalidFieldsWriteNothing(t *testing.T) {
	w, rec := openRecorder(t, Options{})
	body, _ := AppendBody(nil, "", []byte("x"))
	for _, bad := range invalidFields {
		checks := map[string]error{
			"WriteFrame id":    w.WriteFrame(bad, body),
			"WriteEvent id":    writeEvent(w, bad, "", []byte("x")),
			"WriteEvent event": writeEvent(w, "1", bad, []byte("x")),
			"Comment":          w.Comment(bad),
		}
		for what, err := range checks {
			if !errors.Is(err, ErrInvalidField) {
				t.Errorf("%s %q: error = %v, want ErrInvalidField", what, bad, err)
			}
		}
	}
	if len(rec.writes) != 0 || rec.flushes != 0 {
		t.Fatalf("rejected fields still wrote %q (%d flushes)", rec.body(), rec.flushes)
	}
}

func TestWriteFrameRejectsUnterminatedBody(t *testing.T) {
	w, rec := openRecorder(t, Options{})
	if err := w.WriteFrame("1", []byte("data: x")); err == nil {
		t.Fatal("WriteFrame accepted a body without its final LF")
	}
	if len(rec.writes) != 0 {
		t.Fatalf("rejected body still wrote %q", rec.body())
	}
}

func TestComment(t *testing.T) {
	w, rec := openRecorder(t, Options{})
	if err := w.Comment("keep-alive"); err != nil {
		t.Fatal(err)
	}
	if err := w.Heartbeat(); err != nil {
		t.Fatal(err)
	}
	if got, want := rec.body(), ": keep-alive\n\n:\n\n"; got != want {
		t.Fatalf("comments: got %q, want %q", got, want)
	}
	if rec.flushes != 2 {
		t.Fatalf("comments flushed %d times, want 2", rec.flushes)
	}
}

func TestOpenHeadersAndPreamble(t *testing.T) {
	rec := httptest.NewRecorder()
	// Values a handler or middleware may have set before deciding to stream.
	rec.Header().Set("Content-Type", "application/json")
	rec.Header().Add("Cache-Control", "max-age=60")
	rec.Header().Add("Cache-Control", "public")
	rec.Header().Set("Content-Length", "12")

	w := NewWriter(rec, Options{Retry: 3 * time.Second})
	defer w.Close()
	if w.Opened() {
		t.Fatal("Opened() before Open")
	}
	if err := w.Open(); err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !w.Opened() {
		t.Fatal("Opened() false after Open")
	}
	if rec.Code != http.StatusOK {
		t.Errorf("status %d, want 200", rec.Code)
	}
	for name, want := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
	} {
		if got := rec.Header().Values(name); len(got) != 1 || got[0] != want {
			t.Errorf("header %s = %q, want exactly [%q]", name, got, want)
		}
	}
	if got := rec.Header().Values("Content-Length"); len(got) != 0 {
		t.Errorf("Content-Length %q still set", got)
	}
	if got, want := rec.Body.String(), "retry: 3000\n: ok\n\n"; got != want {
		t.Errorf("preamble %q, want %q", got, want)
	}
	if !rec.Flushed {
		t.Error("Open did not flush")
	}

	// Open again is a no-op.
	if err := w.Open(); err != nil {
		t.Fatalf("second Open: %v", err)
	}
	if got, want := rec.Body.String(), "retry: 3000\n: ok\n\n"; got != want {
		t.Errorf("second Open wrote: body is now %q", got)
	}
}

func TestOpenRetry(t *testing.T) {
	for _, tc := range []struct {
		retry time.Duration
		want  string
	}{
		{0, ": ok\n\n"},
		{1500 * time.Millisecond, "retry: 1500\n: ok\n\n"},
		{1500 * time.Microsecond, "retry: 2\n: ok\n\n"}, // rounded up
		{time.Nanosecond, "retry: 1\n: ok\n\n"},         // never "retry: 0"
	} {
		rec := newRecordingWriter()
		w := NewWriter(rec, Options{Retry: tc.retry})
		if err := w.Open(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		if got := rec.body(); got != tc.want {
			t.Errorf("Retry %v: preamble %q, want %q", tc.retry, got, tc.want)
		}
	}
}

// Before Open nothing at all reaches the ResponseWriter, so the handler can still send an
// ordinary error response.
func TestNothingWrittenBeforeOpen(t *testing.T) {
	rec := newRecordingWriter()
	w := NewWriter(rec, Options{})
	defer w.Close()
	body, _ := AppendBody(nil, "", []byte("x"))
	for what, err := range map[string]error{
		"WriteFrame": w.WriteFrame("1", body),
		"WriteEvent": writeEvent(w, "1", "", []byte("x")),
		"Comment":    w.Comment("x"),
		"Heartbeat":  w.Heartbeat(),
		"Flush":      w.Flush(),
	} {
		if !errors.Is(err, ErrNotOpen) {
			t.Errorf("%s before Open: error = %v, want ErrNotOpen", what, err)
		}
	}
	if rec.status != 0 || len(rec.writes) != 0 || rec.flushes != 0 || len(rec.header) != 0 {
		t.Fatalf("wrote before Open: status %d, body %q, %d flushes, header %v",
			rec.status, rec.body(), rec.flushes, rec.header)
	}
}

func TestClose(t *testing.T) {
	w := NewWriter(newRecordingWriter(), Options{})
	w.Close() // before Open
	w.Close()
	if err := w.Open(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w.Close()
}

func TestWriteErrorIsReturned(t *testing.T) {
	w, rec := openRecorder(t, Options{})
	boom := errors.New("connection reset")
	rec.err = boom
	body, _ := AppendBody(nil, "", []byte("x"))
	if err := w.WriteFrame("1", body); !errors.Is(err, boom) {
		t.Errorf("WriteFrame error = %v, want %v", err, boom)
	}
	if err := writeEvent(w, "1", "", []byte("x")); !errors.Is(err, boom) {
		t.Errorf("WriteEvent error = %v, want %v", err, boom)
	}
	if err := w.Comment("x"); !errors.Is(err, boom) {
		t.Errorf("Comment error = %v, want %v", err, boom)
	}
}

// unwrapOnly hides its ResponseWriter's Flush method, as middleware wrappers often do, and
// offers only Unwrap; http.ResponseController must find the flusher through it.
type unwrapOnly struct{ rw http.ResponseWriter }

func (u unwrapOnly) Header() http.Header         { return u.rw.Header() }
func (u unwrapOnly) Write(p []byte) (int, error) { return u.rw.Write(p) }
func (u unwrapOnly) WriteHeader(code int)        { u.rw.WriteHeader(code) }
func (u unwrapOnly) Unwrap() http.ResponseWriter { return u.rw }

// noFlush can neither flush nor unwrap.
type noFlush struct{ rw http.ResponseWriter }

func (n noFlush) Header() http.Header         { return n.rw.Header() }
func (n noFlush) Write(p []byte) (int, error) { return n.rw.Write(p) }
func (n noFlush) WriteHeader(code int)        { n.rw.WriteHeader(code) }

func TestFlushThroughUnwrap(t *testing.T) {
	rec := httptest.NewRecorder()
	w := NewWriter(unwrapOnly{rec}, Options{})
	defer w.Close()
	if err := w.Open(); err != nil {
		t.Fatalf("Open through an Unwrap-only wrapper: %v", err)
	}
	if !rec.Flushed {
		t.Fatal("Open did not flush through Unwrap")
	}

	w2 := NewWriter(noFlush{httptest.NewRecorder()}, Options{})
	defer w2.Close()
	if err := w2.Open(); !errors.Is(err, http.ErrNotSupported) {
		t.Fatalf("Open on an unflushable writer: error = %v, want http.ErrNotSupported", err)
	}
}

// testContext is the bound on every test that talks over a real connection: the test
// fails when it expires instead of hanging.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// get starts a GET to srv and returns the response, failing the test on error.
func get(t *testing.T, ctx context.Context, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// The headers and the preamble must reach a real client while the handler is still
// waiting for its first event: that is what the flush in Open is for.
func TestOpenFlushesOverRealConnection(t *testing.T) {
	ctx := testContext(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := NewWriter(rw, Options{Retry: 2 * time.Second})
		defer w.Close()
		if err := w.Open(); err != nil {
			t.Errorf("Open: %v", err)
			return
		}
		select { // no event is written until the client has read the preamble
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close) // registered before get's cleanup, so it runs after the body is closed
	defer close(release)

	resp := get(t, ctx, srv.URL)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	want := "retry: 2000\n: ok\n\n"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(resp.Body, got); err != nil {
		t.Fatalf("reading the preamble: %v", err)
	}
	if string(got) != want {
		t.Fatalf("preamble %q, want %q", got, want)
	}
}

// Writing to a client that went away returns an error instead of panicking or blocking.
func TestWriteAfterClientGone(t *testing.T) {
	ctx := testContext(t)
	opened := make(chan struct{})
	clientGone := make(chan struct{})
	result := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := NewWriter(rw, Options{})
		defer w.Close()
		if err := w.Open(); err != nil {
			result <- err
			return
		}
		close(opened)
		select {
		case <-clientGone:
		case <-ctx.Done():
		}
		data := bytes.Repeat([]byte("x"), 4096)
		for ctx.Err() == nil {
			if err := writeEvent(w, "1", "", data); err != nil {
				result <- err
				return
			}
			if err := w.Flush(); err != nil {
				result <- err
				return
			}
		}
		result <- nil
	}))
	t.Cleanup(srv.Close) // registered before get's cleanup, so it runs after the body is closed

	reqCtx, cancel := context.WithCancel(ctx)
	resp := get(t, reqCtx, srv.URL)
	select {
	case <-opened:
	case <-ctx.Done():
		t.Fatal("handler never opened the stream")
	}
	cancel()
	resp.Body.Close()
	close(clientGone)
	if err := <-result; err == nil {
		t.Fatal("writes kept succeeding after the client went away")
	}
}

// discardWriter is the cheapest possible ResponseWriter, for allocation counts and
// benchmarks.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Flush()                      {}

func openDiscard(tb testing.TB) *Writer {
	w := NewWriter(&discardWriter{h: http.Header{}}, Options{})
	tb.Cleanup(w.Close)
	if err := w.Open(); err != nil {
		tb.Fatal(err)
	}
	return w
}

var (
	benchData = []byte(`{"topic":"orders/42","status":"paid","amount":1999,"note":"line one\nline two"}`)
	benchBody = func() []byte { b, _ := AppendBody(nil, "order", benchData); return b }()
)

func TestSteadyStateAllocations(t *testing.T) {
	w := openDiscard(t)
	if n := testing.AllocsPerRun(1000, func() {
		if err := w.WriteFrame("1234567", benchBody); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("WriteFrame: %v allocations per call, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		if err := w.WriteFrame("1234567", benchBody); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("WriteFrame+Flush: %v allocations per call, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { _ = w.WriteFrame("a\nb", benchBody) }); n != 0 {
		t.Errorf("rejecting an id: %v allocations per call, want 0", n)
	}
}

func BenchmarkWriteFrame(b *testing.B) {
	w := openDiscard(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if err := w.WriteFrame("1234567", benchBody); err != nil {
			b.Fatal(err)
		}
	}
}

// Start opens like Open, but what it writes waits for the next Flush, with what follows it.
func TestStartLeavesTheOpeningForTheNextFlush(t *testing.T) {
	rec := newRecordingWriter()
	w := NewWriter(rec, Options{Retry: time.Second})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	if rec.flushes != 0 || !w.Opened() || rec.header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("after Start: %d flushes, opened %v, headers %v", rec.flushes, w.Opened(), rec.header)
	}
	if err := w.Comment("position"); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for _, b := range rec.writes {
		got = append(got, b...)
	}
	if want := "retry: 1000\n: ok\n\n: position\n\n"; string(got) != want || rec.flushes != 1 {
		t.Fatalf("got %q with %d flushes, want %q with one", got, rec.flushes, want)
	}
}
