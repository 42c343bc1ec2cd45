package ssewire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A detached stream goes on after its handler returned: frames, flushes and heartbeats go
// straight to the connection, in the same bytes, and closing the Writer ends the body.
func TestDetachedStreamOverRealConnection(t *testing.T) {
	ctx := testContext(t)
	gone := make(chan struct{})
	detached := make(chan *Writer, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := NewWriter(rw, Options{Detachable: true})
		defer w.Close() // as the generated handler does: must not end the detached stream
		if err := w.Open(); err != nil {
			t.Errorf("Open: %v", err)
			return
		}
		d, ok := w.Detach(func() { close(gone) })
		if !ok {
			t.Error("Detach refused an HTTP/1.1 connection")
			return
		}
		if err := w.WriteFrame("x", nil); err != ErrDetached {
			t.Errorf("WriteFrame after Detach = %v, want ErrDetached", err)
		}
		if err := w.Flush(); err != ErrDetached {
			t.Errorf("Flush after Detach = %v, want ErrDetached", err)
		}
		detached <- d
	}))
	t.Cleanup(srv.Close)

	resp := get(t, ctx, srv.URL)
	if resp.TransferEncoding != nil || !resp.Close {
		t.Errorf("transfer encoding %v, close %v: want an unframed body ended by closing", resp.TransferEncoding, resp.Close)
	}
	d := <-detached
	if err := d.WriteFrame("1-0", benchBody); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFrame("2-0", benchBody); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := d.Heartbeat(); err != nil {
		t.Fatal(err)
	}
	d.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := ": ok\n\n" + "id: 1-0\n" + string(benchBody) + "\n" + "id: 2-0\n" + string(benchBody) + "\n" + ":\n\n"
	if string(body) != want {
		t.Fatalf("body:\n%q\nwant:\n%q", body, want)
	}
}

// The client leaving is noticed without any write.
func TestDetachedStreamNoticesTheClientLeaving(t *testing.T) {
	ctx := testContext(t)
	gone := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := NewWriter(rw, Options{Detachable: true})
		defer w.Close()
		if err := w.Open(); err != nil {
			t.Errorf("Open: %v", err)
			return
		}
		if _, ok := w.Detach(func() { close(gone) }); !ok {
			t.Error("Detach refused an HTTP/1.1 connection")
		}
	}))
	t.Cleanup(srv.Close)
	resp := get(t, ctx, srv.URL)
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	if !strings.HasPrefix(line, ": ok") {
		t.Fatalf("first line %q", line)
	}
	resp.Body.Close()
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("gone was not called after the client left")
	}
}

// Without Options.Detachable nothing changes: no Detach, the usual chunked response.
func TestNoDetachUnlessDetachable(t *testing.T) {
	rec := httptest.NewRecorder()
	w := NewWriter(rec, Options{})
	defer w.Close()
	if err := w.Open(); err != nil {
		t.Fatal(err)
	}
	if _, ok := w.Detach(func() {}); ok {
		t.Fatal("detached without Options.Detachable")
	}
	if te := rec.Header().Get("Transfer-Encoding"); te != "" {
		t.Fatalf("Transfer-Encoding %q set without Options.Detachable", te)
	}
}

// detachedPair is a detached Writer on a real connection whose client never reads.
func detachedPair(t *testing.T, opts Options) *Writer {
	t.Helper()
	detached := make(chan *Writer, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := NewWriter(rw, opts)
		if err := w.Open(); err != nil {
			t.Errorf("Open: %v", err)
			return
		}
		d, ok := w.Detach(func() {})
		if !ok {
			t.Error("Detach refused an HTTP/1.1 connection")
			return
		}
		detached <- d
	}))
	t.Cleanup(srv.Close)
	resp := get(t, testContext(t), srv.URL) // never read from
	t.Cleanup(func() { resp.Body.Close() })
	d := <-detached
	t.Cleanup(d.Close)
	return d
}

// fillUntilFails writes until a write fails, as a stream would to a client that stopped
// reading; the socket buffers fill first.
func fillUntilFails(t *testing.T, w *Writer) error {
	t.Helper()
	body, _ := AppendBody(nil, "", bytes.Repeat([]byte("x"), 16<<10))
	for i := 0; i < 1<<16; i++ {
		if err := w.WriteFrame("1", body); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	t.Fatal("a client that never reads took 1 GiB")
	return nil
}

// A client that stops reading fails the stream's write within WriteTimeout instead of
// holding it forever.
func TestWriteTimeoutEndsAStuckWrite(t *testing.T) {
	w := detachedPair(t, Options{Detachable: true, WriteTimeout: 200 * time.Millisecond})
	var ne net.Error
	if err := fillUntilFails(t, w); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("write error = %v, want a timeout", err)
	}
}

// EndBy, from another goroutine, gets a stream's loop back from a stuck write even without
// a WriteTimeout.
func TestEndByEndsAStuckWrite(t *testing.T) {
	w := detachedPair(t, Options{Detachable: true})
	result := make(chan error, 1)
	go func() { result <- fillUntilFails(t, w) }()
	// The writer blocks once the socket buffers are full; EndBy must end that wait.
	time.AfterFunc(300*time.Millisecond, func() { w.EndBy(time.Now()) })
	select {
	case err := <-result:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("write error = %v, want a timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("EndBy did not end the stuck write")
	}
}
