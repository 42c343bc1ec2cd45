package ssewire

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sseapi/sse-api/internal/hangup"
)

// maxKeptBuffer bounds the frame buffer a Writer keeps between writes. There is one Writer
// per subscriber, so keeping the largest frame ever seen would cost that much memory per
// connection; frames larger than this are built in a buffer that is then let go.
const maxKeptBuffer = 32 << 10

// ErrNotOpen is returned by the writing methods before Open: until then nothing may be
// written, so that the caller can still answer with an ordinary HTTP error.
var ErrNotOpen = errors.New("ssewire: stream not open")

// ErrDetached is returned by a Writer whose stream Detach handed to another Writer.
var ErrDetached = errors.New("ssewire: stream detached: write through the Writer Detach returned")

// errUnterminatedBody guards WriteFrame against a body that was not made by AppendBody:
// without its final LF the frame's blank line would not be blank, and the event would
// merge with the next one.
var errUnterminatedBody = errors.New("ssewire: body does not end in LF (render it with AppendBody)")

// Options configure a Writer.
type Options struct {
	Retry time.Duration // sent as "retry: <ms>\n" on Open; 0 means do not send
	// WriteTimeout bounds each write: a client that stops reading fails the write (and so
	// ends its stream) within it, instead of holding its stream's goroutine forever.
	// 0 means no bound.
	WriteTimeout time.Duration
	// Detachable prepares the response for Detach: Open asks net/http for a body that is
	// not chunked and ends when the connection closes (Transfer-Encoding: identity, which
	// net/http turns into "Connection: close" on HTTP/1.1 and drops on HTTP/2), the setup
	// the Server-Sent Events specification itself recommends.
	Detachable bool
}

// Writer writes one Server-Sent Events stream to an http.ResponseWriter, or, once detached,
// straight to the connection (see Detach).
//
// Writer is not safe for concurrent use: one goroutine (the stream's loop) owns it.
type Writer struct {
	rw   http.ResponseWriter
	rc   *http.ResponseController
	opts Options

	// conn is the connection of a Writer made by Detach. Frames then gather in buf until
	// Flush writes them in one system call.
	conn       net.Conn
	stopWatch  func() // ends the watch for the client's hang-up (see Detach)
	handedOver bool   // Detach gave the stream to another Writer

	// buf holds the frame being written. It is kept between calls so that steady-state
	// writes do not allocate, and each frame goes out in a single Write.
	buf []byte

	opened bool
	closed bool

	// deadline is the write deadline last set (see WriteTimeout): it is moved on only once
	// a tenth of WriteTimeout has passed, so that not every flush pays for a timer update.
	deadline time.Time
	endBy    atomic.Int64 // unix nanoseconds after which no write may go on; 0: none (EndBy)
	endSet   bool         // endBy was applied as the write deadline
}

// NewWriter returns a Writer for w. It writes nothing until Open.
func NewWriter(w http.ResponseWriter, opts Options) *Writer {
	return &Writer{rw: w, rc: http.NewResponseController(w), opts: opts}
}

// Open sends status 200 and the headers Content-Type: text/event-stream,
// Cache-Control: no-cache and X-Accel-Buffering: no (replacing values already set, and
// removing any Content-Length), then "retry: N\n" if Options.Retry > 0 and the comment
// ": ok\n\n", and flushes at once so that the headers leave now rather than with the first
// event. Calling Open again does nothing.
//
// X-Accel-Buffering: no stops nginx from holding the stream back. The status must be 200:
// clients give up for good on any other status or content type.
func (w *Writer) Open() error {
	if w.opened {
		return nil
	}
	if err := w.Start(); err != nil {
		return err
	}
	return w.Flush()
}

// Start is Open without the flush: the headers leave with the next Flush, together with
// what is written meanwhile, in one system call rather than two.
func (w *Writer) Start() error {
	if w.opened {
		return nil
	}
	w.opened = true
	h := w.rw.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
	if w.opts.Detachable {
		h.Set("Transfer-Encoding", "identity")
	}
	w.rw.WriteHeader(http.StatusOK)

	b := w.buf[:0]
	if w.opts.Retry > 0 {
		b = append(b, "retry: "...)
		b = strconv.AppendInt(b, retryMillis(w.opts.Retry), 10)
		b = append(b, '\n')
	}
	b = append(b, ": ok\n\n"...)
	return w.write(b)
}

// retryMillis rounds d up to whole milliseconds: a Retry below 1ms must not become
// "retry: 0", which tells clients to reconnect with no delay at all.
func retryMillis(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// Opened reports whether Open was called, that is whether the response is committed to
// being an event stream.
func (w *Writer) Opened() bool { return w.opened }

// Retry tells the client to wait d before it reconnects, from now on, without flushing:
// "retry: <ms>\n\n" (a block that dispatches nothing).
func (w *Writer) Retry(d time.Duration) error {
	if !w.opened {
		return ErrNotOpen
	}
	b := append(w.pending(), "retry: "...)
	b = strconv.AppendInt(b, retryMillis(d), 10)
	b = append(b, "\n\n"...)
	return w.write(b)
}

// Heartbeat writes the comment ":\n\n" and flushes. Clients ignore it; proxies see traffic.
func (w *Writer) Heartbeat() error { return w.Comment("") }

// Comment writes the comment ": <text>\n\n" (":\n\n" when text is "") and flushes.
// Text containing CR, LF or NUL is refused with ErrInvalidField and nothing is written.
//
// The blank line ends the block. It dispatches nothing, since frames are always written
// whole, but it keeps every write a complete block for readers that split on blank lines.
func (w *Writer) Comment(text string) error {
	if !ValidField(text) {
		return errInvalidComment
	}
	if !w.opened {
		return ErrNotOpen
	}
	b := append(w.pending(), ':')
	if text != "" {
		b = append(b, ' ')
		b = append(b, text...)
	}
	b = append(b, "\n\n"...)
	if err := w.write(b); err != nil {
		return err
	}
	return w.Flush()
}

// WriteFrame writes "id: <id>\n" (left out when id is "") followed by body, as rendered by
// AppendBody, and the blank line that makes clients dispatch the event. It does not flush:
// the caller writes a batch of queued events and then calls Flush once.
//
// An id containing CR, LF or NUL is refused with ErrInvalidField and nothing is written.
// Since an omitted id line leaves the client's last event id as it was, "" cannot be used
// to reset it.
//
// The frame goes out in one Write call built in a reused buffer: no allocation per call
// once the buffer has grown to the frame size.
func (w *Writer) WriteFrame(id string, body []byte) error {
	if !ValidField(id) {
		return errInvalidID
	}
	if len(body) > 0 && body[len(body)-1] != '\n' {
		return errUnterminatedBody
	}
	if !w.opened {
		return ErrNotOpen
	}
	b := appendID(w.pending(), id)
	b = append(b, body...)
	b = append(b, '\n')
	return w.write(b)
}

// pending is where the next frame is appended: after the frames a detached Writer has not
// flushed yet, or at the start of the buffer.
func (w *Writer) pending() []byte {
	if w.conn != nil {
		return w.buf
	}
	return w.buf[:0]
}

func appendID(dst []byte, id string) []byte {
	if id == "" {
		return dst
	}
	dst = append(dst, "id: "...)
	dst = append(dst, id...)
	return append(dst, '\n')
}

// write sends b in one Write and keeps it as the buffer for the next frame unless it grew
// past maxKeptBuffer. The error of a write to a client that went away is returned as is.
//
// A detached Writer keeps b, which is what was pending plus the new frame, for Flush to
// send in one system call; only past maxKeptBuffer does it write at once.
func (w *Writer) write(b []byte) error {
	if w.handedOver {
		return ErrDetached
	}
	if w.conn != nil {
		w.buf = b
		if len(b) > maxKeptBuffer {
			return w.flushConn()
		}
		return nil
	}
	w.armDeadline()
	_, err := w.rw.Write(b)
	if cap(b) > maxKeptBuffer {
		w.buf = nil
	} else {
		w.buf = b[:0]
	}
	return err
}

// Flush pushes buffered bytes to the client. It goes through http.ResponseController,
// which uses FlushError or http.Flusher and follows Unwrap through middleware that wraps
// the ResponseWriter. When nothing in the chain can flush, the error wraps
// http.ErrNotSupported: events would then sit in buffers, which is worth knowing at Open.
func (w *Writer) Flush() error {
	if !w.opened {
		return ErrNotOpen
	}
	if w.handedOver {
		return ErrDetached
	}
	if w.conn != nil {
		return w.flushConn()
	}
	w.armDeadline()
	return w.rc.Flush()
}

// flushConn writes what a detached Writer gathered, in one system call.
func (w *Writer) flushConn() error {
	if len(w.buf) == 0 {
		return nil
	}
	w.armDeadline()
	_, err := w.conn.Write(w.buf)
	if cap(w.buf) > maxKeptBuffer {
		w.buf = nil
	} else {
		w.buf = w.buf[:0]
	}
	return err
}

// Detach takes the stream's connection over from net/http, so that the handler can return
// while the stream goes on, in a goroutine of the caller's. A stream that lives in its
// handler keeps that goroutine's stack (deep, under go-zero's middleware chain), net/http's
// read and write buffers and the request's objects for as long as it is open: most of what
// an idle stream costs. A detached stream keeps its connection and this Writer.
//
// Call it after Open, once what must go through the handler has been flushed. It returns
// the Writer to use from then on and true. Close that Writer when the stream ends: closing
// the connection ends the body. The receiver's writes then fail with ErrDetached and its
// Close does nothing more. gone is called once, from a goroutine of Detach's, when the
// client closes the connection or the connection fails, not after Close.
//
// Detach returns nil and false, and changes nothing, unless Options.Detachable was set and
// the connection can be taken over: HTTP/2 streams, for one, cannot, and go on in the
// handler as before.
func (w *Writer) Detach(gone func()) (*Writer, bool) {
	if !w.opts.Detachable || !w.opened || w.closed || w.conn != nil || w.handedOver {
		return nil, false
	}
	conn, brw, err := w.rc.Hijack()
	if err != nil {
		return nil, false
	}
	// What the client sent after its request (an EventSource sends nothing) is dropped with
	// net/http's buffers; unflushed output there is none, Open and every write flushed.
	_ = brw
	_ = conn.SetDeadline(time.Time{})
	d := &Writer{conn: conn, opts: w.opts, opened: true}
	if cap(w.buf) <= maxKeptBuffer {
		d.buf = w.buf[:0]
	}
	w.Close()
	w.buf = nil
	w.handedOver = true
	d.stopWatch = hangup.Watch(conn, gone)
	return d, true
}

// Close may be called more than once, and before Open. It does not end the response: that
// happens when the handler returns. A Writer made by Detach closes its connection, which
// ends the response.
func (w *Writer) Close() {
	w.closed = true
	if w.conn != nil {
		if w.stopWatch != nil {
			w.stopWatch() // before the descriptor can go to another connection
		}
		_ = w.conn.Close()
	}
}

// armDeadline moves the write deadline WriteTimeout ahead, unless it was moved less than a
// tenth of WriteTimeout ago; once EndBy was called, its time holds instead.
func (w *Writer) armDeadline() {
	if end := w.endBy.Load(); end != 0 {
		if !w.endSet {
			w.endSet = true
			w.setWriteDeadline(time.Unix(0, end))
		}
		return
	}
	d := w.opts.WriteTimeout
	if d <= 0 {
		return
	}
	now := time.Now()
	if w.deadline.Sub(now) > d-d/10 {
		return
	}
	w.deadline = now.Add(d)
	w.setWriteDeadline(w.deadline)
	if end := w.endBy.Load(); end != 0 && w.conn != nil {
		w.setWriteDeadline(time.Unix(0, end)) // EndBy ran meanwhile: its time holds
	}
}

// EndBy makes writes fail once t has passed: a stream that must end gets its loop back from
// a client that stopped reading, while one that reads still takes what is written until
// then. Unlike the other methods it may be called from any goroutine. On a detached
// connection it also ends a write under way; in a handler (HTTP/2), whose ResponseWriter
// only its own goroutine may touch, it applies from the next write on.
func (w *Writer) EndBy(t time.Time) {
	w.endBy.Store(t.UnixNano())
	if w.conn != nil {
		_ = w.conn.SetWriteDeadline(t)
	}
}

func (w *Writer) setWriteDeadline(t time.Time) {
	if w.conn != nil {
		_ = w.conn.SetWriteDeadline(t)
	} else {
		_ = w.rc.SetWriteDeadline(t)
	}
}
